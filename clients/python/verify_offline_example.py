"""Verifying authd's EdDSA access tokens offline, with PyJWT and `cryptography`: fetch the public
keys once with `Keys`, cache them for `max_age_seconds`, fetch again on an unknown `kid`, and
check tokens without calling authd.

    pip install PyJWT cryptography
    PYTHONPATH=clients/python python3 clients/python/verify_offline_example.py --ca .data/dev/ca.pem TOKEN

Offline verification checks the signature and the times (and `iss`/`aud` when given); it cannot
see a logout or a revocation. Call `Validate` where a revoked token must be refused at once.
"""

import argparse
import json
import time

import jwt  # PyJWT

import auth_api as api
from authrpc import Channel


class OfflineVerifier:
    """Verifies tokens with the JWK Set from authd's `Keys` RPC, refreshed after its max age and
    when a token names a kid the cached set lacks."""

    def __init__(self, auth_client, issuer=None, audience=None, clock=time.monotonic):
        self._auth = auth_client
        self._issuer = issuer
        self._audience = audience
        self._clock = clock
        self._keys = {}
        self._fetched_at = None
        self._max_age = 0

    def _refresh(self):
        reply = self._auth.keys(api.KeysRequest())
        self._keys = {key.key_id: key for key in jwt.PyJWKSet.from_json(reply.jwks_json).keys}
        self._max_age = reply.max_age_seconds
        self._fetched_at = self._clock()

    def _key(self, kid):
        stale = self._fetched_at is None or self._clock() - self._fetched_at >= self._max_age
        if stale or kid not in self._keys:
            self._refresh()
        if kid not in self._keys:
            raise jwt.InvalidTokenError("unknown kid")
        return self._keys[kid]

    def verify(self, token):
        """The token's claims; raises jwt.InvalidTokenError (or a subclass) for a bad token."""
        kid = jwt.get_unverified_header(token).get("kid")
        key = self._key(kid)
        # The algorithm is pinned to EdDSA, never taken from the token's header.
        return jwt.decode(token, key.key, algorithms=["EdDSA"], issuer=self._issuer,
                          audience=self._audience, options={"require": ["exp", "iat", "sub"],
                                                           "verify_aud": self._audience is not None})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="127.0.0.1:7443", help="authd's HOST:PORT")
    parser.add_argument("--ca", required=True, help="PEM file of the CA that signed authd's certificate")
    parser.add_argument("token", help="an access token")
    args = parser.parse_args()
    host, port = args.address.rsplit(":", 1)
    with Channel(host, int(port), ca_file=args.ca) as channel:
        verifier = OfflineVerifier(api.AuthClient(channel))
        print(json.dumps(verifier.verify(args.token), indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
