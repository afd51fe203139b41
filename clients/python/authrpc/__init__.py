"""Runtime for the generated Python clients: protobuf codec, status codes, and the TLS channel."""

from .status import RpcError, StatusCode

__all__ = ["RpcError", "StatusCode"]
