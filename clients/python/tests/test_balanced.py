"""MultiChannel's choice of server and its retry rule, with stand-in channels (no sockets).
The real thing, against two authd instances on a Galera cluster, is scripts/test-galera."""

import pytest

import auth_api as api
from authrpc import Idempotency, MethodDescriptor, MultiChannel, RpcError, StatusCode, parse_addresses


class FakeChannel:
    def __init__(self, name, failures=(), reply=None):
        self.name = name
        self.failures = list(failures)  # errors to raise, one per call, before answering
        self.reply = reply  # bytes to answer with (default: the name)
        self.calls = []

    def unary(self, method, request, metadata=None, timeout=None):
        self.calls.append(method)
        if self.failures:
            raise self.failures.pop(0)
        return self.name.encode() if self.reply is None else self.reply

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


def test_an_aborted_write_moves_to_the_next_server_whatever_the_method():
    # ABORTED: the write conflicted with concurrent ones and was rolled back, so nothing was applied.
    aborted = RpcError(StatusCode.ABORTED, "The request conflicted with concurrent ones and was not applied. Try again.")
    a, b = FakeChannel("A", [aborted]), FakeChannel("B")
    m = multi(a, b)
    m._next = iter(range(0, 100))  # start at A
    assert m.unary("auth.v1.Auth/Register", b"") == b"B"
    assert m.retries == 1 and b.calls == ["auth.v1.Auth/Register"]


def test_unavailable_after_processing_is_retried_only_for_idempotent_methods():
    maybe = RpcError(StatusCode.UNAVAILABLE, "connection failed")
    logout = MethodDescriptor("auth.v1.Auth/Logout")
    validate = MethodDescriptor("auth.v1.Auth/Validate", Idempotency.NO_SIDE_EFFECTS)
    a, b = FakeChannel("A", [maybe, maybe]), FakeChannel("B")
    m = multi(a, b)
    m._next = iter(range(0, 100, 2))  # always start at A
    with pytest.raises(RpcError) as e:
        m.unary(logout, b"")
    assert e.value.code == StatusCode.UNAVAILABLE and m.retries == 0
    m._held_until = [0.0, 0.0]
    assert m.unary(validate, b"") == b"B"
    assert m.retries == 1


@pytest.mark.parametrize("level, retried", [
    (Idempotency.IDEMPOTENCY_UNKNOWN, False), (Idempotency.NO_SIDE_EFFECTS, True), (Idempotency.IDEMPOTENT, True),
])
def test_the_descriptor_decides_not_the_method_name(level, retried):
    maybe = RpcError(StatusCode.UNAVAILABLE, "connection failed")
    a, b = FakeChannel("A", [maybe]), FakeChannel("B")
    m = multi(a, b)
    m._next = iter(range(0, 100, 2))
    method = MethodDescriptor("rpctest.v1.Echo/Fail", level)
    if retried:
        assert m.unary(method, b"") == b"B"
    else:
        with pytest.raises(RpcError):
            m.unary(method, b"")
    assert m.retries == (1 if retried else 0)


def test_a_plain_method_name_is_retried_only_when_listed():
    maybe = RpcError(StatusCode.UNAVAILABLE, "connection failed")
    a, b = FakeChannel("A", [maybe, maybe]), FakeChannel("B")
    m = multi(a, b)
    m._next = iter(range(0, 100, 2))
    # The transport knows no service's methods: a bare name says nothing about repeating it.
    with pytest.raises(RpcError):
        m.unary("auth.v1.Auth/Validate", b"")
    listed = multi(FakeChannel("A", [maybe]), FakeChannel("B"), idempotent_methods=["rpctest.v1.Echo/Echo"])
    listed._next = iter(range(0, 100, 2))
    assert listed.unary("rpctest.v1.Echo/Echo", b"") == b"B"
    assert listed.retries == 1


def test_generated_client_passes_the_schema_idempotency():
    methods = api.AuthClient.Method
    assert methods.validate == "auth.v1.Auth/Validate" and hash(methods.validate) == hash("auth.v1.Auth/Validate")
    levels = {name: getattr(methods, name).idempotency
              for name in ("register", "login", "status", "logout", "validate", "refresh", "revoke_all", "health")}
    assert {n for n, level in levels.items() if level != Idempotency.IDEMPOTENCY_UNKNOWN} == {"status", "validate", "health"}
    maybe = RpcError(StatusCode.UNAVAILABLE, "connection failed")
    a, b = FakeChannel("A", [maybe, maybe], reply=b""), FakeChannel("B", reply=b"")
    m = multi(a, b)
    m._next = iter(range(0, 100, 2))
    auth = api.AuthClient(m)
    with pytest.raises(RpcError):
        auth.logout(api.LogoutRequest())
    assert m.retries == 0 and b.calls == []
    m._held_until = [0.0, 0.0]
    assert auth.validate(api.ValidateRequest(token="t")) == api.ValidateReply()
    assert m.retries == 1 and b.calls == ["auth.v1.Auth/Validate"]


def test_other_statuses_and_deadlines_are_not_retried():
    a = FakeChannel("A", [RpcError(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded"),
                          RpcError(StatusCode.UNAUTHENTICATED, "no")])
    b = FakeChannel("B")
    m = multi(a, b)
    m._next = iter(range(0, 100, 2))
    validate = api.AuthClient.Method.validate
    with pytest.raises(RpcError):
        m.unary(validate, b"")
    m._held_until = [0.0, 0.0]
    with pytest.raises(RpcError):
        m.unary(validate, b"")
    assert m.retries == 0 and b.calls == []
