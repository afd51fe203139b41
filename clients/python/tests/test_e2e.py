"""The Python client against a live authd, over TLS, on MariaDB: the seed's scenarios and more.

The Swift test `PythonEndToEndTests` (Tests/EndToEndTests) starts two servers and runs this file
with the environment below; without it these tests are skipped.

  AUTHD_E2E_ADDRESS, AUTHD_E2E_CA            a server with the default settings, and its CA file
  AUTHD_E2E_SECRET_FILE                      that server's HS256 secret (to check tokens with PyJWT)
  AUTHD_E2E_SHORT_ADDRESS, AUTHD_E2E_SHORT_CA  a server with --access-ttl 1 --leeway 0
  AUTHD_E2E_ADMIN_EMAIL, AUTHD_E2E_ADMIN_PASSWORD  an administrator of the first server
  AUTHD_E2E_SECRETS_OUT                      a file to list every password and token used here
                                             (the Swift side checks none reached the servers' logs)
  AUTHD_E2E_OUTAGE_ADDRESS, AUTHD_E2E_OUTAGE_CA  a server on a database the Swift side stops and
                                             starts, running `test_database_outage` once per phase:
  AUTHD_E2E_OUTAGE_PHASE                     up (the database runs), down (stopped), back (restarted)
  AUTHD_E2E_OUTAGE_STATE                     a file carrying the phase's user to the next phase
"""

import base64
import json
import os
import secrets
import threading
import time
import uuid

import pytest

from authrpc import Channel, RpcError, StatusCode
import auth_api as api

ADDRESS = os.environ.get("AUTHD_E2E_ADDRESS")
pytestmark = pytest.mark.skipif(ADDRESS is None, reason="needs a live authd (run by the Swift PythonEndToEndTests)")

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
    out = os.environ.get("AUTHD_E2E_SECRETS_OUT")
    if out:
        with open(out, "a", encoding="utf-8") as f:
            f.write("\n".join(_used) + "\n")


def _split(address):
    host, port = address.rsplit(":", 1)
    return host, int(port)


@pytest.fixture
def client():
    host, port = _split(ADDRESS)
    with Channel(host, port, ca_file=os.environ["AUTHD_E2E_CA"]) as channel:
        yield api.AuthClient(channel)


@pytest.fixture
def short_client():
    host, port = _split(os.environ["AUTHD_E2E_SHORT_ADDRESS"])
    with Channel(host, port, ca_file=os.environ["AUTHD_E2E_SHORT_CA"]) as channel:
        yield api.AuthClient(channel)


def bearer(token):
    return {"authorization": f"Bearer {token}"}


def new_email(prefix="py"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def new_password():
    password = f"py-{uuid.uuid4()}"
    remember(password)
    return password


def register(client, prefix="py"):
    email, password = new_email(prefix), new_password()
    reply = client.register(api.RegisterRequest(email=email, password=password))
    remember(reply.token, reply.refresh_token)
    return email, password, reply


def expect_error(code, message, call, *args, **kwargs):
    with pytest.raises(RpcError) as e:
        call(*args, **kwargs)
    assert e.value.code == code, e.value
    if message is not None:
        assert e.value.message == message
    return e.value


def secret_key():
    with open(os.environ["AUTHD_E2E_SECRET_FILE"], "rb") as f:
        return f.read().strip()


# -- the seed's scenarios


def test_health_serving(client):
    assert client.health(api.HealthRequest()).status == api.HealthReply.ServingStatus.SERVING
    assert client.health(api.HealthRequest(service="auth.v1.Auth")).status == api.HealthReply.ServingStatus.SERVING
    expect_error(StatusCode.NOT_FOUND, None, client.health, api.HealthRequest(service="nope.Nope"))


def test_registration(client):
    before = int(time.time())
    _, _, reply = register(client)
    assert reply.user_id > 0
    assert reply.token.count(".") == 2
    assert len(reply.refresh_token) == 43
    assert abs(reply.expires_at - before - 900) <= 2
    assert reply.refresh_expires_at > reply.expires_at
    valid = client.validate(api.ValidateRequest(token=reply.token))
    assert valid.valid and valid.user_id == reply.user_id and not valid.admin
    assert valid.expires_at == reply.expires_at


def test_registering_a_taken_email(client):
    email, _, _ = register(client)
    expect_error(StatusCode.ALREADY_EXISTS, "User already exists. Please log in.",
                 client.register, api.RegisterRequest(email=email.upper(), password=new_password()))


def test_registering_a_bad_email_or_a_weak_password(client):
    expect_error(StatusCode.INVALID_ARGUMENT, "Provide a valid email address.",
                 client.register, api.RegisterRequest(email="nobody", password=new_password()))
    expect_error(StatusCode.INVALID_ARGUMENT, "Password must have at least 8 characters.",
                 client.register, api.RegisterRequest(email=new_email(), password="1234"))
    expect_error(StatusCode.INVALID_ARGUMENT, "Password is too common. Choose another.",
                 client.register, api.RegisterRequest(email=new_email(), password="password123"))


def test_login_of_an_unregistered_user_is_the_same_error_as_a_wrong_password(client):
    email, password, _ = register(client)
    unknown = expect_error(StatusCode.UNAUTHENTICATED, "Invalid email or password.",
                           client.login, api.LoginRequest(email=new_email("ghost"), password=password))
    wrong = expect_error(StatusCode.UNAUTHENTICATED, "Invalid email or password.",
                         client.login, api.LoginRequest(email=email, password=new_password()))
    assert (unknown.code, unknown.message) == (wrong.code, wrong.message)


def test_login_and_status(client):
    before = int(time.time())
    email, password, registered = register(client)
    after = int(time.time())
    reply = client.login(api.LoginRequest(email=email, password=password))
    remember(reply.token, reply.refresh_token)
    assert reply.user_id == registered.user_id
    status = client.status(api.StatusRequest(), metadata=bearer(reply.token))
    assert status.user_id == registered.user_id
    assert status.email == email
    assert status.admin is False
    assert before <= status.registered_on <= after


def test_logout_with_a_valid_token_then_status_is_blacklisted(client):
    _, _, reply = register(client)
    assert client.logout(api.LogoutRequest(), metadata=bearer(reply.token)).message == "Successfully logged out."
    expect_error(StatusCode.UNAUTHENTICATED, REVOKED, client.status, api.StatusRequest(), metadata=bearer(reply.token))
    refused = client.validate(api.ValidateRequest(token=reply.token))
    assert not refused.valid
    assert refused.refusal == api.TokenRefusal.TOKEN_REFUSAL_REVOKED
    assert refused.message == REVOKED


def test_logout_with_an_expired_token(short_client):
    _, _, reply = register(short_client)
    time.sleep(2.1)
    expect_error(StatusCode.UNAUTHENTICATED, EXPIRED, short_client.logout, api.LogoutRequest(), metadata=bearer(reply.token))
    expect_error(StatusCode.UNAUTHENTICATED, EXPIRED, short_client.status, api.StatusRequest(), metadata=bearer(reply.token))
    refused = short_client.validate(api.ValidateRequest(token=reply.token))
    assert refused.refusal == api.TokenRefusal.TOKEN_REFUSAL_EXPIRED and refused.message == EXPIRED


def test_status_with_a_malformed_token(client):
    for token in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."]:
        expect_error(StatusCode.UNAUTHENTICATED, INVALID, client.status, api.StatusRequest(), metadata=bearer(token))
        refused = client.validate(api.ValidateRequest(token=token))
        assert refused.refusal == api.TokenRefusal.TOKEN_REFUSAL_INVALID and refused.message == INVALID


def test_calls_without_a_token(client):
    expect_error(StatusCode.UNAUTHENTICATED, MISSING, client.status, api.StatusRequest())
    expect_error(StatusCode.UNAUTHENTICATED, MISSING, client.logout, api.LogoutRequest())
    expect_error(StatusCode.UNAUTHENTICATED, MISSING, client.revoke_all, api.RevokeAllRequest(user_id=1))
    refused = client.validate(api.ValidateRequest(token=""))
    assert refused.refusal == api.TokenRefusal.TOKEN_REFUSAL_MISSING and refused.message == MISSING


# -- beyond the seed


def test_tokens_are_standard_jwts(client):
    import jwt  # PyJWT: an independent implementation

    _, _, reply = register(client)
    header = jwt.get_unverified_header(reply.token)
    assert header == {"alg": "HS256", "typ": "JWT", "kid": "k1"}
    claims = jwt.decode(reply.token, secret_key(), algorithms=["HS256"])
    assert claims["sub"] == str(reply.user_id)
    assert claims["exp"] == reply.expires_at
    assert claims["exp"] - claims["iat"] == 900
    assert len(base64.urlsafe_b64decode(claims["jti"] + "==")) == 16
    assert "adm" not in claims
    # A wrong key does not verify it.
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(reply.token, b"x" * 32, algorithms=["HS256"])


def test_tokens_made_by_pyjwt_validate(client):
    import jwt

    _, _, reply = register(client)
    now = int(time.time())
    jti = base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()
    claims = {"sub": str(reply.user_id), "iat": now, "exp": now + 60, "jti": jti}
    made = jwt.encode(claims, secret_key(), algorithm="HS256", headers={"kid": "k1"})
    remember(made)
    valid = client.validate(api.ValidateRequest(token=made))
    assert valid.valid and valid.user_id == reply.user_id and valid.expires_at == now + 60
    # The same claims under another key, without a kid, or with alg "none" are refused.
    for forged in [jwt.encode(claims, b"k" * 32, algorithm="HS256", headers={"kid": "k1"}),
                   jwt.encode(claims, secret_key(), algorithm="HS256"),
                   jwt.encode(claims, None, algorithm="none", headers={"kid": "k1"})]:
        assert client.validate(api.ValidateRequest(token=forged)).refusal == api.TokenRefusal.TOKEN_REFUSAL_INVALID


def test_refresh_rotation_and_reuse_detection(client):
    _, _, first = register(client)
    second = client.refresh(api.RefreshRequest(refresh_token=first.refresh_token))
    remember(second.token, second.refresh_token)
    assert second.user_id == first.user_id and second.refresh_token != first.refresh_token
    assert client.validate(api.ValidateRequest(token=second.token)).valid
    expect_error(StatusCode.UNAUTHENTICATED, "Refresh token already used; the session is revoked. Please log in again.",
                 client.refresh, api.RefreshRequest(refresh_token=first.refresh_token))
    expect_error(StatusCode.UNAUTHENTICATED, "Invalid refresh token. Please log in again.",
                 client.refresh, api.RefreshRequest(refresh_token=second.refresh_token))


def test_revoke_all_is_for_administrators(client):
    _, _, victim = register(client, "victim")
    _, _, bystander = register(client, "bystander")
    expect_error(StatusCode.PERMISSION_DENIED, "Administrator rights required.",
                 client.revoke_all, api.RevokeAllRequest(user_id=victim.user_id), metadata=bearer(bystander.token))
    admin = client.login(api.LoginRequest(email=os.environ["AUTHD_E2E_ADMIN_EMAIL"],
                                          password=os.environ["AUTHD_E2E_ADMIN_PASSWORD"]))
    remember(admin.token, admin.refresh_token)
    assert client.validate(api.ValidateRequest(token=admin.token)).admin
    reply = client.revoke_all(api.RevokeAllRequest(user_id=victim.user_id), metadata=bearer(admin.token))
    assert reply.revoked_before > victim.expires_at - 900
    assert client.validate(api.ValidateRequest(token=victim.token)).refusal == api.TokenRefusal.TOKEN_REFUSAL_REVOKED
    expect_error(StatusCode.UNAUTHENTICATED, REVOKED, client.status, api.StatusRequest(), metadata=bearer(victim.token))
    expect_error(StatusCode.UNAUTHENTICATED, None, client.refresh, api.RefreshRequest(refresh_token=victim.refresh_token))
    assert client.validate(api.ValidateRequest(token=bystander.token)).valid


def test_throttling(client):
    email, password, _ = register(client, "throttle")
    for _ in range(10):
        expect_error(StatusCode.UNAUTHENTICATED, "Invalid email or password.",
                     client.login, api.LoginRequest(email=email, password=new_password()))
    error = expect_error(StatusCode.RESOURCE_EXHAUSTED, None, client.login, api.LoginRequest(email=email, password=password))
    assert error.message.startswith("Too many failed attempts. Try again in ")


# -- the database goes away and comes back (one phase per run, driven by the Swift test)


@pytest.fixture
def outage_client():
    host, port = _split(os.environ["AUTHD_E2E_OUTAGE_ADDRESS"])
    with Channel(host, port, ca_file=os.environ["AUTHD_E2E_OUTAGE_CA"]) as channel:
        yield api.AuthClient(channel)


@pytest.mark.skipif(os.environ.get("AUTHD_E2E_OUTAGE_PHASE") is None, reason="needs a database the driver stops")
def test_database_outage(outage_client):
    auth = outage_client
    phase = os.environ["AUTHD_E2E_OUTAGE_PHASE"]
    state_file = os.environ["AUTHD_E2E_OUTAGE_STATE"]
    serving = api.HealthReply.ServingStatus.SERVING
    if phase == "up":
        email, password, reply = register(auth, "outage")
        other = auth.login(api.LoginRequest(email=email, password=password))
        remember(other.token, other.refresh_token)
        auth.logout(api.LogoutRequest(), metadata=bearer(other.token))
        assert auth.health(api.HealthRequest()).status == serving
        with open(state_file, "w", encoding="utf-8") as f:
            json.dump({"email": email, "password": password, "token": reply.token, "revoked": other.token}, f)
        return
    with open(state_file, encoding="utf-8") as f:
        state = json.load(f)
    if phase == "down":
        started = time.monotonic()
        assert auth.health(api.HealthRequest(), timeout=10).status == api.HealthReply.ServingStatus.NOT_SERVING
        expect_error(StatusCode.UNAVAILABLE, "Service temporarily unavailable. Try again.",
                     auth.login, api.LoginRequest(email=state["email"], password=state["password"]), timeout=10)
        expect_error(StatusCode.UNAVAILABLE, None, auth.status, api.StatusRequest(), metadata=bearer(state["token"]), timeout=10)
        assert time.monotonic() - started < 12, "each call gives up within the database timeout"
        # Validate answers from memory.
        valid = auth.validate(api.ValidateRequest(token=state["token"]))
        assert valid.valid
        revoked = auth.validate(api.ValidateRequest(token=state["revoked"]))
        assert revoked.refusal == api.TokenRefusal.TOKEN_REFUSAL_REVOKED
    elif phase == "back":
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline:
            status = auth.health(api.HealthRequest(), timeout=10).status
            if status == serving:
                break
            time.sleep(0.2)
        assert status == serving
        reply = auth.login(api.LoginRequest(email=state["email"], password=state["password"]))
        remember(reply.token, reply.refresh_token)
        assert auth.status(api.StatusRequest(), metadata=bearer(reply.token)).email == state["email"]
    else:
        pytest.fail(f"unknown phase {phase}")
