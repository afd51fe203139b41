"""Fixtures the live gRPC tests share."""

import importlib
import pathlib
import sys
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def pb():
    """auth_pb2 and auth_pb2_grpc, generated from schema/auth.proto into a temporary directory."""
    from grpc_tools import protoc
    out = tempfile.mkdtemp(prefix="authd-grpc-stubs-")
    rc = protoc.main(["protoc", f"-I{ROOT / 'schema'}", f"--python_out={out}", f"--grpc_python_out={out}",
                      str(ROOT / "schema" / "auth.proto")])
    assert rc == 0, "protoc failed"
    sys.path.insert(0, out)
    try:
        return importlib.import_module("auth_pb2"), importlib.import_module("auth_pb2_grpc")
    finally:
        sys.path.remove(out)
