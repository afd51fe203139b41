"""Accounts and sessions through the Python client, against live authd servers on MariaDB.

The Swift test `PythonEndToEndTests.testPythonAccountsAgainstLiveAuthd` (Tests/EndToEndTests)
starts the servers and runs this file with the environment below; without it these tests are
skipped.

  AUTHD_ACCOUNTS_ADDRESS, AUTHD_ACCOUNTS_CA      a server with a short revocation poll
  AUTHD_ACCOUNTS_SECOND_ADDRESS, _SECOND_CA      a second instance on the same database and secret
  AUTHD_ACCOUNTS_ADMIN_EMAIL, _ADMIN_PASSWORD    an administrator of both
  AUTHD_ACCOUNTS_BOUND                           seconds within which both see a revocation
  AUTHD_ACCOUNTS_CLOSED_ADDRESS, _CLOSED_CA      a server with --registration closed
  AUTHD_ACCOUNTS_CLOSED_ADMIN_EMAIL, _CLOSED_ADMIN_PASSWORD  an administrator of that one
  AUTHD_ACCOUNTS_SECRETS_OUT                     a file to list every password, token and reset
                                                 code used here (none may reach the servers' logs)
"""

import asyncio
import base64
import json
import os
import threading
import time
import uuid

import pytest

from authrpc import AsyncChannel, Channel, RpcError, StatusCode
import auth_api as api

ADDRESS = os.environ.get("AUTHD_ACCOUNTS_ADDRESS")
pytestmark = pytest.mark.skipif(ADDRESS is None, reason="needs live authd servers (run by the Swift PythonEndToEndTests)")

BOUND = float(os.environ.get("AUTHD_ACCOUNTS_BOUND", "3"))
DISABLED = "Account disabled. Contact an administrator."
NOT_ADMIN = "Administrator rights required."
WRONG_PASSWORD = "Wrong password."
BAD_CODE = "Invalid or expired reset code."
BAD_LOGIN = "Invalid email or password."
REVOKED = "Token blacklisted. Please log in again."

_used = []
_used_lock = threading.Lock()


def remember(*values):
    """Notes secrets that the servers must never log."""
    with _used_lock:
        _used.extend(v for v in values if v)


def teardown_module(module):
    out = os.environ.get("AUTHD_ACCOUNTS_SECRETS_OUT")
    if out:
        with open(out, "a", encoding="utf-8") as f:
            f.write("\n".join(_used) + "\n")


def _channel(prefix):
    host, port = os.environ[f"AUTHD_ACCOUNTS_{prefix}ADDRESS"].rsplit(":", 1)
    return Channel(host, int(port), ca_file=os.environ[f"AUTHD_ACCOUNTS_{prefix}CA"])


@pytest.fixture(scope="module")
def client():
    with _channel("") as channel:
        yield api.AuthClient(channel)


@pytest.fixture(scope="module")
def second():
    """The other instance: revocations reach it through the database's feed."""
    with _channel("SECOND_") as channel:
        yield api.AuthClient(channel)


@pytest.fixture(scope="module")
def closed():
    with _channel("CLOSED_") as channel:
        yield api.AuthClient(channel)


@pytest.fixture(scope="module")
def admin(client):
    """Metadata carrying an administrator's access token."""
    reply = client.login(api.LoginRequest(email=os.environ["AUTHD_ACCOUNTS_ADMIN_EMAIL"],
                                          password=os.environ["AUTHD_ACCOUNTS_ADMIN_PASSWORD"]))
    remember(reply.token, reply.refresh_token)
    return bearer(reply.token)


def bearer(token):
    return {"authorization": f"Bearer {token}"}


def new_email(prefix="acct"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def new_password():
    password = f"py-{uuid.uuid4()}"
    remember(password)
    return password


def register(client, email=None):
    email, password = email or new_email(), new_password()
    reply = client.register(api.RegisterRequest(email=email, password=password))
    remember(reply.token, reply.refresh_token)
    return email, password, reply


def login(client, email, password):
    reply = client.login(api.LoginRequest(email=email, password=password))
    remember(reply.token, reply.refresh_token)
    return reply


def expect_error(code, message, call, *args, **kwargs):
    with pytest.raises(RpcError) as e:
        call(*args, **kwargs)
    assert e.value.code == code, e.value
    if message is not None:
        assert e.value.message == message, e.value
    return e.value


def claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def refusal_within(client, token, seconds=None):
    """Validates `token` until it is refused, for at most `seconds` (the revocation bound); the
    last reply."""
    deadline = time.monotonic() + (BOUND if seconds is None else seconds)
    while True:
        reply = client.validate(api.ValidateRequest(token=token))
        if not reply.valid or time.monotonic() >= deadline:
            return reply
        time.sleep(0.05)


def assert_refused(clients, token, refusal):
    for c in clients:
        reply = refusal_within(c, token)
        assert not reply.valid, "still valid past the revocation bound"
        assert reply.refusal == refusal, reply


def assert_valid(client, token):
    reply = client.validate(api.ValidateRequest(token=token))
    assert reply.valid, reply
    return reply


# -- own account


def test_change_password(client, second):
    email, password, first = register(client)
    other = login(client, email, password)
    expect_error(StatusCode.PERMISSION_DENIED, WRONG_PASSWORD, client.change_password,
                 api.ChangePasswordRequest(current_password=new_password(), new_password=new_password()),
                 metadata=bearer(first.token))
    expect_error(StatusCode.INVALID_ARGUMENT, "Password must have at least 8 characters.", client.change_password,
                 api.ChangePasswordRequest(current_password=password, new_password="short"), metadata=bearer(first.token))
    assert_valid(second, other.token)  # the refused attempts changed nothing

    changed = new_password()
    fresh = client.change_password(api.ChangePasswordRequest(current_password=password, new_password=changed),
                                   metadata=bearer(first.token))
    remember(fresh.token, fresh.refresh_token)
    assert fresh.user_id == first.user_id and fresh.token and fresh.refresh_token
    # Every other session ends, on both instances within the bound; the caller's new tokens work.
    assert_refused([client, second], other.token, api.TokenRefusal.TOKEN_REFUSAL_REVOKED)
    expect_error(StatusCode.UNAUTHENTICATED, None, client.refresh, api.RefreshRequest(refresh_token=other.refresh_token))
    expect_error(StatusCode.UNAUTHENTICATED, BAD_LOGIN, client.login, api.LoginRequest(email=email, password=password))
    assert_valid(client, fresh.token)
    assert_valid(second, fresh.token)
    assert client.status(api.StatusRequest(), metadata=bearer(fresh.token)).email == email
    renewed = client.refresh(api.RefreshRequest(refresh_token=fresh.refresh_token))
    remember(renewed.token, renewed.refresh_token)
    login(client, email, changed)


def test_list_and_revoke_sessions(client, second):
    email, password, first = register(client)
    other = login(client, email, password)
    listed = client.list_sessions(api.ListSessionsRequest(), metadata=bearer(other.token)).sessions
    assert len(listed) == 2
    assert [s.current for s in listed].count(True) == 1
    current = next(s for s in listed if s.current)
    assert current.sid == claims(other.token)["sid"], "the caller's session is the one its token names"
    old = next(s for s in listed if not s.current)
    assert old.sid == claims(first.token)["sid"]
    assert len(old.sid) == 22 and old.created_at > 0 and old.last_refreshed_at >= old.created_at
    assert all(s.client_address == "127.0.0.1" for s in listed), listed

    assert isinstance(client.revoke_session(api.RevokeSessionRequest(sid=old.sid), metadata=bearer(other.token)),
                      api.RevokeSessionReply)
    assert_refused([client, second], first.token, api.TokenRefusal.TOKEN_REFUSAL_REVOKED)
    expect_error(StatusCode.UNAUTHENTICATED, None, client.refresh, api.RefreshRequest(refresh_token=first.refresh_token))
    assert_valid(client, other.token)
    left = client.list_sessions(api.ListSessionsRequest(), metadata=bearer(other.token)).sessions
    assert [s.sid for s in left] == [current.sid]

    # Ended already, someone else's, and not a session id at all: NOT_FOUND alike.
    _, _, stranger = register(client)
    for sid, token in [(old.sid, other.token), (current.sid, stranger.token), ("not-a-sid", other.token)]:
        expect_error(StatusCode.NOT_FOUND, "No such session.", client.revoke_session,
                     api.RevokeSessionRequest(sid=sid), metadata=bearer(token))
    assert_valid(client, other.token)


def test_logout_all(client, second):
    email, password, first = register(client)
    others = [login(client, email, password) for _ in range(2)]
    _, _, bystander = register(client)
    reply = client.logout_all(api.LogoutAllRequest(), metadata=bearer(others[0].token))
    assert reply.sessions == 3
    for tokens in [first] + others:
        assert_refused([client, second], tokens.token, api.TokenRefusal.TOKEN_REFUSAL_REVOKED)
        expect_error(StatusCode.UNAUTHENTICATED, None, client.refresh, api.RefreshRequest(refresh_token=tokens.refresh_token))
    expect_error(StatusCode.UNAUTHENTICATED, REVOKED, client.list_sessions, api.ListSessionsRequest(),
                 metadata=bearer(first.token))
    assert_valid(client, bystander.token)
    again = login(client, email, password)
    assert len(client.list_sessions(api.ListSessionsRequest(), metadata=bearer(again.token)).sessions) == 1


def test_delete_account(client, second, admin):
    email, password, first = register(client)
    expect_error(StatusCode.PERMISSION_DENIED, WRONG_PASSWORD, client.delete_account,
                 api.DeleteAccountRequest(password=new_password()), metadata=bearer(first.token))
    assert_valid(client, first.token)
    client.delete_account(api.DeleteAccountRequest(password=password), metadata=bearer(first.token))
    assert_refused([client, second], first.token, api.TokenRefusal.TOKEN_REFUSAL_REVOKED)
    expect_error(StatusCode.UNAUTHENTICATED, BAD_LOGIN, client.login, api.LoginRequest(email=email, password=password))
    listed = client.list_users(api.ListUsersRequest(email_prefix=email), metadata=admin).users
    assert listed == []
    # The audit trail keeps the deleted user's events, by user id, without the email.
    trail = client.audit_events(api.AuditEventsRequest(user_id=first.user_id), metadata=admin).events
    assert "account_deleted" in [e.kind for e in trail] and "register" in [e.kind for e in trail]
    assert all(e.email == "" and e.user_id == first.user_id for e in trail), trail
    # The email is free again: a new user.
    _, _, again = register(client, email)
    assert again.user_id != first.user_id

    # An administrator deletes another user.
    email2, password2, victim = register(client)
    client.delete_user(api.DeleteUserRequest(email=email2), metadata=admin)
    assert_refused([client, second], victim.token, api.TokenRefusal.TOKEN_REFUSAL_REVOKED)
    expect_error(StatusCode.UNAUTHENTICATED, BAD_LOGIN, client.login, api.LoginRequest(email=email2, password=password2))
    expect_error(StatusCode.NOT_FOUND, "No such user.", client.delete_user, api.DeleteUserRequest(email=email2), metadata=admin)


# -- administration


def test_disable_then_enable(client, second, admin):
    email, password, tokens = register(client)
    client.disable_user(api.DisableUserRequest(email=email), metadata=admin)
    disabled_by = time.time()
    # Login and refresh are refused (on either instance); tokens already issued are refused as disabled.
    for c in [client, second]:
        expect_error(StatusCode.PERMISSION_DENIED, DISABLED, c.login, api.LoginRequest(email=email, password=password))
    expect_error(StatusCode.PERMISSION_DENIED, DISABLED, client.refresh, api.RefreshRequest(refresh_token=tokens.refresh_token))
    for c in [client, second]:
        reply = refusal_within(c, tokens.token)
        assert not reply.valid
        assert reply.refusal == api.TokenRefusal.TOKEN_REFUSAL_DISABLED
        assert reply.message == DISABLED
    # A wrong password still gets the ordinary answer (the state is not revealed to a guesser).
    expect_error(StatusCode.UNAUTHENTICATED, BAD_LOGIN, client.login, api.LoginRequest(email=email, password=new_password()))
    users = client.list_users(api.ListUsersRequest(email_prefix=email), metadata=admin).users
    assert [(u.email, u.disabled, u.user_id) for u in users] == [(email, True, tokens.user_id)]

    client.enable_user(api.EnableUserRequest(email=email), metadata=admin)
    # Tokens are refused by the second they were issued in (as with RevokeAll): one issued in the
    # second of the disable would be refused too, so log in again in a later second.
    time.sleep(max(0.0, int(disabled_by) + 1 - time.time()))
    again = login(second, email, password)
    assert_valid(client, again.token)
    assert refusal_within(client, tokens.token, 0).refusal == api.TokenRefusal.TOKEN_REFUSAL_DISABLED, \
        "tokens issued before the disable stay refused"
    users = client.list_users(api.ListUsersRequest(email_prefix=email), metadata=admin).users
    assert users[0].disabled is False and users[0].last_login_at > 0
    expect_error(StatusCode.NOT_FOUND, "No such user.", client.disable_user,
                 api.DisableUserRequest(email=new_email("ghost")), metadata=admin)


def test_reset_code(client, second, admin):
    email, password, tokens = register(client)
    before = int(time.time())
    issued = client.issue_reset_code(api.IssueResetCodeRequest(email=email), metadata=admin)
    remember(issued.code)
    assert len(issued.code) >= 22
    assert before + 900 - 2 <= issued.expires_at <= int(time.time()) + 900 + 1

    wrong = issued.code[:-1] + ("A" if issued.code[-1] != "A" else "B")
    changed = new_password()
    for code in [wrong, "", "x" * 100]:
        expect_error(StatusCode.UNAUTHENTICATED, BAD_CODE, client.reset_password,
                     api.ResetPasswordRequest(email=email, code=code, new_password=changed))
    expect_error(StatusCode.UNAUTHENTICATED, BAD_CODE, client.reset_password,
                 api.ResetPasswordRequest(email=new_email("ghost"), code=issued.code, new_password=changed))
    login(client, email, password)  # wrong codes changed nothing

    assert isinstance(client.reset_password(api.ResetPasswordRequest(email=email, code=issued.code, new_password=changed)),
                      api.ResetPasswordReply)
    assert_refused([client, second], tokens.token, api.TokenRefusal.TOKEN_REFUSAL_REVOKED)
    expect_error(StatusCode.UNAUTHENTICATED, BAD_LOGIN, client.login, api.LoginRequest(email=email, password=password))
    login(second, email, changed)
    # Single use.
    expect_error(StatusCode.UNAUTHENTICATED, BAD_CODE, client.reset_password,
                 api.ResetPasswordRequest(email=email, code=issued.code, new_password=new_password()))
    login(client, email, changed)
    kinds = [e.kind for e in client.audit_events(api.AuditEventsRequest(email=email), metadata=admin).events]
    assert kinds.count("reset_code_failed") >= 1 and "password_reset" in kinds and "reset_code_issued" in kinds
    trail = client.audit_events(api.AuditEventsRequest(email=email), metadata=admin).events
    assert all(issued.code not in e.detail for e in trail)


def test_paging_users(client, admin):
    prefix = f"page-{uuid.uuid4().hex[:8]}-"
    emails = sorted(register(client, f"{prefix}{i}@example.com")[0] for i in range(5))
    seen, token, pages = [], "", 0
    while True:
        reply = client.list_users(api.ListUsersRequest(email_prefix=prefix, page_token=token, page_size=2), metadata=admin)
        pages += 1
        assert len(reply.users) <= 2
        seen += [u.email for u in reply.users]
        token = reply.next_page_token
        if not token or pages > 5:
            break
    assert seen == emails, "email order, each once"
    assert pages == 3
    everything = client.list_users(api.ListUsersRequest(email_prefix=prefix.upper()), metadata=admin)
    assert [u.email for u in everything.users] == emails and everything.next_page_token == ""
    expect_error(StatusCode.INVALID_ARGUMENT, None, client.list_users,
                 api.ListUsersRequest(email_prefix=prefix, page_size=501), metadata=admin)
    expect_error(StatusCode.INVALID_ARGUMENT, None, client.list_users,
                 api.ListUsersRequest(email_prefix=prefix, page_token="not a page token"), metadata=admin)


def test_paging_audit_events(client, admin):
    email, password, tokens = register(client)
    for _ in range(3):
        login(client, email, password)
    client.logout(api.LogoutRequest(), metadata=bearer(tokens.token))
    everything = client.audit_events(api.AuditEventsRequest(email=email), metadata=admin)
    assert [e.kind for e in everything.events] == ["logout", "login_ok", "login_ok", "login_ok", "register"], "newest first"
    assert all(e.user_id == tokens.user_id and e.email in (email, "") for e in everything.events), everything.events
    at = [e.at_ms for e in everything.events]
    assert at == sorted(at, reverse=True)

    seen, token, pages = [], "", 0
    while True:
        reply = client.audit_events(api.AuditEventsRequest(email=email, page_token=token, page_size=2), metadata=admin)
        pages += 1
        seen += reply.events
        token = reply.next_page_token
        if not token or pages > 5:
            break
    assert seen == everything.events and pages == 3
    logins = client.audit_events(api.AuditEventsRequest(email=email, kind="login_ok", page_size=1), metadata=admin)
    assert len(logins.events) == 1 and logins.next_page_token
    later = client.audit_events(api.AuditEventsRequest(email=email, kind="login_ok", page_token=logins.next_page_token,
                                                       page_size=10), metadata=admin)
    assert [e.kind for e in later.events] == ["login_ok", "login_ok"] and later.next_page_token == ""
    future = client.audit_events(api.AuditEventsRequest(email=email, since=int(time.time()) + 3600), metadata=admin)
    assert future.events == []
    expect_error(StatusCode.INVALID_ARGUMENT, None, client.audit_events,
                 api.AuditEventsRequest(kind="no_such_kind"), metadata=admin)


def test_non_admins_are_refused_every_admin_rpc(client, admin):
    email, _, tokens = register(client)
    target = register(client)[0]
    calls = [
        (client.list_users, api.ListUsersRequest()),
        (client.disable_user, api.DisableUserRequest(email=target)),
        (client.enable_user, api.EnableUserRequest(email=target)),
        (client.delete_user, api.DeleteUserRequest(email=target)),
        (client.issue_reset_code, api.IssueResetCodeRequest(email=target)),
        (client.audit_events, api.AuditEventsRequest()),
        (client.create_user, api.CreateUserRequest(email=new_email(), password=new_password())),
    ]
    for call, request in calls:
        expect_error(StatusCode.PERMISSION_DENIED, NOT_ADMIN, call, request, metadata=bearer(tokens.token))
        expect_error(StatusCode.UNAUTHENTICATED, "Provide a valid auth token.", call, request)
    users = client.list_users(api.ListUsersRequest(email_prefix=target), metadata=admin).users
    assert [(u.email, u.disabled) for u in users] == [(target, False)], "nothing happened to the target"
    assert client.audit_events(api.AuditEventsRequest(email=target, kind="reset_code_issued"), metadata=admin).events == []


def test_closed_registration(closed):
    expect_error(StatusCode.PERMISSION_DENIED, "Registration is closed.", closed.register,
                 api.RegisterRequest(email=new_email("closed"), password=new_password()))
    root = login(closed, os.environ["AUTHD_ACCOUNTS_CLOSED_ADMIN_EMAIL"], os.environ["AUTHD_ACCOUNTS_CLOSED_ADMIN_PASSWORD"])
    email, password = new_email("made"), new_password()
    made = closed.create_user(api.CreateUserRequest(email=email, password=password), metadata=bearer(root.token))
    assert made.user_id > 0
    tokens = login(closed, email, password)
    assert tokens.user_id == made.user_id
    expect_error(StatusCode.ALREADY_EXISTS, None, closed.create_user, api.CreateUserRequest(email=email, password=new_password()),
                 metadata=bearer(root.token))
    expect_error(StatusCode.PERMISSION_DENIED, NOT_ADMIN, closed.create_user,
                 api.CreateUserRequest(email=new_email("made"), password=new_password()), metadata=bearer(tokens.token))


def test_account_calls_through_the_asyncio_client(client, admin):
    email, password, first = register(client)
    host, port = ADDRESS.rsplit(":", 1)

    async def scenario():
        async with AsyncChannel(host, int(port), ca_file=os.environ["AUTHD_ACCOUNTS_CA"]) as channel:
            auth = api.AsyncAuthClient(channel)
            other = await auth.login(api.LoginRequest(email=email, password=password))
            remember(other.token, other.refresh_token)
            sessions, users = await asyncio.gather(
                auth.list_sessions(api.ListSessionsRequest(), metadata=bearer(other.token)),
                auth.list_users(api.ListUsersRequest(email_prefix=email), metadata=admin))
            assert len(sessions.sessions) == 2 and [u.email for u in users.users] == [email]
            stale = next(s.sid for s in sessions.sessions if not s.current)
            await auth.revoke_session(api.RevokeSessionRequest(sid=stale), metadata=bearer(other.token))
            with pytest.raises(RpcError) as e:
                await auth.revoke_session(api.RevokeSessionRequest(sid=stale), metadata=bearer(other.token))
            assert e.value.code == StatusCode.NOT_FOUND
            with pytest.raises(RpcError) as e:
                await auth.list_users(api.ListUsersRequest(), metadata=bearer(other.token))
            assert (e.value.code, e.value.message) == (StatusCode.PERMISSION_DENIED, NOT_ADMIN)
            return (await auth.logout_all(api.LogoutAllRequest(), metadata=bearer(other.token))).sessions

    assert asyncio.run(asyncio.wait_for(scenario(), 30)) == 1
    assert_refused([client], first.token, api.TokenRefusal.TOKEN_REFUSAL_REVOKED)
