"""The installed package (`pip install ./clients/python`) against a live authd: a blocking call,
then the asyncio API — 1,000 concurrent Validate calls on one connection, a deadline, and a
cancelled call — in bounded time. Run by the Swift test ClientPackagesTests with a fresh virtual
environment's Python, outside the source tree; prints one line per check, exits non-zero on failure.

    python aio_live.py HOST:PORT CA_FILE
"""

import asyncio
import importlib.metadata
import os
import re
import sys
import time
import uuid

import auth_api as api
import authrpc
from authrpc import AsyncChannel, Channel, RpcError, StatusCode

CONCURRENT = 1000


def check(condition: bool, what: str) -> None:
    if not condition:
        print(f"FAILED: {what}")
        sys.exit(1)
    print(f"ok: {what}")


async def asynchronous(host: str, port: int, ca: str) -> None:
    async with AsyncChannel(host, port, ca_file=ca, timeout=30) as channel:
        auth = api.AsyncAuthClient(channel)
        health = await auth.health(api.HealthRequest())
        check(health.status == api.HealthReply.ServingStatus.SERVING, "async health: SERVING")
        email = f"aio-{uuid.uuid4().hex[:10]}@example.com"
        tokens = await auth.register(api.RegisterRequest(email=email, password=f"pw-{uuid.uuid4()}"))
        connection = channel._connection

        started = time.monotonic()
        replies = await asyncio.gather(*(auth.validate(api.ValidateRequest(token=tokens.token))
                                         for _ in range(CONCURRENT)))
        elapsed = time.monotonic() - started
        check(len(replies) == CONCURRENT and all(r.valid and r.user_id == tokens.user_id for r in replies),
              f"{CONCURRENT} concurrent validate calls, all valid ({elapsed:.2f} s)")
        check(channel._connection is connection, "one connection carried them all")

        # A deadline too short for a password hash: DEADLINE_EXCEEDED, and the channel stays usable.
        try:
            await auth.login(api.LoginRequest(email=email, password="wrong password"), timeout=0.001)
            check(False, "login within 1 ms")
        except RpcError as e:
            check(e.code == StatusCode.DEADLINE_EXCEEDED, "a passed deadline raises DEADLINE_EXCEEDED")

        # A cancelled task: CancelledError for the caller, the next call still answered.
        task = asyncio.ensure_future(auth.login(api.LoginRequest(email=email, password="wrong password")))
        await asyncio.sleep(0.001)
        task.cancel()
        try:
            await task
            check(False, "the cancelled call was cancelled")
        except asyncio.CancelledError:
            check(True, "a cancelled call raises CancelledError")
        me = await auth.status(api.StatusRequest(), metadata={"authorization": f"Bearer {tokens.token}"})
        check(me.email == email and channel._connection is connection, "the connection serves calls afterwards")
        await asgi_middleware(channel, tokens.token, tokens.user_id)


async def asgi_middleware(channel: AsyncChannel, token: str, user_id: int) -> None:
    """The ASGI middleware of clients/python/README.md, as written there, on two requests."""
    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md"), encoding="utf-8").read()
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "class RequireToken" in b)
    namespace: dict = {}
    exec(block.split("\nchannel = ")[0], namespace)  # the class; the README's last lines wire a real app

    seen = []

    async def app(scope, receive, send):
        seen.append(scope["user"])
        await send({"type": "http.response.start", "status": 200, "headers": []})

    middleware = namespace["RequireToken"](app, channel)
    for header, expected in [(f"Bearer {token}", 200), ("Bearer not-a-token", 401), (None, 401)]:
        sent = []

        async def send(message):
            sent.append(message)

        headers = [] if header is None else [(b"authorization", header.encode())]
        await middleware({"type": "http", "headers": headers}, None, send)
        check(sent[0]["status"] == expected, f"README's ASGI middleware answers {expected} for {header and header[:8]!r}")
    check(seen == [{"id": user_id, "admin": False}], "the middleware passed the valid request on, with its user")


def main() -> None:
    address, ca = sys.argv[1], sys.argv[2]
    host, port = address.rsplit(":", 1)
    check("site-packages" in authrpc.__file__ and "site-packages" in api.__file__,
          f"imported from the installed package ({authrpc.__file__})")
    check(importlib.metadata.version("authd-client") == authrpc.__version__,
          f"authd-client {authrpc.__version__} installed")
    with Channel(host, int(port), ca_file=ca, timeout=30) as channel:
        reply = api.AuthClient(channel).health(api.HealthRequest())
        check(reply.status == api.HealthReply.ServingStatus.SERVING, "blocking health: SERVING")
    asyncio.run(asyncio.wait_for(asynchronous(host, int(port), ca), 120))
    print("all checks passed")


if __name__ == "__main__":
    main()
