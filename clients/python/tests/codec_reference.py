"""The AllTypes test schema for the `protobuf` package, built at runtime (no protoc here), as an
independent implementation to check our codecs against. Mirrors
Tests/RPCGenKitTests/Golden/alltypes.proto; also used by the Swift cross-check (codec_crosscheck.py).

Values are compared in a "plain" form both sides can produce exactly: integers and enums as
decimal strings, floats as the hex of their little-endian bits, bytes as hex, messages as dicts
(None when unset), repeated fields as lists.
"""

from __future__ import annotations

import struct
from typing import Any, Dict

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor

_F = descriptor_pb2.FieldDescriptorProto
SCALARS = ["double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64",
           "fixed32", "fixed64", "sfixed32", "sfixed64", "bool", "string", "bytes"]
_TYPES = {name: getattr(_F, "TYPE_" + name.upper()) for name in SCALARS}


def _field(msg, name: str, number: int, kind: str, repeated: bool = False, packed: bool = True) -> None:
    f = msg.field.add(name=name, number=number)
    f.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    if kind in _TYPES:
        f.type = _TYPES[kind]
    elif kind in ("Color", "Nested.Level"):
        f.type = _F.TYPE_ENUM
        f.type_name = ".codec.test." + ("Color" if kind == "Color" else "AllTypes.Nested.Level")
    else:
        f.type = _F.TYPE_MESSAGE
        f.type_name = ".codec.test." + ("AllTypes.Nested" if kind == "Nested" else "AllTypes")
    if repeated and not packed:
        f.options.packed = False


def _build():
    fdp = descriptor_pb2.FileDescriptorProto(name="alltypes.proto", package="codec.test", syntax="proto3")
    color = fdp.enum_type.add(name="Color")
    for name, number in [("COLOR_UNSPECIFIED", 0), ("COLOR_RED", 1), ("COLOR_GREEN", 2), ("COLOR_NEGATIVE", -1)]:
        color.value.add(name=name, number=number)
    m = fdp.message_type.add(name="AllTypes")
    for i, kind in enumerate(SCALARS):
        _field(m, "f_" + kind, i + 1, kind)
    _field(m, "f_color", 16, "Color")
    _field(m, "f_nested", 17, "Nested")
    _field(m, "child", 18, "AllTypes")
    for i, kind in enumerate(SCALARS):
        _field(m, "r_" + kind, i + 21, kind, repeated=True)
    _field(m, "r_color", 36, "Color", repeated=True)
    _field(m, "r_nested", 37, "Nested", repeated=True)
    for name, number, kind in [("u_int32", 40, "int32"), ("u_sint64", 41, "sint64"), ("u_fixed32", 42, "fixed32"),
                               ("u_double", 43, "double"), ("u_color", 44, "Color")]:
        _field(m, name, number, kind, repeated=True, packed=False)
    _field(m, "f_large_number", 536870911, "int32")
    nested = m.nested_type.add(name="Nested")
    _field(nested, "a", 1, "int32")
    _field(nested, "b", 2, "string")
    _field(nested, "level", 3, "Nested.Level")
    _field(nested, "values", 4, "int64", repeated=True)
    level = nested.enum_type.add(name="Level")
    for name, number in [("LEVEL_UNSPECIFIED", 0), ("LEVEL_LOW", 1), ("LEVEL_HIGH", 2)]:
        level.value.add(name=name, number=number)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("codec.test.AllTypes"))


AllTypes = _build()
"""The protobuf message class of codec.test.AllTypes."""

_FLOAT, _DOUBLE = FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE


def _plain_scalar(fd: FieldDescriptor, v: Any) -> Any:
    if fd.type == _DOUBLE:
        return struct.pack("<d", v).hex()
    if fd.type == _FLOAT:
        return struct.pack("<f", v).hex()
    if fd.type == FieldDescriptor.TYPE_BOOL:
        return bool(v)
    if fd.type == FieldDescriptor.TYPE_STRING:
        return v
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return bytes(v).hex()
    return str(int(v))


def to_plain(msg: Any, descriptor=AllTypes.DESCRIPTOR) -> Dict[str, Any]:
    """The plain form of a message: a protobuf one or one of our generated dataclasses."""
    is_protobuf = hasattr(msg, "HasField")
    out: Dict[str, Any] = {}
    for fd in descriptor.fields:
        v = getattr(msg, fd.name)
        sub = fd.message_type
        if _is_repeated(fd):
            out[fd.name] = [to_plain(x, sub) if sub else _plain_scalar(fd, x) for x in v]
        elif sub is not None:
            present = msg.HasField(fd.name) if is_protobuf else v is not None
            out[fd.name] = to_plain(v, sub) if present else None
        else:
            out[fd.name] = _plain_scalar(fd, v)
    return out


def _from_plain_scalar(fd: FieldDescriptor, v: Any) -> Any:
    if fd.type == _DOUBLE:
        return struct.unpack("<d", bytes.fromhex(v))[0]
    if fd.type == _FLOAT:
        return struct.unpack("<f", bytes.fromhex(v))[0]
    if fd.type in (FieldDescriptor.TYPE_BOOL, FieldDescriptor.TYPE_STRING):
        return v
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return bytes.fromhex(v)
    return int(v)


def from_plain(plain: Dict[str, Any], cls: Any = AllTypes, descriptor=None) -> Any:
    """Builds a message of `cls` (the protobuf class, or one of our dataclasses with `descriptor`)."""
    descriptor = descriptor or cls.DESCRIPTOR
    is_protobuf = hasattr(cls, "DESCRIPTOR")
    msg = cls()
    for fd in descriptor.fields:
        if fd.name not in plain:
            continue
        v = plain[fd.name]
        sub = fd.message_type
        sub_cls = _message_class(sub, ours=not is_protobuf) if sub is not None else None
        if _is_repeated(fd):
            items = [from_plain(x, sub_cls, sub) if sub else _from_plain_scalar(fd, x) for x in v]
            if is_protobuf:
                getattr(msg, fd.name).extend(items)
            else:
                setattr(msg, fd.name, items)
        elif sub is not None:
            if v is None:
                continue
            value = from_plain(v, sub_cls, sub)
            if is_protobuf:
                getattr(msg, fd.name).CopyFrom(value)
            else:
                setattr(msg, fd.name, value)
        else:
            setattr(msg, fd.name, _from_plain_scalar(fd, v))
    return msg


def _message_class(sub: Any, ours: bool) -> Any:
    if ours:
        import alltypes_api  # our generated module, beside this file
        top = alltypes_api.AllTypes
    else:
        top = AllTypes
    return top.Nested if sub.name == "Nested" else top


def _is_repeated(fd: FieldDescriptor) -> bool:
    repeated = getattr(fd, "is_repeated", None)
    return repeated if repeated is not None else fd.label == FieldDescriptor.LABEL_REPEATED


def default_plain() -> Dict[str, Any]:
    """The plain form of an empty AllTypes."""
    return to_plain(AllTypes())
