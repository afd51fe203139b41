"""The standard services over real gRPC (HTTP/2, ALPN h2) with the standard Python clients:
grpcio-health-checking's Health stub, grpcio-reflection's ProtoReflectionDescriptorDatabase,
and xds-protos' Envoy Authorization stub, over a grpc.secure_channel.

Needs a live authd: AUTHD_GRPC_ADDRESS and AUTHD_GRPC_CA (AUTHD_STD_ADDRESS/AUTHD_STD_CA are
used when those are not set).
"""

import os
import uuid

import pytest

ADDRESS = os.environ.get("AUTHD_GRPC_ADDRESS") or os.environ.get("AUTHD_STD_ADDRESS")
CA = os.environ.get("AUTHD_GRPC_CA") or os.environ.get("AUTHD_STD_CA")
pytestmark = pytest.mark.skipif(ADDRESS is None, reason="needs a live authd (AUTHD_GRPC_ADDRESS, AUTHD_GRPC_CA)")


@pytest.fixture(scope="module")
def grpc_channel():
    import grpc
    with open(CA, "rb") as f:
        credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
    options = [("grpc.ssl_target_name_override", "localhost")]
    with grpc.secure_channel(ADDRESS, credentials, options=options) as channel:
        yield channel


def test_health_check(grpc_channel):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    import grpc
    stub = health_pb2_grpc.HealthStub(grpc_channel)
    for service in ["", "auth.v1.Auth"]:
        assert stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status == \
            health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as failed:
        stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10)
    assert failed.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_descriptor_database(grpc_channel):
    from google.protobuf import descriptor_pool, message_factory
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
    database = ProtoReflectionDescriptorDatabase(grpc_channel)
    services = database.get_services()
    for name in ["auth.v1.Auth", "grpc.health.v1.Health", "envoy.service.auth.v3.Authorization",
                 "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]:
        assert name in services
    pool = descriptor_pool.DescriptorPool(database)
    validate = pool.FindMethodByName("auth.v1.Auth.Validate")
    request_class = message_factory.GetMessageClass(validate.input_type)
    reply_class = message_factory.GetMessageClass(validate.output_type)
    call = grpc_channel.unary_unary("/auth.v1.Auth/Validate", request_serializer=lambda m: m.SerializeToString(),
                                    response_deserializer=reply_class.FromString)
    reply = call(request_class(token="not.a.token"), timeout=10)
    assert reply.valid is False and reply.message == "Invalid token. Please log in again."
    check = pool.FindMethodByName("envoy.service.auth.v3.Authorization.Check")
    assert check.input_type.full_name == "envoy.service.auth.v3.CheckRequest"


def test_envoy_check(grpc_channel):
    from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2, external_auth_pb2_grpc
    import grpc
    register = grpc_channel.unary_unary("/auth.v1.Auth/Register")
    import auth_api as api
    email = f"grpc-std-{uuid.uuid4().hex[:12]}@example.com"
    tokens = api.TokenReply.decode(register(api.RegisterRequest(email=email, password=f"pw-{uuid.uuid4()}").encode(),
                                            timeout=30))
    stub = external_auth_pb2_grpc.AuthorizationStub(grpc_channel)

    def check(authorization):
        headers = {"authorization": authorization} if authorization else {}
        return stub.Check(external_auth_pb2.CheckRequest(attributes=attribute_context_pb2.AttributeContext(
            request=attribute_context_pb2.AttributeContext.Request(
                http=attribute_context_pb2.AttributeContext.HttpRequest(headers=headers)))), timeout=10)

    ok = check(f"Bearer {tokens.token}")
    assert ok.status.code == 0
    assert {h.header.key: h.header.value for h in ok.ok_response.headers}["x-auth-user-id"] == str(tokens.user_id)
    for authorization, message in [(None, "Provide a valid auth token."),
                                   ("Bearer not.a.token", "Invalid token. Please log in again.")]:
        denied = check(authorization)
        assert denied.status.code == grpc.StatusCode.UNAUTHENTICATED.value[0]
        assert denied.denied_response.status.code == 401 and denied.denied_response.body == message
