"""Shared pieces of the hardening scripts (scripts/soak, scripts/faults): a private MariaDB
instance, an authd process against it, and a client with per-call outcome recording.

Standard library plus the generated client (clients/python); run with PYTHONPATH=clients/python.
"""
from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from typing import Callable, Optional

import auth_api as api
import authrpc

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
AUTHD = os.path.join(ROOT, ".build", "debug", "authd")


def log(*args: object) -> None:
    print(time.strftime("%H:%M:%S"), *args, flush=True)


class MariaDB:
    """A named instance of scripts/mariadb (MARIADB_INSTANCE=name), which this script may stop and start."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.env = dict(os.environ, MARIADB_INSTANCE=name)

    def _run(self, action: str) -> None:
        subprocess.run([os.path.join(ROOT, "scripts", "mariadb"), action], env=self.env, check=True,
                       stdout=subprocess.DEVNULL, timeout=120)

    def start(self) -> None:
        self._run("start")

    def stop(self) -> None:
        self._run("stop")

    @property
    def env_file(self) -> str:
        return os.path.join(ROOT, ".data", f"mariadb-{self.name}.env")

    def settings(self) -> dict:
        out = {}
        with open(self.env_file) as f:
            for line in f:
                if line.startswith("export "):
                    k, _, v = line[7:].strip().partition("=")
                    out[k] = v.strip("'")
        return out

    def query(self, sql: str, database: str = "auth") -> list[list[str]]:
        s = self.settings()
        r = subprocess.run(["mariadb", "--no-defaults", "--protocol=socket", f"--socket={s['AUTH_DB_SOCKET']}",
                            "-uroot", "-N", "-B", database, "-e", sql],
                           check=True, capture_output=True, text=True, timeout=60)
        return [line.split("\t") for line in r.stdout.splitlines()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Authd:
    """`authd serve --dev` with its own data folder (TLS material, secret, the instance's DB settings)."""

    def __init__(self, name: str, db: MariaDB, *extra: str, log_level: str = "info") -> None:
        self.dir = os.path.join(ROOT, ".data", "harden", name)
        os.makedirs(self.dir, exist_ok=True)
        shutil.copy(db.env_file, os.path.join(self.dir, "mariadb.env"))
        os.chmod(os.path.join(self.dir, "mariadb.env"), 0o600)
        self.port = free_port()
        # Every instance reads the one key set in the database, whose private keys are sealed under
        # the key-encryption key: all must share it (--dev would make one per data folder).
        self.key_encryption_key_file = kek = os.path.join(ROOT, ".data", "harden", "key-encryption.key")
        if not os.path.exists(kek):
            fd = os.open(kek, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(base64.b64encode(os.urandom(32)).decode() + "\n")
        self.args = [AUTHD, "serve", "--dev", "--data-dir", self.dir, "--listen", f"127.0.0.1:{self.port}",
                     "--key-encryption-key-file", kek,
                     "--log-level", log_level,
                     # Load from one address registers far more than the production limits allow.
                     "--register-limit-per-address", "100000", "--register-limit-global", "100000", *extra]
        self.log_path = os.path.join(self.dir, "authd.log")
        self.proc: Optional[subprocess.Popen] = None

    @property
    def ca_file(self) -> str:
        return os.path.join(self.dir, "dev", "ca.pem")

    @property
    def secret_file(self) -> str:
        return os.path.join(self.dir, "dev", "jwt.secret")

    def start(self, wait: float = 60) -> None:
        logf = open(self.log_path, "ab")
        # Only --dev's settings (this instance's DB, this folder's TLS and secret): an AUTH_DB_* from
        # the caller's environment (scripts/test exports the default instance's) would win over them.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "AUTHD_"))}
        self.proc = subprocess.Popen(self.args, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"authd exited with {self.proc.returncode}; see {self.log_path}")
            try:
                ch = self.channel()
                try:
                    api.AuthClient(ch).health(api.HealthRequest(), timeout=2)
                    return
                finally:
                    ch.close()
            except (authrpc.RpcError, OSError, FileNotFoundError):
                time.sleep(0.2)
        raise RuntimeError(f"authd did not answer within {wait} s")

    def channel(self) -> authrpc.Channel:
        return authrpc.Channel("127.0.0.1", self.port, ca_file=self.ca_file)

    def rss_kib(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def new_email(tag: str) -> str:
    return f"{tag}-{secrets.token_hex(6)}@example.com"


def new_password() -> str:
    return "pw-" + secrets.token_urlsafe(18)


def bearer(token: str) -> list:
    return [("authorization", "Bearer " + token)]


class Recorder:
    """Counts calls and errors by method and status code; remembers every error text it saw."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: Counter = Counter()
        self.errors: Counter = Counter()
        self.error_texts: list[str] = []
        self.max_latency: Counter = Counter()

    def call(self, method: str, fn: Callable, *, expect: tuple = ()):
        """Runs fn; returns (reply, None) or (None, code name). Codes in `expect` are not errors."""
        start = time.monotonic()
        try:
            reply = fn()
            code = None
        except authrpc.RpcError as e:
            reply, code = None, e.code.name
            with self.lock:
                self.error_texts.append(str(e))
        elapsed = time.monotonic() - start
        with self.lock:
            self.calls[method] += 1
            if code and code not in expect:
                self.errors[f"{method}:{code}"] += 1
            if elapsed > self.max_latency[method]:
                self.max_latency[method] = elapsed
        return reply, code
