"""Protobuf binary encoding for the generated messages (proto3 rules), standard library only.

The generated dataclasses call `Writer` and `Reader`; users call `Message.encode()` and
`Message.decode(data)`. Decoding untrusted bytes never fails with anything but `DecodeError`:
truncated input, over-long varints, lengths past the end, wrong wire types, invalid UTF-8 and
field number 0 are all refused. Unknown fields of every wire type are skipped (groups too, up
to MAX_DEPTH); repeated numeric fields accept packed and unpacked elements; a singular field
seen twice keeps the last value, a message field seen twice is merged. Same rules as the Swift
`ProtoReader` in RPCCore.
"""

from __future__ import annotations

import struct
from typing import Any, Callable, List, Optional, Type, TypeVar

from .status import RpcError, StatusCode

__all__ = ["DecodeError", "Reader", "Writer", "decode", "call", "MAX_DEPTH"]

MAX_DEPTH = 100
"""How deep messages and groups may nest before the input is refused."""

VARINT, FIXED64, LENGTH_DELIMITED, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5

_U32 = (1 << 32) - 1
_U64 = (1 << 64) - 1
_I32 = (-(1 << 31), (1 << 31) - 1)
_I64 = (-(1 << 63), (1 << 63) - 1)
_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")
_UI32 = struct.Struct("<I")
_UI64 = struct.Struct("<Q")
_SI32 = struct.Struct("<i")
_SI64 = struct.Struct("<q")

M = TypeVar("M")


class DecodeError(ValueError):
    """Bytes that are not a valid encoding of the expected message."""

    def __init__(self, message: str, offset: int, field: Optional[int] = None) -> None:
        where = f"field {field}, offset {offset}" if field is not None else f"offset {offset}"
        super().__init__(f"{message} ({where})")
        self.offset = offset
        self.field = field


def _checked(value: int, bounds: tuple, kind: str) -> int:
    if not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"{value} is out of range for {kind}")
    return value


def _zigzag32(v: int) -> int:
    _checked(v, _I32, "sint32")
    return ((v << 1) ^ (v >> 31)) & _U32


def _zigzag64(v: int) -> int:
    _checked(v, _I64, "sint64")
    return ((v << 1) ^ (v >> 63)) & _U64


# Each varint kind: how a Python value becomes the unsigned varint value.
_VARINT_ENCODERS: dict = {
    "int32": lambda v: _checked(v, _I32, "int32") & _U64,
    "int64": lambda v: _checked(v, _I64, "int64") & _U64,
    "uint32": lambda v: _checked(v, (0, _U32), "uint32"),
    "uint64": lambda v: _checked(v, (0, _U64), "uint64"),
    "sint32": _zigzag32,
    "sint64": _zigzag64,
    "bool": lambda v: 1 if v else 0,
    "enum": lambda v: _checked(int(v), _I32, "enum") & _U64,
}

# Each fixed kind: (wire type, struct, range check).
_FIXED_ENCODERS: dict = {
    "fixed32": (FIXED32, _UI32, (0, _U32)),
    "sfixed32": (FIXED32, _SI32, _I32),
    "float": (FIXED32, _F32, None),
    "fixed64": (FIXED64, _UI64, (0, _U64)),
    "sfixed64": (FIXED64, _SI64, _I64),
    "double": (FIXED64, _F64, None),
}


class Writer:
    """Appends protobuf encoding; singular fields at their proto3 default are not written."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def getvalue(self) -> bytes:
        return bytes(self._buf)

    def _varint(self, v: int) -> None:
        buf = self._buf
        while v >= 0x80:
            buf.append((v & 0x7F) | 0x80)
            v >>= 7
        buf.append(v)

    def _tag(self, field: int, wire_type: int) -> None:
        self._varint((field << 3) | wire_type)

    def _length_delimited(self, field: int, data: bytes) -> None:
        self._tag(field, LENGTH_DELIMITED)
        self._varint(len(data))
        self._buf += data

    # Singular fields.
    def varint(self, kind: str, field: int, value: Any) -> None:
        if value:
            self._tag(field, VARINT)
            self._varint(_VARINT_ENCODERS[kind](value))

    def fixed(self, kind: str, field: int, value: Any) -> None:
        wire_type, packer, bounds = _FIXED_ENCODERS[kind]
        if bounds is not None:
            _checked(value, bounds, kind)
        data = packer.pack(value)
        if data.count(0) != len(data):  # +0.0 and 0 are defaults; -0.0 is written, as protobuf does
            self._tag(field, wire_type)
            self._buf += data

    def int32(self, field: int, v: int) -> None: self.varint("int32", field, v)
    def int64(self, field: int, v: int) -> None: self.varint("int64", field, v)
    def uint32(self, field: int, v: int) -> None: self.varint("uint32", field, v)
    def uint64(self, field: int, v: int) -> None: self.varint("uint64", field, v)
    def sint32(self, field: int, v: int) -> None: self.varint("sint32", field, v)
    def sint64(self, field: int, v: int) -> None: self.varint("sint64", field, v)
    def bool(self, field: int, v: bool) -> None: self.varint("bool", field, v)
    def enum(self, field: int, v: int) -> None: self.varint("enum", field, v)
    def fixed32(self, field: int, v: int) -> None: self.fixed("fixed32", field, v)
    def fixed64(self, field: int, v: int) -> None: self.fixed("fixed64", field, v)
    def sfixed32(self, field: int, v: int) -> None: self.fixed("sfixed32", field, v)
    def sfixed64(self, field: int, v: int) -> None: self.fixed("sfixed64", field, v)
    def float(self, field: int, v: float) -> None: self.fixed("float", field, v)
    def double(self, field: int, v: float) -> None: self.fixed("double", field, v)

    def string(self, field: int, v: str) -> None:
        if v:
            self._length_delimited(field, v.encode("utf-8"))

    def bytes(self, field: int, v: bytes) -> None:
        if v:
            self._length_delimited(field, bytes(v))

    def message(self, field: int, v: Any) -> None:
        """A set message field is written even when all its fields are defaults; None is not."""
        if v is not None:
            inner = Writer()
            v._encode(inner)
            self._length_delimited(field, inner._buf)

    # Repeated fields.
    def repeated(self, kind: str, field: int, values: List[Any], packed: bool = True) -> None:
        """Numeric and enum elements (`kind` as in the singular methods), packed by default."""
        if not values:
            return
        if kind in _VARINT_ENCODERS:
            encode = _VARINT_ENCODERS[kind]
            if packed:
                inner = Writer()
                for v in values:
                    inner._varint(encode(v))
                self._length_delimited(field, inner._buf)
            else:
                for v in values:
                    self._tag(field, VARINT)
                    self._varint(encode(v))
            return
        wire_type, packer, bounds = _FIXED_ENCODERS[kind]
        if bounds is not None:
            for v in values:
                _checked(v, bounds, kind)
        if packed:
            self._length_delimited(field, b"".join(packer.pack(v) for v in values))
        else:
            for v in values:
                self._tag(field, wire_type)
                self._buf += packer.pack(v)

    def repeated_string(self, field: int, values: List[str]) -> None:
        for v in values:
            self._length_delimited(field, v.encode("utf-8"))

    def repeated_bytes(self, field: int, values: List[bytes]) -> None:
        for v in values:
            self._length_delimited(field, bytes(v))

    def repeated_message(self, field: int, values: List[Any]) -> None:
        for v in values:
            inner = Writer()
            v._encode(inner)
            self._length_delimited(field, inner._buf)


def _to_int32(v: int) -> int:
    v &= _U32
    return v - (1 << 32) if v >= 1 << 31 else v


def _to_int64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _unzigzag(v: int) -> int:
    return (v >> 1) ^ -(v & 1)


# Each varint kind: how the unsigned varint value becomes the Python value.
_VARINT_DECODERS: dict = {
    "int32": _to_int32,
    "int64": _to_int64,
    "uint32": lambda v: v & _U32,
    "uint64": lambda v: v,
    "sint32": lambda v: _unzigzag(v & _U32),
    "sint64": _unzigzag,
    "bool": lambda v: v != 0,
}


class Reader:
    """Reads protobuf encoding with every bound checked; see the module doc for the rules."""

    __slots__ = ("_data", "pos", "end", "depth")

    def __init__(self, data: bytes) -> None:
        self._data = bytes(data)
        self.pos = 0
        self.end = len(self._data)
        self.depth = 0

    def at_end(self) -> bool:
        return self.pos >= self.end

    def _varint(self, field: Optional[int]) -> int:
        data, pos, end = self._data, self.pos, self.end
        result = shift = 0
        while True:
            if pos >= end:
                raise DecodeError("input ends early", pos, field)
            b = data[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                self.pos = pos
                return result & _U64
            shift += 7
            if shift >= 70:
                raise DecodeError("malformed varint", self.pos, field)

    def _take(self, n: int, field: int) -> bytes:
        if self.end - self.pos < n:
            raise DecodeError("input ends early", self.pos, field)
        start = self.pos
        self.pos += n
        return self._data[start:self.pos]

    def _length(self, field: int) -> tuple:
        start = self.pos
        n = self._varint(field)
        if n > self.end - self.pos:
            raise DecodeError("length runs past the end", start, field)
        lower = self.pos
        self.pos += n
        return lower, self.pos

    def _raw_tag(self) -> tuple:
        start = self.pos
        raw = self._varint(None)
        if raw > _U32:
            raise DecodeError("malformed varint", start)
        field, wire_type = raw >> 3, raw & 7
        if field == 0:
            raise DecodeError("invalid field number", start)
        if wire_type > FIXED32:
            raise DecodeError("invalid wire type", start, field)
        return field, wire_type

    def tag(self) -> tuple:
        """The next field's (number, wire type)."""
        start = self.pos
        field, wire_type = self._raw_tag()
        if wire_type == END_GROUP:
            raise DecodeError("invalid wire type", start, field)
        return field, wire_type

    def skip(self, field: int, wire_type: int) -> None:
        """Skips the value of a field this message does not know."""
        if wire_type == VARINT:
            self._varint(field)
        elif wire_type == FIXED64:
            self._take(8, field)
        elif wire_type == FIXED32:
            self._take(4, field)
        elif wire_type == LENGTH_DELIMITED:
            self._length(field)
        elif wire_type == START_GROUP:
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise DecodeError("messages nested too deeply", self.pos, field)
            while True:
                if self.pos >= self.end:
                    raise DecodeError("input ends early", self.pos, field)
                start = self.pos
                inner, inner_type = self._raw_tag()
                if inner_type == END_GROUP:
                    if inner != field:
                        raise DecodeError("invalid wire type", start, field)
                    break
                self.skip(inner, inner_type)
            self.depth -= 1
        else:
            raise DecodeError("invalid wire type", self.pos, field)

    def _expect(self, field: int, wire_type: int, expected: int) -> None:
        if wire_type != expected:
            raise DecodeError("wrong wire type for the field's type", self.pos, field)

    # Singular fields.
    def varint(self, kind: str, field: int, wire_type: int) -> Any:
        self._expect(field, wire_type, VARINT)
        return _VARINT_DECODERS[kind](self._varint(field))

    def fixed(self, kind: str, field: int, wire_type: int) -> Any:
        expected, packer, _ = _FIXED_ENCODERS[kind]
        self._expect(field, wire_type, expected)
        return packer.unpack(self._take(packer.size, field))[0]

    def int32(self, field: int, wt: int) -> int: return self.varint("int32", field, wt)
    def int64(self, field: int, wt: int) -> int: return self.varint("int64", field, wt)
    def uint32(self, field: int, wt: int) -> int: return self.varint("uint32", field, wt)
    def uint64(self, field: int, wt: int) -> int: return self.varint("uint64", field, wt)
    def sint32(self, field: int, wt: int) -> int: return self.varint("sint32", field, wt)
    def sint64(self, field: int, wt: int) -> int: return self.varint("sint64", field, wt)
    def bool(self, field: int, wt: int) -> bool: return self.varint("bool", field, wt)
    def fixed32(self, field: int, wt: int) -> int: return self.fixed("fixed32", field, wt)
    def fixed64(self, field: int, wt: int) -> int: return self.fixed("fixed64", field, wt)
    def sfixed32(self, field: int, wt: int) -> int: return self.fixed("sfixed32", field, wt)
    def sfixed64(self, field: int, wt: int) -> int: return self.fixed("sfixed64", field, wt)
    def float(self, field: int, wt: int) -> float: return self.fixed("float", field, wt)
    def double(self, field: int, wt: int) -> float: return self.fixed("double", field, wt)

    def enum(self, field: int, wt: int, enum_type: Any) -> int:
        """The enum member for a known value; the plain int for an unknown one (open enums)."""
        v = self.varint("int32", field, wt)
        return enum_type._value2member_map_.get(v, v)

    def string(self, field: int, wt: int) -> str:
        self._expect(field, wt, LENGTH_DELIMITED)
        lower, upper = self._length(field)
        try:
            return self._data[lower:upper].decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError("string is not valid UTF-8", lower, field) from None

    def bytes(self, field: int, wt: int) -> bytes:
        self._expect(field, wt, LENGTH_DELIMITED)
        lower, upper = self._length(field)
        return self._data[lower:upper]

    def message(self, field: int, wt: int, message_type: Type[M], existing: Optional[M] = None) -> M:
        """Decodes a sub-message, merged into `existing` when the field was already seen."""
        self._expect(field, wt, LENGTH_DELIMITED)
        lower, upper = self._length(field)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise DecodeError("messages nested too deeply", lower, field)
        saved_end = self.end
        self.pos, self.end = lower, upper
        msg = existing if existing is not None else message_type()
        msg._merge(self)  # type: ignore[attr-defined]
        self.end = saved_end
        self.depth -= 1
        return msg

    # Repeated fields.
    def repeated(self, kind: str, field: int, wt: int, out: List[Any], enum_type: Any = None) -> None:
        """One packed run or one unpacked element of a numeric or enum field, appended to `out`."""
        if kind in _VARINT_DECODERS or kind == "enum":
            element_type = VARINT
            convert: Callable[[], Any]
            if kind == "enum":
                members = enum_type._value2member_map_

                def convert() -> Any:
                    v = _to_int32(self._varint(field))
                    return members.get(v, v)
            else:
                decode = _VARINT_DECODERS[kind]

                def convert() -> Any:
                    return decode(self._varint(field))
        else:
            element_type, packer, _ = _FIXED_ENCODERS[kind]

            def convert() -> Any:
                return packer.unpack(self._take(packer.size, field))[0]
        if wt == LENGTH_DELIMITED:
            lower, upper = self._length(field)
            saved_end = self.end
            self.pos, self.end = lower, upper
            while self.pos < self.end:
                out.append(convert())
            self.end = saved_end
        elif wt == element_type:
            out.append(convert())
        else:
            raise DecodeError("wrong wire type for the field's type", self.pos, field)

    def repeated_string(self, field: int, wt: int, out: List[str]) -> None:
        out.append(self.string(field, wt))

    def repeated_bytes(self, field: int, wt: int, out: List[bytes]) -> None:
        out.append(self.bytes(field, wt))

    def repeated_message(self, field: int, wt: int, message_type: Type[M], out: List[M]) -> None:
        out.append(self.message(field, wt, message_type))


def decode(message_type: Type[M], data: bytes) -> M:
    """Decodes `data` as a `message_type`; raises DecodeError on malformed input."""
    msg = message_type()
    msg._merge(Reader(data))  # type: ignore[attr-defined]
    return msg


def call(channel: Any, method: str, request: Any, reply_type: Type[M], metadata: Any = None,
         timeout: Optional[float] = None) -> M:
    """One unary call for a generated client: a malformed reply raises RpcError(INTERNAL)."""
    reply = channel.unary(method, request.encode(), metadata=metadata, timeout=timeout)
    try:
        return decode(reply_type, reply)
    except DecodeError as e:
        raise RpcError(StatusCode.INTERNAL, f"malformed {reply_type.__name__} in reply to {method}: {e}") from e


async def call_async(channel: Any, method: str, request: Any, reply_type: Type[M], metadata: Any = None,
                     timeout: Optional[float] = None) -> M:
    """`call` for a generated asyncio client, over a channel whose `unary` is a coroutine."""
    reply = await channel.unary(method, request.encode(), metadata=metadata, timeout=timeout)
    try:
        return decode(reply_type, reply)
    except DecodeError as e:
        raise RpcError(StatusCode.INTERNAL, f"malformed {reply_type.__name__} in reply to {method}: {e}") from e
