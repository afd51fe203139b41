"""PyJWT (with `cryptography`) verifies authd's EdDSA tokens with nothing but the JWK Set from
`Keys`, and refuses a changed token. Run against a live authd by
Tests/EndToEndTests/OfflineVerificationTests.swift (AUTHD_KEYS_* variables); skipped without one."""

import base64
import json
import os
import uuid

import jwt
import pytest

import auth_api as api
from authrpc import Channel
from verify_offline_example import OfflineVerifier

ADDRESS = os.environ.get("AUTHD_KEYS_ADDRESS")
pytestmark = pytest.mark.skipif(not ADDRESS, reason="no authd (AUTHD_KEYS_ADDRESS)")


@pytest.fixture
def auth():
    host, port = ADDRESS.rsplit(":", 1)
    with Channel(host, int(port), ca_file=os.environ["AUTHD_KEYS_CA"]) as channel:
        yield api.AuthClient(channel)


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_pyjwt_verifies_with_only_the_jwks(auth):
    password = f"pw-{uuid.uuid4()}"
    tokens = auth.register(api.RegisterRequest(email=f"jwks-{uuid.uuid4().hex[:10]}@example.com", password=password))
    header = jwt.get_unverified_header(tokens.token)
    assert header["alg"] == "EdDSA" and header["typ"] == "JWT"

    reply = auth.keys(api.KeysRequest())
    document = json.loads(reply.jwks_json)
    assert reply.max_age_seconds > 0
    assert all(k["kty"] == "OKP" and k["crv"] == "Ed25519" and k["alg"] == "EdDSA" and k["use"] == "sig"
               and "d" not in k for k in document["keys"])
    keys = {k.key_id: k for k in jwt.PyJWKSet.from_json(reply.jwks_json).keys}
    assert header["kid"] in keys
    claims = jwt.decode(tokens.token, keys[header["kid"]].key, algorithms=["EdDSA"], options={"verify_aud": False})
    assert claims["sub"] == str(tokens.user_id)

    # The example's verifier, and a changed payload that it (and authd) refuse.
    verifier = OfflineVerifier(auth)
    assert verifier.verify(tokens.token)["sub"] == str(tokens.user_id)
    head, payload, signature = tokens.token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["sub"] = "1" if body["sub"] != "1" else "2"
    forged = ".".join([head, _b64(json.dumps(body, separators=(",", ":")).encode()), signature])
    with pytest.raises(jwt.InvalidSignatureError):
        verifier.verify(forged)
    assert not auth.validate(api.ValidateRequest(token=forged)).valid
    # A token signed with HS256 using the public key as the secret: PyJWT refuses the algorithm
    # (pinned to EdDSA), and so does authd.
    x_text = next(k["x"] for k in document["keys"] if k["kid"] == header["kid"])
    x = base64.urlsafe_b64decode(x_text + "=" * (-len(x_text) % 4))
    confused = jwt.encode(body, x, algorithm="HS256", headers={"kid": header["kid"]})
    with pytest.raises(jwt.InvalidTokenError):
        verifier.verify(confused)
    assert not auth.validate(api.ValidateRequest(token=confused)).valid
