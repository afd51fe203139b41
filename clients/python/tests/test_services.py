"""Service identities through the Python client, against a live authd on MariaDB.

The Swift test `ServiceIdentityTests.testPythonServiceTokenAndValidate` (Tests/EndToEndTests)
starts the server, creates the service account with `authd admin service create` and runs this
file with the environment below; without it these tests are skipped.

  AUTHD_SERVICES_ADDRESS, AUTHD_SERVICES_CA      the server
  AUTHD_SERVICES_CLIENT_ID, _CLIENT_SECRET       a service account with scopes orders:read orders:write
  AUTHD_SERVICES_MESH_CERT, _MESH_KEY, _MESH_ID  a client certificate bound by its URI SAN to the
                                                  account _MESH_ID (scope inventory:read)
"""

import os

import pytest

from authrpc import Channel, RpcError, StatusCode
import auth_api as api

ADDRESS = os.environ.get("AUTHD_SERVICES_ADDRESS")
pytestmark = pytest.mark.skipif(ADDRESS is None, reason="needs a live authd (run by the Swift ServiceIdentityTests)")


@pytest.fixture(scope="module")
def client():
    host, port = ADDRESS.rsplit(":", 1)
    with Channel(host, int(port), ca_file=os.environ["AUTHD_SERVICES_CA"]) as channel:
        yield api.AuthClient(channel)


def credentials(**kwargs):
    return api.ServiceTokenRequest(client_id=os.environ["AUTHD_SERVICES_CLIENT_ID"],
                                   client_secret=os.environ["AUTHD_SERVICES_CLIENT_SECRET"], **kwargs)


def test_service_token_and_validate_fields(client):
    reply = client.service_token(credentials(scopes=["orders:read"]))
    assert reply.scopes == ["orders:read"]
    assert reply.refresh_token == ""
    answer = client.validate(api.ValidateRequest(token=reply.token, required_scopes=["orders:read"]))
    assert answer.valid
    assert answer.kind == api.SubjectKind.SUBJECT_KIND_SERVICE
    assert answer.subject == "svc:" + os.environ["AUTHD_SERVICES_CLIENT_ID"]
    assert answer.scopes == ["orders:read"]
    assert answer.roles == []
    refused = client.validate(api.ValidateRequest(token=reply.token, required_scopes=["orders:write"]))
    assert not refused.valid
    assert refused.refusal == api.TokenRefusal.TOKEN_REFUSAL_FORBIDDEN
    assert refused.message == "Insufficient scope."


def test_service_token_errors(client):
    with pytest.raises(RpcError) as e:
        client.service_token(api.ServiceTokenRequest(client_id=os.environ["AUTHD_SERVICES_CLIENT_ID"], client_secret="cs_wrong"))
    assert e.value.code == StatusCode.UNAUTHENTICATED
    assert e.value.message == "Invalid client credentials."
    with pytest.raises(RpcError) as e:
        client.service_token(credentials(scopes=["admin"]))
    assert e.value.code == StatusCode.PERMISSION_DENIED
    assert e.value.message == "Scope not granted to this service."


def test_service_token_by_bound_certificate_over_grpc(pb):
    """Standard gRPC (grpcio, stubs from schema/auth.proto) with the bound client certificate: no
    secret needed; without the certificate the same call is refused."""
    grpc = pytest.importorskip("grpc")
    with open(os.environ["AUTHD_SERVICES_CA"], "rb") as f:
        ca = f.read()
    with open(os.environ["AUTHD_SERVICES_MESH_CERT"], "rb") as f:
        cert = f.read()
    with open(os.environ["AUTHD_SERVICES_MESH_KEY"], "rb") as f:
        key = f.read()
    auth_pb2, auth_pb2_grpc = pb
    with grpc.secure_channel(ADDRESS, grpc.ssl_channel_credentials(ca, key, cert)) as channel:
        stub = auth_pb2_grpc.AuthStub(channel)
        reply = stub.ServiceToken(auth_pb2.ServiceTokenRequest(), timeout=10)
        assert list(reply.scopes) == ["inventory:read"]
        answer = stub.Validate(auth_pb2.ValidateRequest(token=reply.token, required_scopes=["inventory:read"]), timeout=10)
        assert answer.valid and answer.subject == "svc:" + os.environ["AUTHD_SERVICES_MESH_ID"]
        assert answer.kind == auth_pb2.SUBJECT_KIND_SERVICE
    with grpc.secure_channel(ADDRESS, grpc.ssl_channel_credentials(ca)) as channel:
        with pytest.raises(grpc.RpcError) as e:
            auth_pb2_grpc.AuthStub(channel).ServiceToken(auth_pb2.ServiceTokenRequest(), timeout=10)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
