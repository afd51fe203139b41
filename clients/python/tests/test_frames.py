"""The frame helpers `Channel` and `AsyncChannel` share: a REPLY's message or error, an ERROR's text."""

import zlib

import pytest

from authrpc import RpcError, StatusCode
from authrpc.channel import _error_text, _reply_message, _string16


def test_reply_message_ok_plain_and_compressed():
    assert _reply_message(StatusCode.OK, "", b"abc", False, 16) == b"abc"
    assert _reply_message(StatusCode.OK, "", zlib.compress(b"abc" * 4), True, 16) == b"abc" * 4


def test_reply_message_status_becomes_the_error():
    with pytest.raises(RpcError) as known:
        _reply_message(StatusCode.NOT_FOUND, "no such user", b"", False, 16)
    assert known.value.code == StatusCode.NOT_FOUND and "no such user" in str(known.value)
    with pytest.raises(RpcError) as unknown:
        _reply_message(200, "from a newer server", b"", False, 16)
    assert unknown.value.code == StatusCode.UNKNOWN


def test_reply_message_over_the_limit_is_resource_exhausted():
    with pytest.raises(RpcError) as bomb:
        _reply_message(StatusCode.OK, "", zlib.compress(b"x" * 1000), True, 16)
    assert bomb.value.code == StatusCode.RESOURCE_EXHAUSTED


def test_error_text_of_a_malformed_error_is_empty():
    assert _error_text(bytes([StatusCode.INTERNAL]) + _string16("bye")) == "bye"
    assert _error_text(bytes([StatusCode.INTERNAL, 0, 9, 0x61])) == ""
    assert _error_text(bytes([StatusCode.INTERNAL, 0, 1, 0xFF])) == ""
