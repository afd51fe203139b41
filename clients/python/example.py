"""A short tour of the Python client: register (or log in), ask who the token belongs to,
validate it as another service would, refresh, log out.

    PYTHONPATH=clients/python python3 clients/python/example.py --ca .data/dev/ca.pem
    PYTHONPATH=clients/python python3 clients/python/example.py --address 127.0.0.1:7443 \
        --ca .data/dev/ca.pem --email you@example.com --password 'a long passphrase'

Only the standard library is needed.
"""

import argparse
import uuid

import auth_api as api
from authrpc import Channel, RpcError, StatusCode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="127.0.0.1:7443", help="authd's HOST:PORT")
    parser.add_argument("--ca", required=True, help="PEM file of the CA that signed authd's certificate")
    parser.add_argument("--email", default=f"example-{uuid.uuid4().hex[:8]}@example.com")
    parser.add_argument("--password", default=f"example-{uuid.uuid4()}")
    args = parser.parse_args()
    host, port = args.address.rsplit(":", 1)

    with Channel(host, int(port), ca_file=args.ca) as channel:
        auth = api.AuthClient(channel)
        print("health:", api.HealthReply.ServingStatus(auth.health(api.HealthRequest()).status).name)

        try:
            tokens = auth.register(api.RegisterRequest(email=args.email, password=args.password))
            print(f"registered {args.email} as user {tokens.user_id}")
        except RpcError as e:
            if e.code != StatusCode.ALREADY_EXISTS:
                raise
            tokens = auth.login(api.LoginRequest(email=args.email, password=args.password), timeout=5.0)
            print(f"logged in as user {tokens.user_id}")

        # Status and Logout take the caller's token from the `authorization` metadata.
        me = {"authorization": f"Bearer {tokens.token}"}
        status = auth.status(api.StatusRequest(), metadata=me)
        print(f"status: user {status.user_id}, {status.email}, admin={status.admin}, registered_on={status.registered_on}")

        # Validate takes the token to check in its message; a refusal is an OK reply with valid=False.
        check = auth.validate(api.ValidateRequest(token=tokens.token))
        print(f"validate: valid={check.valid}, expires in {check.expires_in} s")

        # A refresh token is used once: the reply carries the next one.
        tokens = auth.refresh(api.RefreshRequest(refresh_token=tokens.refresh_token))
        me = {"authorization": f"Bearer {tokens.token}"}
        print("refreshed; new access token expires at", tokens.expires_at)

        print("logout:", auth.logout(api.LogoutRequest(), metadata=me).message)
        after = auth.validate(api.ValidateRequest(token=tokens.token))
        print(f"validate after logout: valid={after.valid}, {after.message}")


if __name__ == "__main__":
    main()
