"""gRPC health, server reflection and Envoy's ext_authz over authrpc/1, with messages no one here
wrote: grpcio-health-checking's and grpcio-reflection's generated protobuf classes and Envoy's
own from xds-protos, sent through the authrpc Channel as bytes.

The Swift test `StandardServicesEndToEndTests` (Tests/EndToEndTests) runs this file with:
  AUTHD_STD_ADDRESS, AUTHD_STD_CA      a server with the defaults, and its CA file
  AUTHD_STD_SHORT_ADDRESS, AUTHD_STD_SHORT_CA  a server whose access tokens live one second
  AUTHD_STD_EXPECT_HEALTH              SERVING (the default) or NOT_SERVING (its database is stopped):
                                       (the Swift test then selects test_health alone, -k)
"""

import os
import time
import uuid

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2

import auth_api as api
from authrpc import Channel, RpcError, StatusCode

ADDRESS = os.environ.get("AUTHD_STD_ADDRESS")
pytestmark = pytest.mark.skipif(ADDRESS is None, reason="needs a live authd (run by the Swift StandardServicesEndToEndTests)")

HEALTH = "grpc.health.v1.Health/Check"
REFLECTION = {"v1": "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
              "v1alpha": "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"}
ENVOY = "envoy.service.auth.v3.Authorization/Check"


def _channel(address_var="AUTHD_STD_ADDRESS", ca_var="AUTHD_STD_CA"):
    host, port = os.environ[address_var].rsplit(":", 1)
    return Channel(host, int(port), ca_file=os.environ[ca_var])


@pytest.fixture(scope="module")
def channel():
    with _channel() as c:
        yield c


def test_health(channel):
    expected = os.environ.get("AUTHD_STD_EXPECT_HEALTH", "SERVING")
    for service in ["", "auth.v1.Auth"]:
        reply = health_pb2.HealthCheckResponse.FromString(
            channel.unary(HEALTH, health_pb2.HealthCheckRequest(service=service).SerializeToString()))
        assert health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status) == expected, service
    with pytest.raises(RpcError) as failed:
        channel.unary(HEALTH, health_pb2.HealthCheckRequest(service="no.such.Service").SerializeToString())
    assert failed.value.code == StatusCode.NOT_FOUND
    with pytest.raises(RpcError) as watch:
        channel.unary("grpc.health.v1.Health/Watch", health_pb2.HealthCheckRequest().SerializeToString())
    assert watch.value.code == StatusCode.UNIMPLEMENTED


def _reflect(channel, version="v1alpha", **fields):
    request = reflection_pb2.ServerReflectionRequest(**fields)
    return reflection_pb2.ServerReflectionResponse.FromString(channel.unary(REFLECTION[version], request.SerializeToString()))


def test_reflection_lists_the_services(channel):
    for version in REFLECTION:
        reply = _reflect(channel, version, list_services="")
        assert [s.name for s in reply.list_services_response.service] == [
            "auth.v1.Auth", "envoy.service.auth.v3.Authorization", "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]
    missing = _reflect(channel, file_by_filename="nope.proto")
    assert missing.error_response.error_code == StatusCode.NOT_FOUND
    extension = _reflect(channel, file_containing_extension=reflection_pb2.ExtensionRequest(
        containing_type="auth.v1.ValidateRequest", extension_number=100))
    assert extension.error_response.error_code == StatusCode.NOT_FOUND


def test_reflection_descriptors_build_a_request(channel):
    """Fetch auth.proto by a symbol, decode it with descriptor_pb2, and call Validate and Health with
    messages made from it alone."""
    reply = _reflect(channel, file_containing_symbol="auth.v1.Auth.Validate")
    files = [descriptor_pb2.FileDescriptorProto.FromString(b) for b in reply.file_descriptor_response.file_descriptor_proto]
    assert [f.name for f in files] == ["auth.proto"]
    pool = descriptor_pool.DescriptorPool()
    pool.Add(files[0])
    service = pool.FindServiceByName("auth.v1.Auth")
    validate = service.methods_by_name["Validate"]
    request_class = message_factory.GetMessageClass(validate.input_type)
    reply_class = message_factory.GetMessageClass(validate.output_type)
    answer = reply_class.FromString(channel.unary(f"auth.v1.Auth/{validate.name}",
                                                  request_class(token="not.a.token").SerializeToString()))
    assert answer.valid is False and answer.message == "Invalid token. Please log in again."

    # The Envoy file comes with the four files it imports, and they build in a fresh pool.
    envoy = _reflect(channel, "v1", file_by_filename="envoy/service/auth/v3/external_auth.proto")
    files = [descriptor_pb2.FileDescriptorProto.FromString(b) for b in envoy.file_descriptor_response.file_descriptor_proto]
    assert files[0].name == "envoy/service/auth/v3/external_auth.proto" and len(files) == 5
    pool = descriptor_pool.DescriptorPool()
    for f in reversed(files):
        pool.Add(f)
    check = pool.FindMethodByName("envoy.service.auth.v3.Authorization.Check")
    assert check.output_type.fields_by_name["ok_response"].containing_oneof.name == "http_response"


def _register(channel):
    email = f"std-{uuid.uuid4().hex[:12]}@example.com"
    reply = api.AuthClient(channel).register(api.RegisterRequest(email=email, password=f"pw-{uuid.uuid4()}"))
    return reply


def _check(channel, authorization):
    headers = {":authority": "example", ":method": "GET"}
    if authorization is not None:
        headers["authorization"] = authorization
    request = external_auth_pb2.CheckRequest(attributes=attribute_context_pb2.AttributeContext(
        request=attribute_context_pb2.AttributeContext.Request(
            http=attribute_context_pb2.AttributeContext.HttpRequest(method="GET", path="/", headers=headers))))
    return external_auth_pb2.CheckResponse.FromString(channel.unary(ENVOY, request.SerializeToString()))


def _assert_denied(response, message):
    assert response.status.code == StatusCode.UNAUTHENTICATED
    assert response.status.message == message
    assert response.WhichOneof("http_response") == "denied_response"
    assert response.denied_response.status.code == 401
    assert response.denied_response.body == message


def test_envoy_check(channel):
    tokens = _register(channel)
    ok = _check(channel, f"Bearer {tokens.token}")
    assert ok.status.code == 0
    assert ok.WhichOneof("http_response") == "ok_response"
    assert {h.header.key: h.header.value for h in ok.ok_response.headers} == {
        "x-auth-user-id": str(tokens.user_id), "x-auth-admin": "false",
        "x-auth-subject-kind": "user", "x-auth-scopes": ""}

    _assert_denied(_check(channel, None), "Provide a valid auth token.")
    _assert_denied(_check(channel, "Bearer not.a.token"), "Invalid token. Please log in again.")
    api.AuthClient(channel).logout(api.LogoutRequest(), metadata=[("authorization", f"Bearer {tokens.token}")])
    _assert_denied(_check(channel, f"Bearer {tokens.token}"), "Token blacklisted. Please log in again.")

    with _channel("AUTHD_STD_SHORT_ADDRESS", "AUTHD_STD_SHORT_CA") as short:
        expiring = _register(short)
        time.sleep(2.2)
        _assert_denied(_check(short, f"Bearer {expiring.token}"), "Signature expired. Please log in again.")
