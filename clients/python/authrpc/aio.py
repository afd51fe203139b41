"""The authrpc channel for asyncio: the same protocol as `Channel`, calls as coroutines.

One TLS connection carries many calls at once from one event loop; replies are matched by call id.
Calls beyond the server's MAX_CALLS_IN_FLIGHT wait their turn in the client (first come, first
served) instead of being refused. A call whose deadline passes, or whose task is cancelled, sends
CANCEL for it and raises `RpcError(DEADLINE_EXCEEDED)` or `asyncio.CancelledError`. A dropped
connection, an ERROR or a frame the client cannot parse fails every call in flight with UNAVAILABLE
(as `Channel` does); the next call opens a new connection.

    async with AsyncChannel("127.0.0.1", 7443, ca_file="ca.pem") as channel:
        auth = auth_api.AsyncAuthClient(channel)
        reply = await auth.validate(auth_api.ValidateRequest(token=token), timeout=2.0)
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import struct
import zlib
from typing import Deque, Dict, List, Optional, Tuple

from .channel import (_ChannelSettings, ALPN, CALL, CANCEL, COMPRESSION_ZLIB, ERROR, FLAG_COMPRESSED, GOAWAY, HEADER, PING, PONG, PREFACE,
                      REPLY, SETTING_COMPRESSION, SETTING_MAX_CALLS_IN_FLIGHT, SETTING_MAX_DECOMPRESSED_SIZE,
                      SETTING_MAX_FRAME_SIZE, SETTINGS, MetadataArg, _error_text, _frame, _Malformed, _parse_goaway,
                      _parse_reply_head, _reply_message, _Retry, _string16)
from .status import RpcError, StatusCode

__all__ = ["AsyncChannel"]


class _AsyncConnection:
    """One TLS connection on the running event loop: a reader task resolves each call's future."""

    def __init__(self, channel: "AsyncChannel", reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._channel = channel
        self._reader = reader
        self._writer = writer
        self._pending: Dict[int, "asyncio.Future[bytes]"] = {}
        self._next_id = 1
        self._closed_error: Optional[RpcError] = None
        self._going_away = False
        self._peer_compression = False
        self._peer_max_frame = 4 << 20
        self._window = 0  # the server's MAX_CALLS_IN_FLIGHT; 0: not announced, no limit
        self._in_flight = 0
        self._queue: Deque["asyncio.Future[None]"] = collections.deque()
        self._task: Optional["asyncio.Task[None]"] = None

    @classmethod
    async def open(cls, channel: "AsyncChannel") -> "_AsyncConnection":
        hostname = channel._server_hostname or channel._host
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(channel._host, channel._port, ssl=channel._context, server_hostname=hostname),
            channel._connect_timeout)
        connection = cls(channel, reader, writer)
        try:
            tls = writer.get_extra_info("ssl_object")
            selected = tls.selected_alpn_protocol() if tls is not None else None
            if selected is not None and selected != ALPN:
                raise ConnectionError(f"server chose ALPN {selected!r}")
            settings = struct.pack(">HIHIHI", SETTING_MAX_FRAME_SIZE, channel._max_frame_size,
                                   SETTING_MAX_DECOMPRESSED_SIZE, channel._max_decompressed_size,
                                   SETTING_COMPRESSION, COMPRESSION_ZLIB if channel._compression else 0)
            writer.write(PREFACE + _frame(SETTINGS, 0, settings))
            # The server's SETTINGS come first: wait for them, so the first calls know its limits.
            await asyncio.wait_for(connection._read_settings(), channel._connect_timeout)
        except BaseException:
            writer.close()
            raise
        connection._task = asyncio.get_running_loop().create_task(connection._read_loop())
        return connection

    async def _read_frame(self) -> Tuple[int, int, int, bytes]:
        head = await self._reader.readexactly(HEADER.size)
        length, frame_type, flags, call_id = HEADER.unpack(head)
        if length > self._channel._max_frame_size:
            raise _Malformed(f"frame of {length} bytes exceeds the limit")
        return frame_type, flags, call_id, await self._reader.readexactly(length)

    async def _read_settings(self) -> None:
        frame_type, _, _, payload = await self._read_frame()
        if frame_type == ERROR:
            text = _error_text(payload)
            raise ConnectionError(f"server closed the connection: {text}")
        if frame_type != SETTINGS or len(payload) % 6:
            raise ConnectionError("protocol error from server: the first frame must be SETTINGS")
        for offset in range(0, len(payload), 6):
            setting, value = struct.unpack_from(">HI", payload, offset)
            if setting == SETTING_COMPRESSION:
                self._peer_compression = bool(value & COMPRESSION_ZLIB)
            elif setting == SETTING_MAX_FRAME_SIZE:
                self._peer_max_frame = value
            elif setting == SETTING_MAX_CALLS_IN_FLIGHT:
                self._window = value

    @property
    def usable(self) -> bool:
        return self._closed_error is None and not self._going_away and self._next_id < 0xFFFFFFFF

    # -- calls

    async def _acquire_slot(self) -> None:
        """Waits until the server's window has room for one more call (FIFO)."""
        if self._window == 0 or (self._in_flight < self._window and not self._queue):
            self._in_flight += 1
            return
        turn: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()
        self._queue.append(turn)
        try:
            await turn  # the slot is handed over by _release_slot, already counted
        except BaseException:
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                self._release_slot()  # handed over just as we gave up: pass it on
            else:
                try:
                    self._queue.remove(turn)
                except ValueError:
                    pass
            raise

    def _release_slot(self) -> None:
        while self._queue:
            turn = self._queue.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._in_flight -= 1

    async def unary(self, method: str, request: bytes, metadata: List[Tuple[str, str]], deadline: Optional[float]) -> bytes:
        loop = asyncio.get_running_loop()
        ch = self._channel
        flags, message = 0, request
        if ch._compression and self._peer_compression and len(request) >= ch._compression_threshold:
            packed = zlib.compress(request)
            if len(packed) < len(request):
                message, flags = packed, FLAG_COMPRESSED
        remaining = None if deadline is None else deadline - loop.time()
        if remaining is not None and remaining <= 0:
            raise RpcError(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded", not_processed=True)
        try:
            await asyncio.wait_for(self._acquire_slot(), remaining)
        except asyncio.TimeoutError:
            raise RpcError(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded waiting for the server's call window",
                           not_processed=True) from None
        try:
            if not self.usable:
                raise _Retry()
            timeout_ms = 0 if deadline is None else max(1, min(0xFFFFFFFE, int((deadline - loop.time()) * 1000 + 0.999)))
            head = _string16(method) + struct.pack(">IH", timeout_ms, len(metadata))
            for key, value in metadata:
                head += _string16(key.lower()) + _string16(value)
            if len(head) + len(message) > self._peer_max_frame:
                raise RpcError(StatusCode.RESOURCE_EXHAUSTED, "request larger than the server's frame limit")
            call_id = self._next_id
            self._next_id += 1
            future: "asyncio.Future[bytes]" = loop.create_future()
            self._pending[call_id] = future
            # One event loop thread: writes go out in call id order.
            self._writer.write(_frame(CALL, call_id, head + message, flags))
            try:
                remaining = None if deadline is None else max(0.0, deadline - loop.time())
                return await asyncio.wait_for(asyncio.shield(future), remaining)
            except asyncio.TimeoutError:
                self._abandon(call_id, future)
                raise RpcError(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded") from None
            except asyncio.CancelledError:
                self._abandon(call_id, future)
                raise
        finally:
            self._release_slot()

    def _abandon(self, call_id: int, future: "asyncio.Future[bytes]") -> None:
        """The caller stopped waiting: tell the server (CANCEL) unless the call already ended."""
        if self._pending.pop(call_id, None) is future and self._closed_error is None:
            future.cancel()
            try:
                self._writer.write(_frame(CANCEL, call_id, b""))
            except (OSError, RuntimeError):
                pass

    # -- reader task

    async def _read_loop(self) -> None:
        error = RpcError(StatusCode.UNAVAILABLE, "server closed the connection")
        try:
            while True:
                frame_type, flags, call_id, payload = await self._read_frame()
                if not self._handle(frame_type, flags, call_id, payload):
                    error = self._closed_error or error
                    break
        except asyncio.IncompleteReadError:
            pass
        except _Malformed as e:
            self._violation(StatusCode.INTERNAL, str(e))
            error = self._closed_error or error
        except (OSError, ssl.SSLError) as e:
            error = RpcError(StatusCode.UNAVAILABLE, f"connection failed: {e}")
        except asyncio.CancelledError:
            error = RpcError(StatusCode.UNAVAILABLE, "channel closed")
        except Exception as e:  # noqa: BLE001 - a bug here must fail the calls, never leave them waiting
            error = RpcError(StatusCode.INTERNAL, f"client failed reading the connection: {type(e).__name__}")
        self._fail_all(error)
        self._writer.close()

    def _handle(self, frame_type: int, flags: int, call_id: int, payload: bytes) -> bool:
        if frame_type == REPLY:
            status, text, offset = _parse_reply_head(payload)
            future = self._pending.pop(call_id, None)
            if future is None or future.done():
                return True  # cancelled or timed out earlier
            try:
                body = _reply_message(status, text, payload[offset:], bool(flags & FLAG_COMPRESSED),
                                      self._channel._max_decompressed_size)
            except RpcError as e:
                future.set_exception(e)
                return True
            future.set_result(body)
            return True
        if frame_type == PING:
            if len(payload) != 8:
                raise _Malformed("PING payload is not 8 bytes")
            self._writer.write(_frame(PONG, 0, payload))
            return True
        if frame_type == PONG:
            return True
        if frame_type == GOAWAY:
            last_id, text = _parse_goaway(payload)
            self._going_away = True
            for cid in [cid for cid in self._pending if cid > last_id]:
                future = self._pending.pop(cid)
                if not future.done():
                    future.set_exception(RpcError(StatusCode.UNAVAILABLE, f"server going away: {text}",
                                                  not_processed=True))
            return True
        if frame_type == ERROR:
            self._fail_all(RpcError(StatusCode.UNAVAILABLE, f"server closed the connection: {_error_text(payload)}"))
            return False
        raise _Malformed("a second SETTINGS" if frame_type == SETTINGS else f"unexpected frame type {frame_type}")

    def _violation(self, code: StatusCode, message: str) -> None:
        self._fail_all(RpcError(StatusCode.UNAVAILABLE, f"protocol error from server: {message}"))
        try:
            self._writer.write(_frame(ERROR, 0, bytes([code]) + _string16(message)))
        except (OSError, RuntimeError):
            pass

    def _fail_all(self, error: RpcError) -> None:
        if self._closed_error is None:
            self._closed_error = error
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)
        while self._queue:  # calls waiting for the window retry on a new connection
            turn = self._queue.popleft()
            if not turn.done():
                turn.set_result(None)
                self._in_flight += 1

    async def close(self) -> None:
        self._fail_all(RpcError(StatusCode.UNAVAILABLE, "channel closed"))
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass


class AsyncChannel(_ChannelSettings):
    """An asyncio client channel: one TLS connection, many concurrent calls, reconnect on demand.

    Takes the same arguments as `authrpc.Channel`. Use it from one event loop."""

    def _init_state(self) -> None:
        self._lock: Optional[asyncio.Lock] = None
        self._connection: Optional[_AsyncConnection] = None
        self._closed = False

    async def unary(self, method: str, request: bytes, *, metadata: MetadataArg = None,
                    timeout: Optional[float] = None) -> bytes:
        """Calls `method` ("package.Service/Method") with the request bytes; returns the reply bytes
        or raises RpcError (UNAVAILABLE when the connection fails, DEADLINE_EXCEEDED on timeout,
        after sending CANCEL). Cancelling the awaiting task sends CANCEL too."""
        pairs = list(metadata.items()) if isinstance(metadata, dict) else list(metadata or [])
        if timeout is None:
            timeout = self._timeout
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        for _ in range(2):
            connection = await self._get_connection()
            try:
                return await connection.unary(method, bytes(request), pairs, deadline)
            except _Retry:
                continue
        raise RpcError(StatusCode.UNAVAILABLE, "connection unavailable", not_processed=True)

    async def _get_connection(self) -> _AsyncConnection:
        if self._lock is None:
            self._lock = asyncio.Lock()
        connection = self._connection
        if connection is not None and connection.usable and not self._closed:
            return connection
        async with self._lock:
            if self._closed:
                raise RpcError(StatusCode.UNAVAILABLE, "channel closed", not_processed=True)
            if self._connection is None or not self._connection.usable:
                try:
                    self._connection = await _AsyncConnection.open(self)
                except (OSError, ssl.SSLError, ConnectionError, asyncio.TimeoutError,
                        asyncio.IncompleteReadError, _Malformed) as e:
                    self._connection = None
                    raise RpcError(StatusCode.UNAVAILABLE, f"cannot connect to {self._host}:{self._port}: {e}",
                                   not_processed=True) from None
            return self._connection

    async def close(self) -> None:
        """Fails the calls in flight with UNAVAILABLE and closes the connection."""
        self._closed = True
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    async def __aenter__(self) -> "AsyncChannel":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
