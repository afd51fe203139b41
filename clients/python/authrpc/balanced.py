"""Calls spread over several servers, with fail-over (schema/PROTOCOL.md section 3.6 for GOAWAY).

    with MultiChannel(["10.0.0.1:7443", "10.0.0.2:7443"], ca_file="ca.pem") as channel:
        auth = auth_api.AuthClient(channel)
        reply = auth.validate(auth_api.ValidateRequest(token=token), timeout=2.0)

Each server gets its own `Channel`; calls go round-robin to the servers not held back. A server
that refused a connection, went away (GOAWAY), dropped a connection, answered UNAVAILABLE or let a
call reach its deadline is held back for `quarantine` seconds (it is still used when every server
is held back). A failed call is retried on the next server, within the caller's deadline, only
when that is safe:

- always when the call was never processed (never sent, or refused by GOAWAY: `not_processed`), or
  answered ABORTED (a write that conflicted with concurrent ones and was rolled back: nothing was
  applied);
- for UNAVAILABLE after it may have been processed, only when the method may be repeated: the
  generated clients name each method with an `authrpc.method.MethodDescriptor` carrying the
  schema's `idempotency_level` (for Auth: Validate, Status and Health); a plain method name counts
  as not repeatable unless it is listed in `idempotent_methods`;
- never for DEADLINE_EXCEEDED or any other status, nor for a call of a method without an
  idempotency level that may have been processed: it is answered to the caller as it failed.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Iterable, List, Optional, Sequence, Tuple, Union

from .channel import Channel, MetadataArg
from .method import allows_repeat
from .status import RpcError, StatusCode

Address = Union[str, Tuple[str, int]]


def parse_addresses(addresses: Union[str, Iterable[Address]]) -> List[Tuple[str, int]]:
    """"host:port,host:port" or a list of "host:port" / (host, port) into (host, port) pairs."""
    items = addresses.split(",") if isinstance(addresses, str) else list(addresses)
    out: List[Tuple[str, int]] = []
    for item in items:
        if isinstance(item, tuple):
            out.append((item[0], int(item[1])))
            continue
        host, sep, port = item.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"{item!r} is not HOST:PORT")
        out.append((host.strip("[]"), int(port)))
    if not out:
        raise ValueError("no server address")
    return out


class MultiChannel:
    """A thread-safe channel over several servers: spreads calls, fails over, retries what is safe.
    Keyword arguments other than those below are passed to every `Channel`. `idempotent_methods`
    adds plain method names ("package.Service/Method") that may be repeated, for callers that do not
    go through a generated client."""

    def __init__(self, addresses: Union[str, Iterable[Address]], *,
                 idempotent_methods: Iterable[str] = (),
                 quarantine: float = 2.0, timeout: Optional[float] = None, **channel_options) -> None:
        self.addresses = parse_addresses(addresses)
        self._channels = [Channel(h, p, **channel_options) for h, p in self.addresses]
        self._idempotent = frozenset(idempotent_methods)
        self._quarantine = quarantine
        self._timeout = timeout
        self._held_until = [0.0] * len(self._channels)
        self._lock = threading.Lock()
        self._next = itertools.count()
        self.retries = 0  # calls retried on another server (for tests and statistics)

    def _order(self) -> List[int]:
        """Server indices to try: round-robin over those not held back, then the held-back ones."""
        n = len(self._channels)
        start = next(self._next) % n
        now = time.monotonic()
        with self._lock:
            held = list(self._held_until)
        rotated = [(start + i) % n for i in range(n)]
        ready = [i for i in rotated if held[i] <= now]
        waiting = sorted((i for i in rotated if held[i] > now), key=lambda i: held[i])
        return ready + waiting

    def _hold_back(self, index: int) -> None:
        with self._lock:
            self._held_until[index] = time.monotonic() + self._quarantine

    def unary(self, method: str, request: bytes, *, metadata: MetadataArg = None,
              timeout: Optional[float] = None) -> bytes:
        """As `Channel.unary`, on one of the servers; retried on another only when safe."""
        if timeout is None:
            timeout = self._timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        pairs = list(metadata.items()) if isinstance(metadata, dict) else list(metadata or [])
        order = self._order()
        for attempt, index in enumerate(order):
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            try:
                return self._channels[index].unary(method, request, metadata=pairs, timeout=remaining)
            except RpcError as e:
                if e.code in (StatusCode.UNAVAILABLE, StatusCode.DEADLINE_EXCEEDED):
                    self._hold_back(index)
                safe = e.not_processed or e.code == StatusCode.ABORTED or (
                    e.code == StatusCode.UNAVAILABLE and (allows_repeat(method) or method in self._idempotent))
                if not safe or attempt == len(order) - 1:
                    raise
                with self._lock:
                    self.retries += 1
        # Only reached when the deadline passed between attempts.
        raise RpcError(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")

    def close(self) -> None:
        for c in self._channels:
            c.close()

    def __enter__(self) -> "MultiChannel":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
