"""A bounded mixed load against authd (run by scripts/soak): register, login, validate, status,
refresh, logout, validate-after-logout, from a few client threads, each on its own connection.
Reports calls, errors by method and code, and authd's memory (VmRSS) at start and end.
Exits non-zero on an unexpected error or when memory grew by more than the allowed slack.

With --leak-check, authd logs at debug level and, at the end, every secret the run used
(passwords, access and refresh tokens, the JWT secret, the database password) is searched for in
authd's log and in every error text the clients received; the secret files must be mode 0600.
"""
from __future__ import annotations

import argparse
import base64
import os
import stat
import sys
import threading
import time

import auth_api as api
from harness import Authd, MariaDB, Recorder, bearer, log, new_email, new_password

parser = argparse.ArgumentParser()
parser.add_argument("seconds", type=float, nargs="?", default=60)
parser.add_argument("--threads", type=int, default=4)
parser.add_argument("--leak-check", action="store_true")
parser.add_argument("--rss-slack-mib", type=float, default=24)
args = parser.parse_args()

db = MariaDB("harden")
db.start()
# Earlier runs' login attempts (same address, same 15-minute window) would count against this one.
try:
    db.query("DELETE FROM login_attempts")
except Exception:
    pass  # a fresh database: authd creates the table
authd = Authd("leaks" if args.leak_check else "soak", db, log_level="trace" if args.leak_check else "info")
if args.leak_check and os.path.exists(authd.log_path):
    os.remove(authd.log_path)
authd.start()
rec = Recorder()
secrets_used: list[str] = []
slock = threading.Lock()
stop = threading.Event()


def remember(*values: str) -> None:
    if args.leak_check:
        with slock:
            secrets_used.extend(v for v in values if v)


class Counter:
    def __init__(self) -> None:
        self.n = 0
        self.lock = threading.Lock()

    def next(self) -> int:
        with self.lock:
            self.n += 1
            return self.n


counter = Counter()


def session(c: api.AuthClient) -> None:
    email, password = new_email("soak"), new_password()
    remember(password)
    r, code = rec.call("Register", lambda: c.register(api.RegisterRequest(email=email, password=password), timeout=20))
    if code:
        return
    remember(r.token, r.refresh_token)
    # Errors a real caller provokes: a wrong password, a taken email, a refused token. Wrong passwords
    # only now and then, at most 40 a run: all load comes from one address, and its login throttle
    # (100 attempts in 15 min for accounts that address has not logged in to before) is meant to
    # trip under a password-guessing flood, which this is not.
    n = counter.next()
    if n % 5 == 0 and n <= 200:
        rec.call("Login", lambda: c.login(api.LoginRequest(email=email, password=password + "x"), timeout=20),
                 expect=("UNAUTHENTICATED", "RESOURCE_EXHAUSTED"))
    rec.call("Register", lambda: c.register(api.RegisterRequest(email=email, password=password), timeout=20),
             expect=("ALREADY_EXISTS",))
    r2, code = rec.call("Login", lambda: c.login(api.LoginRequest(email=email, password=password), timeout=20))
    if code:
        return
    remember(r2.token, r2.refresh_token)
    for _ in range(20):
        v, code = rec.call("Validate", lambda: c.validate(api.ValidateRequest(token=r2.token), timeout=5))
        if v is not None and not v.valid:
            rec.errors["Validate:valid=false"] += 1
    rec.call("Status", lambda: c.status(api.StatusRequest(), metadata=bearer(r2.token), timeout=20))
    r3, code = rec.call("Refresh", lambda: c.refresh(api.RefreshRequest(refresh_token=r2.refresh_token), timeout=20))
    if r3 is not None:
        remember(r3.token, r3.refresh_token)
    rec.call("Logout", lambda: c.logout(api.LogoutRequest(), metadata=bearer(r2.token), timeout=20))
    v, _ = rec.call("Validate", lambda: c.validate(api.ValidateRequest(token=r2.token), timeout=5))
    if v is not None and v.valid:
        rec.errors["Validate:revoked token valid"] += 1
    rec.call("Status", lambda: c.status(api.StatusRequest(), metadata=bearer(r2.token), timeout=20),
             expect=("UNAUTHENTICATED",))
    rec.call("Validate", lambda: c.validate(api.ValidateRequest(token=r2.token[:-3] + "AAA"), timeout=5))


def worker() -> None:
    ch = authd.channel()
    c = api.AuthClient(ch)
    while not stop.is_set():
        session(c)
    ch.close()


# Warm-up (first argon2 allocations, TLS contexts, pools), then the baseline.
warm = authd.channel()
for _ in range(3):
    session(api.AuthClient(warm))
warm.close()
rss_start = authd.rss_kib()
log(f"soak: {args.seconds:.0f} s, {args.threads} threads, authd pid {authd.proc.pid}, RSS {rss_start / 1024:.1f} MiB")
threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.threads)]
t0 = time.monotonic()
for t in threads:
    t.start()
mid = []
while time.monotonic() - t0 < args.seconds:
    time.sleep(min(5, max(0.1, args.seconds - (time.monotonic() - t0))))
    mid.append(authd.rss_kib())
stop.set()
for t in threads:
    t.join(timeout=30)
elapsed = time.monotonic() - t0
time.sleep(1)
rss_end = authd.rss_kib()
calls = sum(rec.calls.values())
log(f"soak: {calls} calls in {elapsed:.0f} s ({calls / elapsed:.0f}/s): " +
    ", ".join(f"{k} {v}" for k, v in sorted(rec.calls.items())))
log(f"soak: unexpected errors: {dict(rec.errors) or 'none'}")
log(f"soak: authd RSS start {rss_start / 1024:.1f} MiB, end {rss_end / 1024:.1f} MiB, peak {max(mid + [rss_end]) / 1024:.1f} MiB")
failed = bool(rec.errors)
if rss_end - rss_start > args.rss_slack_mib * 1024:
    log(f"soak: memory grew by {(rss_end - rss_start) / 1024:.1f} MiB (allowed {args.rss_slack_mib} MiB)")
    failed = True

if args.leak_check:
    authd.stop()
    with open(authd.secret_file) as f:
        jwt_secret = f.read().strip()
    db_password = db.settings()["AUTH_DB_PASSWORD"]
    with open(authd.key_encryption_key_file) as f:
        kek = f.read().strip()
    needles = set(secrets_used) | {jwt_secret, base64.b64decode(jwt_secret).hex(), db_password, kek, base64.b64decode(kek).hex()}
    # Tokens are also searched by their signature (the part no two tokens share).
    needles |= {s.rsplit(".", 1)[-1] for s in secrets_used if s.count(".") == 2}
    with open(authd.log_path, errors="replace") as f:
        log_text = f.read()
    haystacks = {"authd log": log_text, "client error texts": "\n".join(rec.error_texts)}
    leaks = [(name, n[:12] + "…") for name, text in haystacks.items() for n in needles if n and n in text]
    log(f"leak check: {len(needles)} secrets searched in {len(log_text.splitlines())} log lines "
        f"and {len(rec.error_texts)} error texts: {len(leaks)} found {leaks[:5]}")
    modes = {}
    for path in (authd.secret_file, authd.key_encryption_key_file, os.path.join(authd.dir, "dev", "server.key"), os.path.join(authd.dir, "dev", "ca.key"),
                 os.path.join(os.path.dirname(db.env_file), "mariadb-harden", "app-password"), db.env_file):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        modes[os.path.relpath(path, authd.dir)] = oct(mode)
        if mode & 0o077:
            log(f"leak check: {path} has mode {oct(mode)}, not 0600")
            failed = True
    log(f"leak check: secret file modes {modes}")
    failed = failed or bool(leaks)
else:
    authd.stop()
log("soak: FAILED" if failed else "soak: passed")
sys.exit(1 if failed else 0)
