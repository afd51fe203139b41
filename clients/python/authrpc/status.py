"""Status codes and the error every call raises on failure (gRPC's numbering)."""

from __future__ import annotations

import enum


class StatusCode(enum.IntEnum):
    """A call's outcome; the wire carries the number."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class RpcError(Exception):
    """A call that did not end OK: `code` is a StatusCode, `message` the server's text.

    `not_processed` is True when the client knows the server never processed the call (it was
    never sent, or the server's GOAWAY refused it), so retrying it elsewhere is always safe."""

    def __init__(self, code: StatusCode, message: str, *, not_processed: bool = False) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.not_processed = not_processed
