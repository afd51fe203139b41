"""Runtime for the generated Python clients: protobuf codec, status codes, and the TLS channel."""

from .balanced import MultiChannel, parse_addresses
from .channel import Channel
from .method import Idempotency, MethodDescriptor
from .status import RpcError, StatusCode

__all__ = ["Channel", "Idempotency", "MethodDescriptor", "MultiChannel", "RpcError", "StatusCode", "parse_addresses"]
