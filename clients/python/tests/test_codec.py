"""Our generated Python codec (authrpc.wire + alltypes_api) against the `protobuf` package."""

from __future__ import annotations

import math
import random
import struct

import pytest

import alltypes_api as ours
import codec_reference as ref
from authrpc import RpcError, StatusCode, wire

I32, I64 = (-(2**31), 2**31 - 1), (-(2**63), 2**63 - 1)
F32_MAX = struct.unpack("<f", bytes.fromhex("ffff7f7f"))[0]
F32_TINY = struct.unpack("<f", bytes.fromhex("01000000"))[0]


def _samples():
    """protobuf messages covering every scalar type, extremes, nesting, repetition, unknown enums."""
    out = {"empty": ref.AllTypes()}
    out["typical"] = ref.AllTypes(
        f_double=3.25, f_float=1.5, f_int32=150, f_int64=1234567890123, f_uint32=300, f_uint64=1 << 40,
        f_sint32=63, f_sint64=64, f_fixed32=0xDEADBEEF, f_fixed64=0x0123456789ABCDEF, f_sfixed32=7,
        f_sfixed64=8, f_bool=True, f_string="testing", f_bytes=b"\x01\x02\x03", f_color=1)
    out["negative"] = ref.AllTypes(
        f_double=-2.5, f_float=-0.0, f_int32=-1, f_int64=-2, f_sint32=-1, f_sint64=-64, f_sfixed32=-3,
        f_sfixed64=-4, f_color=-1, f_large_number=-1)
    out["extremes max"] = ref.AllTypes(
        f_double=1.7976931348623157e308, f_float=F32_MAX, f_int32=I32[1], f_int64=I64[1], f_uint32=2**32 - 1,
        f_uint64=2**64 - 1, f_sint32=I32[1], f_sint64=I64[1], f_fixed32=2**32 - 1, f_fixed64=2**64 - 1,
        f_sfixed32=I32[1], f_sfixed64=I64[1], f_large_number=I32[1])
    out["extremes min"] = ref.AllTypes(
        f_double=-math.inf, f_float=F32_TINY, f_int32=I32[0], f_int64=I64[0], f_sint32=I32[0], f_sint64=I64[0],
        f_sfixed32=I32[0], f_sfixed64=I64[0], r_double=[math.inf, -0.0, 5e-324], r_float=[-math.inf, -F32_TINY],
        f_large_number=I32[0])
    out["strings and bytes"] = ref.AllTypes(
        f_string="héllo wörld ✓ 日本語 🚀 e\u0301 \x00nul", f_bytes=bytes(range(256)),
        r_string=["", "a", "🙂", "\x7f\x80\u07ff\u0800\uffff\U00010000\U0010ffff"], r_bytes=[b"", b"\x00", b"\xff\xfe"])
    nested = ref.AllTypes(f_int32=3)
    nested.f_nested.CopyFrom(ref.AllTypes.Nested(a=-5, b="deep", level=2, values=[1, -1]))
    nested.child.f_string = "deepest"
    nested.child.child.SetInParent()
    m = ref.AllTypes(r_nested=[ref.AllTypes.Nested(), ref.AllTypes.Nested(a=1), ref.AllTypes.Nested(values=[I64[0], I64[1]])])
    m.f_nested.SetInParent()
    m.child.CopyFrom(nested)
    out["nested"] = m
    out["repeated"] = ref.AllTypes(
        r_double=[0, 1.5, -2.25], r_float=[0, 0.5, -8], r_int32=[0, 1, -1, I32[1], I32[0]], r_int64=[0, -1, I64[1], I64[0]],
        r_uint32=[0, 1, 2**32 - 1], r_uint64=[0, 2**64 - 1], r_sint32=[0, -1, 1, I32[0], I32[1]],
        r_sint64=[0, -1, I64[0], I64[1]], r_fixed32=[0, 2**32 - 1], r_fixed64=[0, 2**64 - 1],
        r_sfixed32=[I32[0], -1, 0, I32[1]], r_sfixed64=[I64[0], 0, I64[1]], r_bool=[True, False, True],
        r_string=["x", "", "y"], r_bytes=[b"\x09", b""], r_color=[1, 0, -1], u_int32=[0, -1, 300],
        u_sint64=[-1, 0, I64[0]], u_fixed32=[0, 1, 2**32 - 1], u_double=[-0.0, 1e300], u_color=[2, -1])
    unknown = ref.AllTypes(f_color=99, r_color=[1000, 1, -1000], u_color=[I32[1]])
    unknown.f_nested.level = -7
    out["unknown enum values"] = unknown
    out["long fields"] = ref.AllTypes(f_string="0123456789" * 40, f_bytes=b"\xab" * 20000, r_int64=list(range(-1000, 1000)))
    return out


SAMPLES = _samples()


@pytest.mark.parametrize("name", SAMPLES)
def test_our_bytes_decode_in_protobuf(name):
    plain = ref.to_plain(SAMPLES[name])
    mine = ref.from_plain(plain, ours.AllTypes, ref.AllTypes.DESCRIPTOR)
    assert ref.to_plain(ref.AllTypes.FromString(mine.encode())) == plain


@pytest.mark.parametrize("name", SAMPLES)
def test_protobuf_bytes_decode_in_ours(name):
    pb = SAMPLES[name]
    decoded = ours.AllTypes.decode(pb.SerializeToString())
    assert ref.to_plain(decoded, ref.AllTypes.DESCRIPTOR) == ref.to_plain(pb)


@pytest.mark.parametrize("name", SAMPLES)
def test_same_bytes_as_protobuf(name):
    plain = ref.to_plain(SAMPLES[name])
    mine = ref.from_plain(plain, ours.AllTypes, ref.AllTypes.DESCRIPTOR)
    assert mine.encode() == SAMPLES[name].SerializeToString()


def test_decoding_rules():
    # Last value wins; message fields merge; packed and unpacked both accepted.
    assert ours.AllTypes.decode(bytes([0x18, 1, 0x18, 2])).f_int32 == 2
    merged = ours.AllTypes.decode(bytes([0x8A, 0x01, 0x02, 0x08, 0x01, 0x8A, 0x01, 0x02, 0x12, 0x00, 0x8A, 0x01, 0x02, 0x20, 0x05]))
    assert merged.f_nested == ours.AllTypes.Nested(a=1, b="", values=[5])
    assert ours.AllTypes.decode(bytes([0xB8, 0x01, 0x07, 0xBA, 0x01, 0x02, 0x08, 0x09])).r_int32 == [7, 8, 9]
    assert ours.AllTypes.decode(bytes([0xC2, 0x02, 0x02, 0x01, 0x02])).u_int32 == [1, 2]
    # Unknown fields of every wire type, groups included, are skipped.
    unknown = bytes([0xA0, 0x06, 0x96, 0x01, 0xA9, 0x06, 1, 2, 3, 4, 5, 6, 7, 8, 0xA2, 0x06, 0x01, 0xFF,
                     0xAB, 0x06, 0x08, 0x01, 0xAC, 0x06, 0xAD, 0x06, 1, 2, 3, 4])
    assert ours.AllTypes.decode(unknown + bytes([0x18, 0x05])).f_int32 == 5
    # Open enums keep unknown values as ints; known ones become members.
    decoded = ours.AllTypes.decode(bytes([0x80, 0x01, 0x63, 0x80, 0x01, 0x01]))
    assert decoded.f_color is ours.Color.COLOR_RED
    assert ours.AllTypes.decode(bytes([0x80, 0x01, 0x63])).f_color == 99


MALFORMED = [
    bytes([0x18]), bytes([0x18, 0x80]), bytes([0x18] + [0x80] * 10 + [0x01]), bytes([0x72, 0x05, 0x61]),
    bytes([0x4D, 0x00]), bytes([0x51, 0x00]), bytes([0x00, 0x01]), bytes([0x07, 0x01]), bytes([0x1E, 0x01]),
    bytes([0x1F]), bytes([0x1C]), bytes([0xAB, 0x06, 0xB4, 0x06]), bytes([0xAB, 0x06]),
    bytes([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), bytes([0x1D, 1, 0, 0, 0]), bytes([0x75, 1, 0, 0, 0]),
    bytes([0x88, 0x01, 0x01]), bytes([0xBA, 0x01, 0x02, 0x80, 0x80]), bytes([0x8A, 0x01, 0x02, 0x08]),
    bytes([0x72, 0x02, 0xC3, 0x28]), bytes([0x72, 0x03, 0xED, 0xA0, 0x80]), bytes([0x92, 0x02, 0x01, 0xFF]),
]


@pytest.mark.parametrize("data", MALFORMED, ids=lambda d: d.hex())
def test_malformed_input_raises_decode_error(data):
    with pytest.raises(wire.DecodeError):
        ours.AllTypes.decode(data)


def test_deep_nesting_is_refused():
    data = b""
    for _ in range(500):
        data = bytes([0x92, 0x01]) + _varint(len(data)) + data
    with pytest.raises(wire.DecodeError, match="too deeply"):
        ours.AllTypes.decode(data)


def _varint(n: int) -> bytes:
    w = wire.Writer()
    w._varint(n)
    return w.getvalue()


def test_bounded_fuzz_never_raises_anything_else():
    rng = random.Random(0xC0DEC)
    seeds = [m.SerializeToString() for m in SAMPLES.values() if 0 < m.ByteSize() < 4096]
    for i in range(6000):
        if i % 2:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(48)))
        else:
            buf = bytearray(seeds[i % len(seeds)])
            for _ in range(rng.randrange(1, 4)):
                buf[rng.randrange(len(buf))] = rng.randrange(256)
            data = bytes(buf[: rng.randrange(1, len(buf) + 1)])
        try:
            decoded = ours.AllTypes.decode(data)
        except wire.DecodeError:
            continue
        assert ours.AllTypes.decode(decoded.encode()).encode() == decoded.encode()


def test_encoder_refuses_out_of_range_values():
    with pytest.raises(ValueError):
        ours.AllTypes(f_int32=2**31).encode()
    with pytest.raises(ValueError):
        ours.AllTypes(f_uint64=-1).encode()
    with pytest.raises(ValueError):
        ours.AllTypes(r_sint32=[2**40]).encode()


def test_generated_client_calls_the_channel():
    import auth_api

    class Channel:
        def __init__(self, reply: bytes) -> None:
            self.reply, self.calls = reply, []

        def unary(self, method, request, *, metadata=None, timeout=None):
            self.calls.append((method, request, metadata, timeout))
            return self.reply

    reply = auth_api.ValidateReply(valid=True, user_id=7, refusal=auth_api.TokenRefusal.TOKEN_REFUSAL_NONE)
    channel = Channel(reply.encode())
    client = auth_api.AuthClient(channel)
    got = client.validate(auth_api.ValidateRequest(token="t"), metadata=[("authorization", "Bearer x")], timeout=2.0)
    assert got == reply
    assert channel.calls == [("auth.v1.Auth/Validate", bytes([0x0A, 0x01, 0x74]), [("authorization", "Bearer x")], 2.0)]
    channel.reply = b""
    assert client.revoke_all(auth_api.RevokeAllRequest(user_id=1)) == auth_api.RevokeAllReply()
    assert channel.calls[-1][:2] == ("auth.v1.Auth/RevokeAll", bytes([0x08, 0x01]))
    channel.reply = b"\x08"
    with pytest.raises(RpcError) as e:
        client.health(auth_api.HealthRequest())
    assert e.value.code == StatusCode.INTERNAL
    assert auth_api.HealthReply.decode(bytes([0x08, 0x02])).status is auth_api.HealthReply.ServingStatus.NOT_SERVING
