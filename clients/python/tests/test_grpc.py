"""authd over standard gRPC (HTTP/2, ALPN h2) with Python grpcio, against a live server.

The stubs come from schema/auth.proto through grpcio-tools' protoc, at test time: nothing here
was written for authd. Each error is also asked over authrpc/1 (the package's own Channel), and
both protocols must give the same status code and message.

The Swift test `GRPCEndToEndTests` (Tests/EndToEndTests) starts the servers and runs this file
with the environment below; without it these tests are skipped.

  AUTHD_GRPC_ADDRESS, AUTHD_GRPC_CA          a server with the default settings, and its CA file
  AUTHD_GRPC_SHORT_ADDRESS, AUTHD_GRPC_SHORT_CA  a server with --access-ttl 1 --leeway 0
  AUTHD_GRPC_ADMIN_EMAIL, AUTHD_GRPC_ADMIN_PASSWORD  an administrator of the first server
  AUTHD_GRPC_SECRETS_OUT                     a file to list every password and token used here
"""

import concurrent.futures
import os
import threading
import time
import uuid

import pytest

ADDRESS = os.environ.get("AUTHD_GRPC_ADDRESS")
pytestmark = pytest.mark.skipif(ADDRESS is None, reason="needs a live authd (run by the Swift GRPCEndToEndTests)")

grpc = pytest.importorskip("grpc")

from authrpc import Channel, RpcError  # noqa: E402
import auth_api as api  # noqa: E402

EXPIRED = "Signature expired. Please log in again."
INVALID = "Invalid token. Please log in again."
REVOKED = "Token blacklisted. Please log in again."
MISSING = "Provide a valid auth token."

_used = []
_used_lock = threading.Lock()


def remember(*values):
    """Notes secrets that the server must never log."""
    with _used_lock:
        _used.extend(v for v in values if v)


def teardown_module(module):
    out = os.environ.get("AUTHD_GRPC_SECRETS_OUT")
    if out:
        with open(out, "a", encoding="utf-8") as f:
            f.write("\n".join(_used) + "\n")



def _split(address):
    host, port = address.rsplit(":", 1)
    return host, int(port)


def _secure_channel(address, ca_env):
    with open(os.environ[ca_env], "rb") as f:
        credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
    return grpc.secure_channel(address, credentials)


@pytest.fixture(scope="module")
def channel():
    with _secure_channel(ADDRESS, "AUTHD_GRPC_CA") as ch:
        yield ch


@pytest.fixture(scope="module")
def stub(pb, channel):
    return pb[1].AuthStub(channel)


@pytest.fixture(scope="module")
def short_stub(pb):
    with _secure_channel(os.environ["AUTHD_GRPC_SHORT_ADDRESS"], "AUTHD_GRPC_SHORT_CA") as ch:
        yield pb[1].AuthStub(ch)


@pytest.fixture(scope="module")
def rpc():
    """The same server over authrpc/1, to compare errors with."""
    host, port = _split(ADDRESS)
    with Channel(host, port, ca_file=os.environ["AUTHD_GRPC_CA"]) as ch:
        yield api.AuthClient(ch)


def bearer(token):
    return (("authorization", f"Bearer {token}"),)


def new_email(prefix="grpc"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def new_password():
    password = f"grpc-{uuid.uuid4()}"
    remember(password)
    return password


def register(pb, stub, prefix="grpc"):
    email, password = new_email(prefix), new_password()
    reply = stub.Register(pb[0].RegisterRequest(email=email, password=password), timeout=20)
    remember(reply.token, reply.refresh_token)
    return email, password, reply


def grpc_error(call, request, **kwargs):
    with pytest.raises(grpc.RpcError) as e:
        call(request, timeout=20, **kwargs)
    return e.value.code(), e.value.details()


def same_error(grpc_call, grpc_request, rpc_call, rpc_request, grpc_metadata=None, rpc_metadata=None, code=None, message=None):
    """The call fails over both protocols with the same code and message (and the expected ones)."""
    got_code, got_message = grpc_error(grpc_call, grpc_request, metadata=grpc_metadata)
    with pytest.raises(RpcError) as e:
        rpc_call(rpc_request, metadata=rpc_metadata)
    assert got_code.value[0] == int(e.value.code), (got_code, e.value)
    assert got_message == e.value.message
    if code is not None:
        assert got_code == code, (got_code, got_message)
    if message is not None:
        assert got_message == message
    return got_code, got_message


# -- every method


def test_health(pb, stub, rpc):
    serving = pb[0].HealthReply.ServingStatus.SERVING
    assert stub.Health(pb[0].HealthRequest(), timeout=10).status == serving
    assert stub.Health(pb[0].HealthRequest(service="auth.v1.Auth"), timeout=10).status == serving
    same_error(stub.Health, pb[0].HealthRequest(service="nope.Nope"), rpc.health, api.HealthRequest(service="nope.Nope"),
               code=grpc.StatusCode.NOT_FOUND)


def test_register_validate_status(pb, stub):
    before = int(time.time())
    email, _, reply = register(pb, stub)
    assert reply.user_id > 0 and reply.token.count(".") == 2 and len(reply.refresh_token) == 43
    assert abs(reply.expires_at - before - 900) <= 2
    valid = stub.Validate(pb[0].ValidateRequest(token=reply.token), timeout=10)
    assert valid.valid and valid.user_id == reply.user_id and not valid.admin and valid.expires_at == reply.expires_at
    status = stub.Status(pb[0].StatusRequest(), metadata=bearer(reply.token), timeout=10)
    assert status.user_id == reply.user_id and status.email == email.lower()


def test_login_logout(pb, stub, rpc):
    email, password, first = register(pb, stub)
    tokens = stub.Login(pb[0].LoginRequest(email=email, password=password), timeout=20)
    remember(tokens.token, tokens.refresh_token)
    assert tokens.user_id == first.user_id
    stub.Logout(pb[0].LogoutRequest(), metadata=bearer(tokens.token), timeout=10)
    refused = stub.Validate(pb[0].ValidateRequest(token=tokens.token), timeout=10)
    assert not refused.valid and refused.message == REVOKED
    same_error(stub.Status, pb[0].StatusRequest(), rpc.status, api.StatusRequest(),
               grpc_metadata=bearer(tokens.token), rpc_metadata={"authorization": f"Bearer {tokens.token}"},
               code=grpc.StatusCode.UNAUTHENTICATED, message=REVOKED)
    same_error(stub.Login, pb[0].LoginRequest(email=email, password=new_password()),
               rpc.login, api.LoginRequest(email=email, password=new_password()),
               code=grpc.StatusCode.UNAUTHENTICATED, message="Invalid email or password.")


def test_refresh(pb, stub, rpc):
    _, _, first = register(pb, stub)
    second = stub.Refresh(pb[0].RefreshRequest(refresh_token=first.refresh_token), timeout=20)
    remember(second.token, second.refresh_token)
    assert second.user_id == first.user_id and second.refresh_token != first.refresh_token
    bogus = "x" * 43
    same_error(stub.Refresh, pb[0].RefreshRequest(refresh_token=bogus), rpc.refresh, api.RefreshRequest(refresh_token=bogus),
               code=grpc.StatusCode.UNAUTHENTICATED, message="Invalid refresh token. Please log in again.")


def test_revoke_all(pb, stub, rpc):
    _, _, victim = register(pb, stub, "victim")
    _, _, bystander = register(pb, stub, "bystander")
    same_error(stub.RevokeAll, pb[0].RevokeAllRequest(user_id=victim.user_id),
               rpc.revoke_all, api.RevokeAllRequest(user_id=victim.user_id),
               grpc_metadata=bearer(bystander.token), rpc_metadata={"authorization": f"Bearer {bystander.token}"},
               code=grpc.StatusCode.PERMISSION_DENIED, message="Administrator rights required.")
    admin = stub.Login(pb[0].LoginRequest(email=os.environ["AUTHD_GRPC_ADMIN_EMAIL"],
                                          password=os.environ["AUTHD_GRPC_ADMIN_PASSWORD"]), timeout=20)
    remember(admin.token, admin.refresh_token)
    reply = stub.RevokeAll(pb[0].RevokeAllRequest(user_id=victim.user_id), metadata=bearer(admin.token), timeout=20)
    assert reply.revoked_before > victim.expires_at - 900
    assert stub.Validate(pb[0].ValidateRequest(token=victim.token), timeout=10).refusal == pb[0].TOKEN_REFUSAL_REVOKED
    assert stub.Validate(pb[0].ValidateRequest(token=bystander.token), timeout=10).valid


# -- errors: the same codes and messages as authrpc/1


def test_registration_errors(pb, stub, rpc):
    email, _, _ = register(pb, stub)
    password = new_password()
    same_error(stub.Register, pb[0].RegisterRequest(email=email.upper(), password=password),
               rpc.register, api.RegisterRequest(email=email.upper(), password=password),
               code=grpc.StatusCode.ALREADY_EXISTS, message="User already exists. Please log in.")
    same_error(stub.Register, pb[0].RegisterRequest(email="not-an-email", password=password),
               rpc.register, api.RegisterRequest(email="not-an-email", password=password),
               code=grpc.StatusCode.INVALID_ARGUMENT)
    same_error(stub.Register, pb[0].RegisterRequest(email=new_email(), password="short"),
               rpc.register, api.RegisterRequest(email=new_email(), password="short"),
               code=grpc.StatusCode.INVALID_ARGUMENT)


def test_token_errors(pb, stub, rpc, short_stub):
    same_error(stub.Status, pb[0].StatusRequest(), rpc.status, api.StatusRequest(),
               code=grpc.StatusCode.UNAUTHENTICATED, message=MISSING)
    same_error(stub.Status, pb[0].StatusRequest(), rpc.status, api.StatusRequest(),
               grpc_metadata=bearer("not.a.token"), rpc_metadata={"authorization": "Bearer not.a.token"},
               code=grpc.StatusCode.UNAUTHENTICATED, message=INVALID)
    refused = stub.Validate(pb[0].ValidateRequest(token="not.a.token"), timeout=10)
    assert not refused.valid and refused.message == INVALID
    _, _, short = register(pb, short_stub)
    time.sleep(2.2)
    code, message = grpc_error(short_stub.Status, pb[0].StatusRequest(), metadata=bearer(short.token))
    assert code == grpc.StatusCode.UNAUTHENTICATED and message == EXPIRED


def test_unknown_method(channel, rpc):
    call = channel.unary_unary("/auth.v1.Auth/Nope", request_serializer=lambda b: b, response_deserializer=lambda b: b)
    code, message = grpc_error(call, b"")
    assert code == grpc.StatusCode.UNIMPLEMENTED
    assert message == "unknown method auth.v1.Auth/Nope"


def test_a_message_too_large_is_refused_and_the_connection_serves_on(pb, stub):
    code, message = grpc_error(stub.Validate, pb[0].ValidateRequest(token="x" * (70 << 10)))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert message == "message larger than the server's limit (65536 bytes)"
    assert not stub.Validate(pb[0].ValidateRequest(token="a.b.c"), timeout=10).valid


def test_an_unsupported_grpc_encoding_is_unimplemented(pb, stub):
    code, message = grpc_error(stub.Validate, pb[0].ValidateRequest(token="a.b.c"), compression=grpc.Compression.Gzip)
    assert code == grpc.StatusCode.UNIMPLEMENTED
    assert "grpc-encoding gzip" in message


def test_a_non_ascii_message_is_percent_encoded_and_decoded():
    # An unknown method name is echoed in the message: non-ASCII goes through grpc-message's percent-encoding.
    with _secure_channel(ADDRESS, "AUTHD_GRPC_CA") as ch:
        method = ch.unary_unary("/auth.v1.Auth/Nöpe%", request_serializer=lambda b: b, response_deserializer=lambda b: b)
        code, message = grpc_error(method, b"")
    assert code == grpc.StatusCode.UNIMPLEMENTED
    assert message == "unknown method auth.v1.Auth/Nöpe%"


# -- deadlines, metadata, concurrency


def test_deadlines(pb, stub):
    # A deadline the call cannot meet (Login hashes a password on a worker: the test servers' argon2id
    # takes about a millisecond, so the deadline is well below that) ends it DEADLINE_EXCEEDED…
    email, password, _ = register(pb, stub)
    with pytest.raises(grpc.RpcError) as e:
        stub.Login(pb[0].LoginRequest(email=email, password=password), timeout=0.0002)
    code = e.value.code()
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    # … and a generous one is kept: the same call succeeds, on the same connection.
    tokens = stub.Login(pb[0].LoginRequest(email=email, password=password), timeout=30)
    remember(tokens.token, tokens.refresh_token)
    assert stub.Validate(pb[0].ValidateRequest(token=tokens.token), timeout=5).valid


def test_metadata_keys_are_case_insensitive_and_extra_entries_ignored(pb, stub):
    _, _, reply = register(pb, stub)
    metadata = (("x-request-id", "abc"), ("authorization", f"bearer {reply.token}"))
    assert stub.Status(pb[0].StatusRequest(), metadata=metadata, timeout=10).user_id == reply.user_id


def test_many_concurrent_calls_on_one_connection(pb, stub):
    _, _, reply = register(pb, stub)
    request = pb[0].ValidateRequest(token=reply.token)
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(stub.Validate, request, timeout=20) for _ in range(400)]
        replies = [f.result(timeout=30) for f in futures]
    assert all(r.valid and r.user_id == reply.user_id for r in replies)
    # Asynchronous calls in flight together (futures of grpcio), more than one stream at a time.
    pending = [stub.Validate.future(request, timeout=20) for _ in range(100)]
    assert all(p.result().valid for p in pending)
