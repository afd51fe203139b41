"""MultiChannel's choice of server and its retry rule, with stand-in channels (no sockets).
The real thing, against two authd instances on a Galera cluster, is scripts/test-galera."""

import pytest

from authrpc import MultiChannel, RpcError, StatusCode, parse_addresses


class FakeChannel:
    def __init__(self, name, failures=()):
        self.name = name
        self.failures = list(failures)  # errors to raise, one per call, before answering
        self.calls = []

    def unary(self, method, request, metadata=None, timeout=None):
        self.calls.append(method)
        if self.failures:
            raise self.failures.pop(0)
        return self.name.encode()

    def close(self):
        pass


def multi(*fakes, **kwargs):
    m = MultiChannel([f"127.0.0.1:{7000 + i}" for i in range(len(fakes))], **kwargs)
    m._channels = list(fakes)
    return m


def test_addresses_are_parsed():
    assert parse_addresses("a:1, [::1]:2") == [("a", 1), ("::1", 2)]
    assert parse_addresses([("h", 3), "b:4"]) == [("h", 3), ("b", 4)]
    for bad in ("nohost", "a:b", ""):
        with pytest.raises(ValueError):
            parse_addresses(bad)


def test_calls_are_spread_round_robin():
    a, b = FakeChannel("A"), FakeChannel("B")
    m = multi(a, b)
    answers = [m.unary("auth.v1.Auth/Login", b"") for _ in range(6)]
    assert sorted(answers) == [b"A"] * 3 + [b"B"] * 3


def test_a_call_never_processed_moves_to_the_next_server_whatever_the_method():
    refused = RpcError(StatusCode.UNAVAILABLE, "cannot connect", not_processed=True)
    a, b = FakeChannel("A", [refused]), FakeChannel("B")
    m = multi(a, b)
    m._next = iter(range(0, 100))  # start at A
    assert m.unary("auth.v1.Auth/Register", b"") == b"B"
    assert m.retries == 1
    # A is now held back: the next calls go to B first.
    assert m.unary("auth.v1.Auth/Register", b"") == b"B"


def test_unavailable_after_processing_is_retried_only_for_idempotent_methods():
    maybe = RpcError(StatusCode.UNAVAILABLE, "connection failed")
    a, b = FakeChannel("A", [maybe, maybe]), FakeChannel("B")
    m = multi(a, b)
    m._next = iter(range(0, 100, 2))  # always start at A
    with pytest.raises(RpcError) as e:
        m.unary("auth.v1.Auth/Logout", b"")
    assert e.value.code == StatusCode.UNAVAILABLE and m.retries == 0
    m._held_until = [0.0, 0.0]
    assert m.unary("auth.v1.Auth/Validate", b"") == b"B"
    assert m.retries == 1


def test_other_statuses_and_deadlines_are_not_retried():
    a = FakeChannel("A", [RpcError(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded"),
                          RpcError(StatusCode.UNAUTHENTICATED, "no")])
    b = FakeChannel("B")
    m = multi(a, b)
    m._next = iter(range(0, 100, 2))
    with pytest.raises(RpcError):
        m.unary("auth.v1.Auth/Validate", b"")
    m._held_until = [0.0, 0.0]
    with pytest.raises(RpcError):
        m.unary("auth.v1.Auth/Validate", b"")
    assert m.retries == 0 and b.calls == []
