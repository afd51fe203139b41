"""AsyncChannel against a fake authrpc/1 server on loopback over TLS: the server's call window is
honoured, and a call whose deadline passes or whose task is cancelled sends CANCEL. (Against a live
authd, 1,000 concurrent calls: tests/aio_live.py, run by the Swift test ClientPackagesTests.)
Standalone: needs only `openssl` to make a throw-away certificate."""

import asyncio
import shutil
import ssl
import struct
import subprocess

import pytest

from authrpc import AsyncChannel, RpcError, StatusCode
from authrpc.channel import ALPN, CALL, CANCEL, HEADER, PREFACE, REPLY, SETTING_MAX_CALLS_IN_FLIGHT, SETTINGS

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")

WINDOW = 4
HOLD = "t.v1.T/Hold"  # never answered
ECHO = "t.v1.T/Echo"  # answered at once with the request


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("aio-server")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=30)
    return str(cert), str(key)


class FakeServer:
    """Announces MAX_CALLS_IN_FLIGHT = WINDOW; records CALLs and CANCELs; answers ECHO calls."""

    def __init__(self):
        self.calls = []  # call ids, in arrival order
        self.cancels = []
        self.held = set()
        self.most_held = 0
        self.changed = asyncio.Event()

    async def start(self, certificate):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*certificate)
        context.set_alpn_protocols([ALPN])
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=context)
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader, writer):
        try:
            assert await reader.readexactly(len(PREFACE)) == PREFACE
            writer.write(HEADER.pack(6, SETTINGS, 0, 0) + struct.pack(">HI", SETTING_MAX_CALLS_IN_FLIGHT, WINDOW))
            while True:
                length, frame_type, _, call_id = HEADER.unpack(await reader.readexactly(HEADER.size))
                payload = await reader.readexactly(length)
                if frame_type == CALL:
                    (n,) = struct.unpack_from(">H", payload, 0)
                    method = payload[2:2 + n].decode()
                    self.calls.append(call_id)
                    if method == ECHO:
                        body = b"\x00" + struct.pack(">H", 0)
                        writer.write(HEADER.pack(len(body), REPLY, 0, call_id) + body)
                    else:
                        self.held.add(call_id)
                        self.most_held = max(self.most_held, len(self.held))
                elif frame_type == CANCEL:
                    self.cancels.append(call_id)
                    self.held.discard(call_id)
                self.changed.set()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def wait_for(self, predicate, seconds=5.0):
        async def loop():
            while not predicate():
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(loop(), seconds)

    async def close(self):
        self.server.close()


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 30))


def test_window_deadlines_and_cancel(certificate):
    async def scenario():
        server = FakeServer()
        port = await server.start(certificate)
        async with AsyncChannel("127.0.0.1", port, ca_file=certificate[0], server_hostname="localhost") as channel:
            # Ten calls at once, WINDOW at a time: the rest wait in the client, and all run out of time.
            results = await asyncio.gather(*(channel.unary(HOLD, b"", timeout=0.5) for _ in range(10)),
                                           return_exceptions=True)
            assert all(isinstance(r, RpcError) and r.code == StatusCode.DEADLINE_EXCEEDED for r in results), results
            await server.wait_for(lambda: len(server.cancels) == WINDOW)
            assert server.most_held == WINDOW
            assert sorted(server.cancels) == sorted(server.calls) and len(server.calls) == WINDOW

            # A cancelled task sends CANCEL for its call.
            task = asyncio.ensure_future(channel.unary(HOLD, b""))
            await server.wait_for(lambda: len(server.calls) == WINDOW + 1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await server.wait_for(lambda: server.cancels[-1:] == server.calls[-1:])

            # The window is free again and the connection still serves calls.
            replies = await asyncio.gather(*(channel.unary(ECHO, b"", timeout=5) for _ in range(3 * WINDOW)))
            assert replies == [b""] * (3 * WINDOW)
        await server.close()

    run(scenario())


def test_unreachable_server_is_unavailable(certificate):
    async def scenario():
        async with AsyncChannel("127.0.0.1", 1, ca_file=certificate[0], connect_timeout=2) as channel:
            with pytest.raises(RpcError) as failure:
                await channel.unary(ECHO, b"")
            assert failure.value.code == StatusCode.UNAVAILABLE and failure.value.not_processed

    run(scenario())
