"""The Python channel against a live test server over TLS.

The Swift test `PythonChannelTests` starts the transport's test service (Echo/Slow/Fail/Metadata,
see Tests/RPCTransportTests/TestService.swift) and runs this file with the environment below;
without it these tests are skipped.

  AUTHRPC_TEST_PORT        port of a server without mTLS
  AUTHRPC_TEST_MTLS_PORT   port of a server requiring client certificates
  AUTHRPC_TEST_CA          CA file; AUTHRPC_TEST_CLIENT_CERT / AUTHRPC_TEST_CLIENT_KEY a client certificate
"""

import os
import struct
import threading
import time

import pytest

from authrpc import Channel, RpcError, StatusCode

PORT = os.environ.get("AUTHRPC_TEST_PORT")
pytestmark = pytest.mark.skipif(PORT is None, reason="needs a live test server (run by the Swift PythonChannelTests)")

ECHO = "rpctest.v1.Echo/Echo"
SLOW = "rpctest.v1.Echo/Slow"
FAIL = "rpctest.v1.Echo/Fail"
METADATA = "rpctest.v1.Echo/Metadata"


def channel(**kwargs):
    return Channel("127.0.0.1", int(PORT), ca_file=os.environ["AUTHRPC_TEST_CA"], **kwargs)


def slow_request(millis, ident=0):
    return struct.pack(">II", millis, ident)


def test_echo():
    with channel() as ch:
        assert ch.unary(ECHO, b"hello") == b"hello"
        assert ch.unary(ECHO, b"") == b""


def test_host_name_verified():
    with Channel("localhost", int(PORT), ca_file=os.environ["AUTHRPC_TEST_CA"]) as ch:
        assert ch.unary(ECHO, b"x") == b"x"
    with channel(server_hostname="other.example") as ch:
        with pytest.raises(RpcError) as e:
            ch.unary(ECHO, b"x")
        assert e.value.code == StatusCode.UNAVAILABLE


def test_status_and_metadata():
    with channel() as ch:
        reply = ch.unary(METADATA, b"", metadata={"authorization": "Bearer tok"})
        assert reply.decode() == "authorization=Bearer tok\nsubject="
        with pytest.raises(RpcError) as e:
            ch.unary(FAIL, bytes([StatusCode.ALREADY_EXISTS]) + "taken é".encode())
        assert e.value.code == StatusCode.ALREADY_EXISTS
        assert e.value.message == "taken é"
        with pytest.raises(RpcError) as e:
            ch.unary("rpctest.v1.Echo/Nope", b"")
        assert e.value.code == StatusCode.UNIMPLEMENTED


def test_many_threads_one_connection_out_of_order():
    errors = []
    with channel() as ch:
        def worker(t):
            for i in range(100):
                ident = t * 1000 + i
                try:
                    if i % 10 == 0:
                        req = slow_request((i // 10 % 3) * 10, ident)
                        assert ch.unary(SLOW, req, timeout=20) == req
                    else:
                        req = str(ident).encode()
                        assert ch.unary(ECHO, req, timeout=20) == req
                except Exception as e:  # noqa: BLE001 - collected and asserted below
                    errors.append(e)
        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        assert errors[:3] == []
        connection = ch._connection
        assert connection is not None and connection._next_id == 8 * 100 + 1, "one connection carried every call"
    assert errors == []


def test_deadline_exceeded():
    with channel() as ch:
        with pytest.raises(RpcError) as e:
            ch.unary(SLOW, slow_request(1000), timeout=0.1)
        assert e.value.code == StatusCode.DEADLINE_EXCEEDED
        assert ch.unary(ECHO, b"still fine") == b"still fine"


def test_compression_above_threshold():
    # Above the 1 KiB compression threshold, below the server's 64 KiB message limit.
    big = b"validate me " * 5000
    with channel() as ch:
        ch.unary(ECHO, b"settings first")
        assert ch.unary(ECHO, big) == big
    with channel(compression=False) as ch:
        assert ch.unary(ECHO, big) == big


MTLS_PORT = os.environ.get("AUTHRPC_TEST_MTLS_PORT")


@pytest.mark.skipif(MTLS_PORT is None, reason="needs the mTLS test server")
def test_mtls_accepted_and_refused():
    ca = os.environ["AUTHRPC_TEST_CA"]
    with Channel("127.0.0.1", int(MTLS_PORT), ca_file=ca, cert_file=os.environ["AUTHRPC_TEST_CLIENT_CERT"],
                 key_file=os.environ["AUTHRPC_TEST_CLIENT_KEY"]) as ch:
        assert ch.unary(METADATA, b"").decode() == "subject=/CN=test-client"
    with Channel("127.0.0.1", int(MTLS_PORT), ca_file=ca) as ch:
        with pytest.raises(RpcError) as e:
            ch.unary(ECHO, b"x", timeout=5)
        assert e.value.code == StatusCode.UNAVAILABLE


SHUTDOWN_PORT = os.environ.get("AUTHRPC_TEST_SHUTDOWN_PORT")


@pytest.mark.skipif(SHUTDOWN_PORT is None, reason="needs the shutdown test server")
def test_graceful_shutdown_finishes_in_flight_call():
    """The server drains on Control/Shutdown: the slow call in flight completes, new calls get UNAVAILABLE."""
    result = {}
    with Channel("127.0.0.1", int(SHUTDOWN_PORT), ca_file=os.environ["AUTHRPC_TEST_CA"]) as ch:
        assert ch.unary(ECHO, b"up") == b"up"

        def slow():
            try:
                result["slow"] = ch.unary(SLOW, slow_request(500), timeout=10)
            except RpcError as e:
                result["slow"] = e

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.1)
        ch.unary("rpctest.v1.Control/Shutdown", b"", timeout=5)
        time.sleep(0.1)
        with pytest.raises(RpcError) as e:
            ch.unary(ECHO, b"late", timeout=5)
        assert e.value.code == StatusCode.UNAVAILABLE
        t.join(10)
        assert result["slow"] == slow_request(500)
        with pytest.raises(RpcError) as e:
            ch.unary(ECHO, b"later", timeout=5)
        assert e.value.code == StatusCode.UNAVAILABLE
