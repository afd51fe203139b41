"""Runtime for the generated Python clients: protobuf codec, status codes, and the TLS channels
(`Channel`, blocking and thread-safe; `AsyncChannel`, for asyncio)."""

from ._version import __version__
from .aio import AsyncChannel
from .balanced import MultiChannel, parse_addresses
from .channel import Channel
from .method import Idempotency, MethodDescriptor
from .status import RpcError, StatusCode

__all__ = ["AsyncChannel", "Channel", "Idempotency", "MethodDescriptor", "MultiChannel", "RpcError", "StatusCode",
           "__version__", "parse_addresses"]
