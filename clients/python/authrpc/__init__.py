"""Runtime for the generated Python clients: protobuf codec, status codes, and the TLS channel."""

from .balanced import AUTH_IDEMPOTENT_METHODS, MultiChannel, parse_addresses
from .channel import Channel
from .status import RpcError, StatusCode

__all__ = ["AUTH_IDEMPOTENT_METHODS", "Channel", "MultiChannel", "RpcError", "StatusCode", "parse_addresses"]
