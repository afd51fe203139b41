"""Method descriptors: a method's wire name together with what the schema says about repeating it.

Generated clients name each method with a `MethodDescriptor` (`AuthClient.Method.validate`). It is
a `str` equal to the wire name ("auth.v1.Auth/Validate"), so every channel takes it as a method
name, and it carries `idempotency` from the schema's `option idempotency_level`, which
`MultiChannel` reads to decide whether a call that may have reached a server can be sent again.
"""

from __future__ import annotations

import enum


class Idempotency(enum.IntEnum):
    """protobuf's `MethodOptions.IdempotencyLevel` (google/protobuf/descriptor.proto)."""

    #: Not declared: the call may change state; it is not repeated once it may have run.
    IDEMPOTENCY_UNKNOWN = 0
    #: The call changes nothing (a read): repeating it is harmless.
    NO_SIDE_EFFECTS = 1
    #: The call may change state, but repeating it leaves the same state as one call.
    IDEMPOTENT = 2


class MethodDescriptor(str):
    """A method's wire name ("package.Service/Method") with its `idempotency`.

    Equal to (and hashed as) the plain name: the idempotency describes the method, not names it.
    """

    idempotency: Idempotency

    def __new__(cls, name: str, idempotency: Idempotency = Idempotency.IDEMPOTENCY_UNKNOWN) -> "MethodDescriptor":
        self = super().__new__(cls, name)
        self.idempotency = Idempotency(idempotency)
        return self

    @property
    def allows_repeat(self) -> bool:
        """Whether a call that may already have been processed can be sent again."""
        return self.idempotency != Idempotency.IDEMPOTENCY_UNKNOWN

    def __repr__(self) -> str:
        return f"MethodDescriptor({str.__repr__(self)}, {self.idempotency.name})"


def allows_repeat(method: str) -> bool:
    """`method.allows_repeat` for a descriptor; False for a plain name (nothing is known about it)."""
    return isinstance(method, MethodDescriptor) and method.allows_repeat
