"""The channel against a misbehaving server: a fake authrpc/1 server on loopback over TLS.

After the handshake, the preface and SETTINGS, the fake server waits until the client has calls in
flight, then sends a frame the client cannot parse (a malformed GOAWAY, REPLY, ERROR or PING, an
unknown frame type, a second SETTINGS, a frame over the client's limit) and keeps the connection
open. Every pending call must fail at once with UNAVAILABLE (never hang), the client must leave
the connection (sending ERROR for a frame it cannot parse), and the next call must go over a new connection. Standalone: needs only `openssl` to make
a throw-away certificate.
"""

import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time

import pytest

from authrpc import Channel, RpcError, StatusCode
from authrpc.channel import ALPN, CALL, ERROR, GOAWAY, HEADER, PING, PREFACE, REPLY, SETTINGS

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")

ECHO = "rpctest.v1.Echo/Echo"
PENDING = 3
PROMPTLY = 3.0  # seconds a pending call may take to fail; the calls themselves have no timeout


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for localhost, made now (its own trust root)."""
    folder = tmp_path_factory.mktemp("hostile-server")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=30)
    return str(cert), str(key)


def frame(frame_type, call_id, payload, flags=0):
    return HEADER.pack(len(payload), frame_type, flags, call_id) + payload


def string16(text):
    data = text.encode() if isinstance(text, str) else text
    return struct.pack(">H", len(data)) + data


class FakeServer:
    """Accepts connections one after another. On the first, `hostile` bytes are sent once
    PENDING calls arrived, and the connection is left open until the test ends; later
    connections answer every CALL with an OK REPLY echoing the request."""

    def __init__(self, certificate, hostile):
        cert, key = certificate
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.context.set_alpn_protocols([ALPN])
        self.hostile = hostile
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.client_left = threading.Event()  # ERROR received, or the client closed
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.listener.close()

    def _serve(self):
        held = []
        try:
            while not self.stop.is_set():
                try:
                    raw, _ = self.listener.accept()
                except socket.timeout:
                    continue
                raw.settimeout(10)
                conn = self.context.wrap_socket(raw, server_side=True)
                self.connections += 1
                held.append(conn)
                threading.Thread(target=self._talk, args=(conn, self.connections == 1), daemon=True).start()
        finally:
            for conn in held:
                try:
                    conn.close()
                except OSError:
                    pass

    def _talk(self, conn, hostile):
        try:
            reader = Frames(conn)
            if reader.read_exact(len(PREFACE)) != PREFACE:
                return
            first = reader.next()
            assert first[0] == SETTINGS
            conn.sendall(frame(SETTINGS, 0, b""))
            calls = 0
            while True:
                frame_type, _, call_id, payload = reader.next()
                if frame_type == ERROR:
                    self.client_left.set()
                    return
                if frame_type != CALL:
                    continue
                calls += 1
                if hostile:
                    if calls == PENDING:
                        conn.sendall(self.hostile)
                else:
                    conn.sendall(frame(REPLY, call_id, bytes([0]) + string16("") + echo_message(payload)))
        except (OSError, ssl.SSLError, EOFError):
            self.client_left.set()
        except AssertionError:
            return


class Frames:
    def __init__(self, conn):
        self.conn = conn
        self.buffer = b""

    def read_exact(self, n):
        while len(self.buffer) < n:
            data = self.conn.recv(65536)
            if not data:
                raise EOFError
            self.buffer += data
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def next(self):
        length, frame_type, flags, call_id = HEADER.unpack(self.read_exact(HEADER.size))
        return frame_type, flags, call_id, self.read_exact(length)


def echo_message(call_payload):
    """The request message of a CALL payload (method, timeout, metadata skipped)."""
    (n,) = struct.unpack_from(">H", call_payload, 0)
    offset = 2 + n + 4
    (count,) = struct.unpack_from(">H", call_payload, offset)
    offset += 2
    for _ in range(2 * count):
        (n,) = struct.unpack_from(">H", call_payload, offset)
        offset += 2 + n
    return call_payload[offset:]


HOSTILE_FRAMES = {
    "GOAWAY shorter than its call id": frame(GOAWAY, 0, b"\x00\x01"),
    "GOAWAY without status and message": frame(GOAWAY, 0, struct.pack(">I", 0)),
    "GOAWAY with a message past its end": frame(GOAWAY, 0, struct.pack(">IB", 0, 14) + b"\x00\x09bye"),
    "GOAWAY with a message not UTF-8": frame(GOAWAY, 0, struct.pack(">IB", 0, 14) + string16(b"\xff\xfe")),
    "REPLY with an empty payload": frame(REPLY, 1, b""),
    "REPLY with a truncated status message": frame(REPLY, 1, b"\x00\x00\x05ab"),
    "ERROR with an empty payload": frame(ERROR, 0, b""),
    "PING without 8 bytes": frame(PING, 0, b"\x01\x02"),
    "SETTINGS twice": frame(SETTINGS, 0, b""),
    "an unknown frame type": frame(0x7F, 0, b"garbage"),
    "a frame over the client's limit": HEADER.pack(0xFFFFFFF0, REPLY, 0, 1) + b"x" * 64,
}


@pytest.mark.parametrize("name", sorted(HOSTILE_FRAMES))
def test_pending_calls_fail_promptly_and_the_channel_reconnects(certificate, name):
    server = FakeServer(certificate, HOSTILE_FRAMES[name])
    ch = Channel("localhost", server.port, ca_file=certificate[0], compression=False)
    outcomes = []
    lock = threading.Lock()

    def call(i):
        started = time.monotonic()
        try:
            ch.unary(ECHO, b"call %d" % i, timeout=None)  # no deadline: only the client's own handling ends it
            outcome = ("OK", 0.0)
        except RpcError as e:
            outcome = (e.code, time.monotonic() - started)
        with lock:
            outcomes.append(outcome)

    try:
        threads = [threading.Thread(target=call, args=(i,), daemon=True) for i in range(PENDING)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in threads), f"{name}: pending calls hang"
        codes = [code for code, _ in outcomes]
        assert codes == [StatusCode.UNAVAILABLE] * PENDING, f"{name}: {outcomes}"
        assert max(seconds for _, seconds in outcomes) < PROMPTLY, f"{name}: {outcomes}"
        assert server.client_left.wait(5), f"{name}: the client kept the connection"
        # The connection is no longer used: the next call goes over a new one (which behaves).
        assert ch.unary(ECHO, b"after", timeout=10) == b"after"
        assert server.connections == 2
    finally:
        ch.close()
        server.close()
