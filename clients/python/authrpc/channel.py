"""A TLS channel speaking the authrpc protocol (schema/PROTOCOL.md) with the standard library only.

One TLS connection carries many concurrent calls from many threads; replies are matched by call
id. A dropped connection, an ERROR from the server, or any frame the client cannot parse (a
malformed GOAWAY or REPLY, an unknown frame type, a frame over the limit) fails every call in flight
at once with UNAVAILABLE (a frame it cannot parse is answered with ERROR first); that connection is
never used again and the next call opens a new one.

    with Channel("127.0.0.1", 7443, ca_file="ca.pem") as channel:
        reply = channel.unary("auth.v1.Auth/Validate", request_bytes,
                              metadata={"authorization": "Bearer ..."}, timeout=2.0)
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
import zlib
from typing import Dict, Iterable, List, Optional, Tuple, Union

from .status import RpcError, StatusCode

PREFACE = b"ARPC\r\n\x01\x00"
ALPN = "authrpc/1"
HEADER = struct.Struct(">IBBI")  # length, type, flags, call id

SETTINGS, CALL, REPLY, CANCEL, PING, PONG, GOAWAY, ERROR = range(8)
FLAG_COMPRESSED = 0x01

SETTING_MAX_FRAME_SIZE = 1
SETTING_MAX_DECOMPRESSED_SIZE = 2
SETTING_MAX_CALLS_IN_FLIGHT = 3
SETTING_COMPRESSION = 4
COMPRESSION_ZLIB = 0x1

MetadataArg = Union[Dict[str, str], Iterable[Tuple[str, str]], None]


def _string16(s: str) -> bytes:
    data = s.encode("utf-8")
    if len(data) > 0xFFFF:
        raise ValueError("string longer than 65535 bytes")
    return struct.pack(">H", len(data)) + data


def _frame(frame_type: int, call_id: int, payload: bytes, flags: int = 0) -> bytes:
    return HEADER.pack(len(payload), frame_type, flags, call_id) + payload


def _read_string16(payload: bytes, offset: int) -> Tuple[str, int]:
    if offset + 2 > len(payload):
        raise ValueError("payload truncated")
    (n,) = struct.unpack_from(">H", payload, offset)
    offset += 2
    if offset + n > len(payload):
        raise ValueError("payload truncated")
    return payload[offset:offset + n].decode("utf-8"), offset + n


class _Malformed(Exception):
    """A frame from the server the client cannot parse: a protocol violation (PROTOCOL.md 3, 7)."""


def _parse_string16(payload: bytes, offset: int, what: str) -> Tuple[str, int]:
    try:
        return _read_string16(payload, offset)
    except ValueError:  # truncated, or not UTF-8 (UnicodeDecodeError is a ValueError)
        raise _Malformed(f"malformed {what}") from None


def _parse_reply_head(payload: bytes) -> Tuple[int, str, int]:
    """A REPLY's status, status message, and where its message starts."""
    if not payload:
        raise _Malformed("REPLY without a status")
    text, offset = _parse_string16(payload, 1, "REPLY status message")
    return payload[0], text, offset


def _parse_goaway(payload: bytes) -> Tuple[int, str]:
    """A GOAWAY's last call id and message (its status is not used)."""
    if len(payload) < 5:
        raise _Malformed("GOAWAY payload truncated")
    (last_id,) = struct.unpack_from(">I", payload, 0)
    text, _ = _parse_string16(payload, 5, "GOAWAY message")
    return last_id, text


def _inflate(data: bytes, limit: int) -> bytes:
    """zlib-inflates `data`, refusing output beyond `limit` bytes (RESOURCE_EXHAUSTED)."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as e:
        raise RpcError(StatusCode.INTERNAL, f"message decompression failed: {e}") from None
    if len(out) > limit:
        raise RpcError(StatusCode.RESOURCE_EXHAUSTED, f"decompressed message exceeds the limit of {limit} bytes")
    if not d.eof:
        raise RpcError(StatusCode.INTERNAL, "message decompression failed: truncated input")
    return out


def _reply_message(status: int, text: str, body: bytes, compressed: bool, limit: int) -> bytes:
    """A REPLY's message, inflated within `limit` bytes when compressed; or raises the RpcError it
    carries (a status this client does not know as UNKNOWN)."""
    if status != StatusCode.OK:
        try:
            code = StatusCode(status)
        except ValueError:
            code = StatusCode.UNKNOWN
        raise RpcError(code, text)
    return _inflate(body, limit) if compressed else body


def _error_text(payload: bytes) -> str:
    """An ERROR frame's message ("" when malformed: the connection ends either way)."""
    try:
        return _read_string16(payload, 1)[0]
    except (ValueError, UnicodeDecodeError):
        return ""


class _Retry(Exception):
    """The connection went away between lookup and use: take a new one."""


class _Waiter:
    __slots__ = ("event", "result", "error")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.result: Optional[bytes] = None
        self.error: Optional[RpcError] = None

    def resolve(self, result: Optional[bytes] = None, error: Optional[RpcError] = None) -> None:
        self.result = result
        self.error = error
        self.event.set()


class _Connection:
    """One TLS connection. The TLS state lives in an `ssl.SSLObject` over memory BIOs, touched only
    under `_ssl_lock` (an SSL object must not be used by two threads at once); the raw socket is read
    by one reader thread and written under `_send_lock`, so a writer blocked on a full socket never
    stops the reader from taking replies."""

    def __init__(self, channel: "Channel") -> None:
        self._channel = channel
        self._ssl_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._pending: Dict[int, _Waiter] = {}
        self._next_id = 1
        self._closed_error: Optional[RpcError] = None
        self._going_away = False
        self._peer_compression = False
        self._peer_max_frame = 4 << 20
        self._received_settings = False
        self._wire_queue: List[bytes] = []
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        hostname = channel._server_hostname or channel._host
        self._sock = socket.create_connection((channel._host, channel._port), timeout=channel._connect_timeout)
        try:
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._tls = channel._context.wrap_bio(self._incoming, self._outgoing, server_side=False,
                                                  server_hostname=hostname)
            self._handshake()
            self._sock.settimeout(None)
            settings = struct.pack(">HIHIHI", SETTING_MAX_FRAME_SIZE, channel._max_frame_size,
                                   SETTING_MAX_DECOMPRESSED_SIZE, channel._max_decompressed_size,
                                   SETTING_COMPRESSION, COMPRESSION_ZLIB if channel._compression else 0)
            self._send(PREFACE + _frame(SETTINGS, 0, settings))
        except BaseException:
            self._sock.close()
            raise
        self._reader = threading.Thread(target=self._read_loop, name="authrpc-reader", daemon=True)
        self._reader.start()

    # -- TLS plumbing

    def _handshake(self) -> None:
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush_outgoing_unlocked()
                data = self._sock.recv(65536)
                if not data:
                    raise ConnectionError("server closed the connection during the TLS handshake")
                self._incoming.write(data)
        self._flush_outgoing_unlocked()
        selected = self._tls.selected_alpn_protocol()
        if selected is not None and selected != ALPN:
            raise ConnectionError(f"server chose ALPN {selected!r}")

    def _flush_outgoing_unlocked(self) -> None:
        data = self._outgoing.read()
        if data:
            self._sock.sendall(data)

    def _send(self, plaintext: bytes) -> None:
        with self._ssl_lock:
            self._tls.write(plaintext)
            self._wire_queue.append(self._outgoing.read())
        with self._send_lock:
            self._drain_wire_queue()

    def _drain_wire_queue(self) -> None:
        """Sends queued TLS records in the order they were made (caller holds `_send_lock`)."""
        while True:
            with self._ssl_lock:
                data = b"".join(self._wire_queue)
                self._wire_queue.clear()
            if not data:
                return
            self._sock.sendall(data)

    # -- calls

    @property
    def usable(self) -> bool:
        with self._state_lock:
            return self._closed_error is None and not self._going_away and self._next_id < 0xFFFFFFFF

    def unary(self, method: str, request: bytes, metadata: List[Tuple[str, str]], timeout: Optional[float]) -> bytes:
        flags = 0
        message = request
        ch = self._channel
        with self._state_lock:
            peer_compression = self._peer_compression
        if ch._compression and peer_compression and len(request) >= ch._compression_threshold:
            packed = zlib.compress(request)
            if len(packed) < len(request):
                message, flags = packed, FLAG_COMPRESSED
        timeout_ms = 0 if timeout is None else max(1, min(0xFFFFFFFE, int(timeout * 1000 + 0.999)))
        head = _string16(method) + struct.pack(">IH", timeout_ms, len(metadata))
        for key, value in metadata:
            head += _string16(key.lower()) + _string16(value)
        waiter = _Waiter()
        # Ids must reach the server in increasing order: take the id and make the TLS record
        # under the same lock, so records queue in id order.
        try:
            with self._ssl_lock:
                with self._state_lock:
                    if self._closed_error is not None or self._going_away:
                        raise _Retry()
                    if len(head) + len(message) > self._peer_max_frame:
                        raise RpcError(StatusCode.RESOURCE_EXHAUSTED, "request larger than the server's frame limit")
                    call_id = self._next_id
                    self._next_id += 1
                    self._pending[call_id] = waiter
                self._tls.write(_frame(CALL, call_id, head + message, flags))
                self._wire_queue.append(self._outgoing.read())
            with self._send_lock:
                self._drain_wire_queue()
        except (OSError, ssl.SSLError) as e:
            self._fail_all(RpcError(StatusCode.UNAVAILABLE, f"connection failed: {e}"))
        if not waiter.event.wait(timeout):
            with self._state_lock:
                mine = self._pending.pop(call_id, None) is waiter
            if mine:
                try:
                    self._send(_frame(CANCEL, call_id, b""))
                except (OSError, ssl.SSLError):
                    pass
                raise RpcError(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")
            waiter.event.wait()
        if waiter.error is not None:
            raise waiter.error
        assert waiter.result is not None
        return waiter.result

    # -- reader thread

    def _read_loop(self) -> None:
        buffer = bytearray()
        error = RpcError(StatusCode.UNAVAILABLE, "server closed the connection")
        try:
            while True:
                data = self._sock.recv(65536)
                if not data:
                    break
                plaintext = bytearray()
                with self._ssl_lock:
                    self._incoming.write(data)
                    while True:
                        try:
                            chunk = self._tls.read(65536)
                        except ssl.SSLWantReadError:
                            break
                        except ssl.SSLZeroReturnError:
                            chunk = b""
                        if not chunk:
                            break
                        plaintext += chunk
                    pending_out = self._outgoing.read()
                    if pending_out:
                        self._wire_queue.append(pending_out)
                # TLS records made while reading (rare: key updates) go out in order; a writer
                # holding the send lock sends them too. Never block the reader on a writer.
                if pending_out and self._send_lock.acquire(blocking=False):
                    try:
                        self._drain_wire_queue()
                    finally:
                        self._send_lock.release()
                buffer += plaintext
                try:
                    if not self._parse(buffer):
                        error = self._closed_error or error
                        break
                except _Malformed as e:
                    self._violation(StatusCode.INTERNAL, str(e))
                    error = self._closed_error or error
                    break
        except (OSError, ssl.SSLError) as e:
            error = RpcError(StatusCode.UNAVAILABLE, f"connection failed: {e}")
        except Exception as e:  # noqa: BLE001 - a bug here must fail the calls, never leave them waiting
            error = RpcError(StatusCode.INTERNAL, f"client failed reading the connection: {type(e).__name__}")
        self._fail_all(error)
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes a writer blocked on this socket
        except OSError:
            pass
        try:
            self._sock.close()
        except OSError:
            pass

    def _parse(self, buffer: bytearray) -> bool:
        """Handles every complete frame in `buffer`; False when the connection must end.
        Raises _Malformed for a frame it cannot parse."""
        limit = self._channel._max_frame_size
        while len(buffer) >= HEADER.size:
            length, frame_type, flags, call_id = HEADER.unpack_from(buffer, 0)
            if length > limit:
                self._violation(StatusCode.RESOURCE_EXHAUSTED, f"frame of {length} bytes exceeds the limit")
                return False
            if len(buffer) < HEADER.size + length:
                return True
            payload = bytes(buffer[HEADER.size:HEADER.size + length])
            del buffer[:HEADER.size + length]
            if not self._handle(frame_type, flags, call_id, payload):
                return False
        return True

    def _handle(self, frame_type: int, flags: int, call_id: int, payload: bytes) -> bool:
        if not self._received_settings:
            if frame_type != SETTINGS:
                if frame_type == ERROR:
                    return self._peer_error(payload)
                self._violation(StatusCode.INTERNAL, "the first frame must be SETTINGS")
                return False
            if len(payload) % 6:
                self._violation(StatusCode.INTERNAL, "SETTINGS payload is not a multiple of 6 bytes")
                return False
            with self._state_lock:
                for off in range(0, len(payload), 6):
                    sid, value = struct.unpack_from(">HI", payload, off)
                    if sid == SETTING_COMPRESSION:
                        self._peer_compression = bool(value & COMPRESSION_ZLIB)
                    elif sid == SETTING_MAX_FRAME_SIZE:
                        self._peer_max_frame = value
                self._received_settings = True
            return True
        if frame_type == REPLY:
            # Parsed before the call is taken off the pending list, so a malformed REPLY fails it too.
            status, text, offset = _parse_reply_head(payload)
            with self._state_lock:
                waiter = self._pending.pop(call_id, None)
            if waiter is None:
                return True  # cancelled or timed out earlier
            try:
                body = _reply_message(status, text, payload[offset:], bool(flags & FLAG_COMPRESSED),
                                      self._channel._max_decompressed_size)
            except RpcError as e:
                waiter.resolve(error=e)
                return True
            waiter.resolve(result=body)
            return True
        if frame_type == PING:
            if len(payload) != 8:
                raise _Malformed("PING payload is not 8 bytes")
            self._send(_frame(PONG, 0, payload))
            return True
        if frame_type == PONG:
            return True
        if frame_type == GOAWAY:
            last_id, text = _parse_goaway(payload)
            with self._state_lock:
                self._going_away = True
                refused = [cid for cid in self._pending if cid > last_id]
                waiters = [self._pending.pop(cid) for cid in refused]
            for w in waiters:
                w.resolve(error=RpcError(StatusCode.UNAVAILABLE, f"server going away: {text}", not_processed=True))
            return True
        if frame_type == ERROR:
            return self._peer_error(payload)
        self._violation(StatusCode.INTERNAL, f"unexpected frame type {frame_type}")
        return False

    def _peer_error(self, payload: bytes) -> bool:
        self._fail_all(RpcError(StatusCode.UNAVAILABLE, f"server closed the connection: {_error_text(payload)}"))
        return False

    def _violation(self, code: StatusCode, message: str) -> None:
        """The server broke the protocol: fail every call first, then tell it with ERROR if the
        socket is free (never wait behind a writer stuck on a server that does not read)."""
        self._fail_all(RpcError(StatusCode.UNAVAILABLE, f"protocol error from server: {message}"))
        with self._ssl_lock:
            try:
                self._tls.write(_frame(ERROR, 0, bytes([code]) + _string16(message)))
                self._wire_queue.append(self._outgoing.read())
            except ssl.SSLError:
                return
        if self._send_lock.acquire(timeout=1.0):
            try:
                self._sock.settimeout(1.0)  # the connection is over: its last frame may not wait long
                self._drain_wire_queue()
            except OSError:
                pass
            finally:
                self._send_lock.release()

    def _fail_all(self, error: RpcError) -> None:
        with self._state_lock:
            if self._closed_error is None:
                self._closed_error = error
            waiters = list(self._pending.values())
            self._pending.clear()
        for w in waiters:
            w.resolve(error=error)

    def close(self) -> None:
        self._fail_all(RpcError(StatusCode.UNAVAILABLE, "channel closed"))
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()


class _ChannelSettings:
    """What `Channel` and `authrpc.AsyncChannel` share: the server, the limits and the TLS context."""

    def __init__(self, host: str, port: int, *, ca_file: Optional[str] = None, cert_file: Optional[str] = None,
                 key_file: Optional[str] = None, server_hostname: Optional[str] = None, compression: bool = True,
                 timeout: Optional[float] = None, compression_threshold: int = 1024,
                 max_frame_size: int = 4 << 20, max_decompressed_size: int = 4 << 20,
                 connect_timeout: float = 5.0, minimum_tls_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2) -> None:
        self._host = host
        self._port = port
        self._server_hostname = server_hostname
        self._compression = compression
        self._timeout = timeout
        self._compression_threshold = compression_threshold
        self._max_frame_size = max_frame_size
        self._max_decompressed_size = max_decompressed_size
        self._connect_timeout = connect_timeout
        context = ssl.create_default_context(cafile=ca_file)
        context.minimum_version = minimum_tls_version
        context.set_alpn_protocols([ALPN])
        if cert_file:
            context.load_cert_chain(cert_file, key_file)
        self._context = context
        self._init_state()

    def _init_state(self) -> None:
        """Sets up the subclass's connection state (no connection is made before the first call)."""
        raise NotImplementedError


class Channel(_ChannelSettings):
    """A thread-safe client channel: one TLS connection, many concurrent calls, reconnect on demand."""

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._connection: Optional[_Connection] = None
        self._closed = False

    def unary(self, method: str, request: bytes, *, metadata: MetadataArg = None,
              timeout: Optional[float] = None) -> bytes:
        """Calls `method` ("package.Service/Method") with the request bytes; returns the reply bytes
        or raises RpcError (UNAVAILABLE when the connection fails, DEADLINE_EXCEEDED on timeout)."""
        if isinstance(metadata, dict):
            pairs = list(metadata.items())
        else:
            pairs = list(metadata or [])
        if timeout is None:
            timeout = self._timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        for _ in range(2):
            connection = self._get_connection()
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return connection.unary(method, bytes(request), pairs, remaining)
            except _Retry:
                continue
        raise RpcError(StatusCode.UNAVAILABLE, "connection unavailable", not_processed=True)

    def _get_connection(self) -> _Connection:
        with self._lock:
            if self._closed:
                raise RpcError(StatusCode.UNAVAILABLE, "channel closed", not_processed=True)
            if self._connection is None or not self._connection.usable:
                try:
                    self._connection = _Connection(self)
                except (OSError, ssl.SSLError, ConnectionError) as e:
                    self._connection = None
                    raise RpcError(StatusCode.UNAVAILABLE,
                                   f"cannot connect to {self._host}:{self._port}: {e}", not_processed=True) from None
            return self._connection

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def __enter__(self) -> "Channel":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
