"""Runtime for the generated Python clients: protobuf codec, status codes, and the TLS channel."""

from .channel import Channel
from .status import RpcError, StatusCode

__all__ = ["Channel", "RpcError", "StatusCode"]
