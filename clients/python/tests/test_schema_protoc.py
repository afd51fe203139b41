"""The official protoc (from grpcio-tools) accepts schema/auth.proto, reads the same idempotency
levels as rpcgen, and its message classes and ours encode to bytes the other decodes."""

from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys

import pytest
from google.protobuf import descriptor_pb2

import auth_api as ours
from authrpc import Idempotency

SCHEMA_DIR = pathlib.Path(__file__).resolve().parents[3] / "schema"


@pytest.fixture(scope="module")
def theirs(tmp_path_factory):
    """auth_pb2, compiled by protoc from the schema into a temporary folder and imported."""
    out = tmp_path_factory.mktemp("protoc")
    run = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{SCHEMA_DIR}", f"--python_out={out}",
                          "auth.proto"], capture_output=True, text=True)
    assert run.returncode == 0, f"protoc refused schema/auth.proto:\n{run.stderr}"
    spec = importlib.util.spec_from_file_location("auth_pb2", out / "auth_pb2.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_protoc_reads_the_idempotency_levels(theirs):
    methods = theirs.DESCRIPTOR.services_by_name["Auth"].methods_by_name
    options = descriptor_pb2.MethodOptions
    assert methods["Validate"].GetOptions().idempotency_level == options.NO_SIDE_EFFECTS
    assert methods["Login"].GetOptions().idempotency_level == options.IDEMPOTENCY_UNKNOWN
    # Every method: protoc's level is the one rpcgen put into the generated client.
    for name, method in methods.items():
        descriptor = next(getattr(ours.AuthClient.Method, attr) for attr in vars(ours.AuthClient.Method)
                          if getattr(ours.AuthClient.Method, attr) == f"auth.v1.Auth/{name}")
        assert descriptor.idempotency == Idempotency(method.GetOptions().idempotency_level), name


def test_protoc_messages_and_ours_read_each_other(theirs):
    reply = theirs.ValidateReply(valid=False, user_id=-7, admin=True, expires_at=1_900_000_000, expires_in=3600,
                                 refusal=theirs.TOKEN_REFUSAL_REVOKED, message="Token blacklisted. Please log in again.")
    decoded = ours.ValidateReply.decode(reply.SerializeToString())
    assert decoded == ours.ValidateReply(valid=False, user_id=-7, admin=True, expires_at=1_900_000_000, expires_in=3600,
                                         refusal=ours.TokenRefusal.TOKEN_REFUSAL_REVOKED,
                                         message="Token blacklisted. Please log in again.")

    mine = ours.TokenReply(token="a.b.c", expires_at=1_700_000_000, refresh_token="r" * 43,
                           refresh_expires_at=1_800_000_000, user_id=42)
    parsed = theirs.TokenReply.FromString(mine.encode())
    assert (parsed.token, parsed.expires_at, parsed.refresh_token, parsed.refresh_expires_at, parsed.user_id) == \
        ("a.b.c", 1_700_000_000, "r" * 43, 1_800_000_000, 42)

    health = ours.HealthReply(status=ours.HealthReply.ServingStatus.NOT_SERVING)
    assert theirs.HealthReply.FromString(health.encode()).status == theirs.HealthReply.NOT_SERVING
