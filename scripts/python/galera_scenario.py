#!/usr/bin/env python3
"""Scale-out scenario: two authd instances on a three-node MariaDB Galera cluster.

Run by scripts/test-galera, which starts the cluster (scripts/galera) and stops it afterwards; this
driver starts and stops the two authd processes itself. Every wait is bounded.

  1. register through instance A, log in through instance B at once (causal reads);
  2. log out through A: B refuses the token within 1 s; a refresh token rotated through A and
     presented again through B is refused as reused, and its family is gone on A too; an admin's
     revoke-all through A: B refuses the user's token within 1 s;
  3. a mixed load over both instances (MultiChannel) while Galera node 2 is killed with SIGKILL
     and later restarted: no call outlives its deadline; every registration answered OK is on all
     three nodes afterwards, none answered with a definite error is on any, and the three nodes
     hold the same users. The error rate during the fail-over is reported.

With --bench: the throughput of one instance against two (same cluster, same machine).

Exit status 0 when every check holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Dict, List, Optional, Tuple

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))

import auth_api as api  # noqa: E402
from authrpc import Channel, MultiChannel, RpcError, StatusCode  # noqa: E402

CALL_TIMEOUT = 5.0          # seconds each call of the load may take (its deadline)
DEADLINE_SLACK = 1.0        # a call answered later than its deadline plus this "hung"
REVOCATION_BOUND = 1.0      # a logout through A must be honoured by B within this
PASSWORD = "correct horse battery staple"

failures: List[str] = []


def check(condition: bool, what: str) -> None:
    print(("  ok   " if condition else "  FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)


def galera(*args: str) -> str:
    """Runs scripts/galera (bounded) and returns its output."""
    r = subprocess.run([os.path.join(ROOT, "scripts", "galera"), *args], capture_output=True, text=True, timeout=150)
    if r.returncode != 0:
        raise RuntimeError(f"scripts/galera {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout.strip()


def node_sql(node: int, sql: str, database: Optional[str] = None) -> List[str]:
    """Runs SQL on one Galera node directly (root over its unix socket); returns the rows."""
    sock = os.path.join(ROOT, ".data", "galera", f"node{node}", "mariadb.sock")
    cmd = ["mariadb", "--no-defaults", "--protocol=socket", f"--socket={sock}", "-uroot", "-N", "-B", "-e", sql]
    if database:
        cmd.append(database)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError(f"node {node}: {r.stderr.strip()}")
    return [line for line in r.stdout.split("\n") if line]


# -- TLS material and the authd processes

def make_material(work: str) -> Dict[str, str]:
    paths = {k: os.path.join(work, v) for k, v in
             {"ca": "ca.pem", "ca_key": "ca.key", "cert": "server.pem", "key": "server.key", "secret": "jwt.secret",
              "dbpw": "db.password", "ext": "san.cnf"}.items()}

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)

    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=galera test CA", "-keyout", paths["ca_key"], "-out", paths["ca"])
    with open(paths["ext"], "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", paths["key"], "-out", paths["cert"] + ".csr")
    openssl("x509", "-req", "-in", paths["cert"] + ".csr", "-CA", paths["ca"], "-CAkey", paths["ca_key"],
            "-CAcreateserial", "-days", "2", "-extfile", paths["ext"], "-out", paths["cert"])
    for name, value in (("secret", base64.b64encode(secrets.token_bytes(48)).decode()),
                        ("dbpw", os.environ["AUTH_DB_PASSWORD"])):
        fd = os.open(paths[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value)
    return paths


def db_args(hosts: List[str], database: str, material: Dict[str, str]) -> List[str]:
    """authd's database flags for the cluster (every node, in the given order)."""
    return ["--db-hosts", ",".join(hosts), "--db-user", os.environ["AUTH_DB_USER"],
            "--db-password-file", material["dbpw"], "--db-name", database, "--db-timeout", "2"]


class Authd:
    """One authd process, listening on a port it chose; its log kept in a file."""

    def __init__(self, name: str, binary: str, db_hosts: str, database: str, material: Dict[str, str], work: str,
                 argon2: Tuple[int, int]) -> None:
        self.name = name
        self.log_path = os.path.join(work, f"authd-{name}.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--tls-cert", material["cert"], "--tls-key", material["key"],
             "--jwt-secret-file", material["secret"], *db_args(db_hosts.split(","), database, material),
             "--revocation-poll-ms", "500", "--log-format", "json", "--log-level", "notice",
             "--argon2-memory-kib", str(argon2[0]), "--argon2-iterations", str(argon2[1]), "--grace", "2",
             "--register-limit-per-address", "100000", "--register-limit-global", "100000"],
            stdout=subprocess.DEVNULL, stderr=self.log, stdin=subprocess.DEVNULL)
        self.port = 0

    def wait_listening(self, timeout: float = 60) -> int:
        self.port = self._wait_listening(timeout)
        return self.port

    def _wait_listening(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"authd {self.name} exited ({self.process.returncode}): {self.tail()}")
            with open(self.log_path) as f:
                for line in f:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue
                    if record.get("msg") == "authd listening":
                        return int(record["address"].rsplit(":", 1)[1])
            time.sleep(0.1)
        raise RuntimeError(f"authd {self.name} did not start within {timeout} s: {self.tail()}")

    def tail(self) -> str:
        with open(self.log_path) as f:
            return "".join(f.readlines()[-10:])

    def stop(self) -> None:
        if self.log.closed:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.log.close()


# -- scenarios

def client_for(material: Dict[str, str], *ports: int):
    if len(ports) == 1:
        return api.AuthClient(Channel("127.0.0.1", ports[0], ca_file=material["ca"], timeout=CALL_TIMEOUT))
    channel = MultiChannel([("127.0.0.1", p) for p in ports], ca_file=material["ca"], timeout=CALL_TIMEOUT)
    return api.AuthClient(channel), channel


def bearer(token: str) -> Dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def scenario_register_then_login(a, b, run_id: str) -> None:
    print("register through A, log in through B at once:", flush=True)
    ok = 0
    for i in range(20):
        email = f"rl-{run_id}-{i}@example.com"
        reg = a.register(api.RegisterRequest(email=email, password=PASSWORD))
        tokens = b.login(api.LoginRequest(email=email, password=PASSWORD))
        ok += tokens.user_id == reg.user_id
    check(ok == 20, f"{ok}/20 logins through B right after registering through A")


def scenario_logout_and_refresh(a, b, run_id: str) -> None:
    print(f"log out through A, B refuses within {REVOCATION_BOUND} s:", flush=True)
    email = f"lo-{run_id}@example.com"
    a.register(api.RegisterRequest(email=email, password=PASSWORD))
    delays = []
    for i in range(5):
        token = a.login(api.LoginRequest(email=email, password=PASSWORD)).token
        check(b.validate(api.ValidateRequest(token=token)).valid, f"token {i} valid on B before logout")
        a.logout(api.LogoutRequest(), metadata=bearer(token))
        started = time.monotonic()
        while True:
            reply = b.validate(api.ValidateRequest(token=token))
            elapsed = time.monotonic() - started
            if not reply.valid or elapsed > 3:
                break
            time.sleep(0.02)
        delays.append(elapsed)
        check(not reply.valid and elapsed <= REVOCATION_BOUND, f"token {i} refused by B after {elapsed * 1000:.0f} ms")
        time.sleep(0.15)  # spread the logouts over the poll phase
    print(f"  revocation seen by B after {min(delays) * 1000:.0f} to {max(delays) * 1000:.0f} ms", flush=True)

    print("refresh-token family across instances:", flush=True)
    first = a.login(api.LoginRequest(email=email, password=PASSWORD))
    second = a.refresh(api.RefreshRequest(refresh_token=first.refresh_token))
    try:
        b.refresh(api.RefreshRequest(refresh_token=first.refresh_token))
        check(False, "a spent refresh token presented through B is refused")
    except RpcError as e:
        check(e.code == StatusCode.UNAUTHENTICATED and "already used" in e.message,
              f"a spent refresh token presented through B is refused as reused ({e.code.name})")
    try:
        a.refresh(api.RefreshRequest(refresh_token=second.refresh_token))
        check(False, "the family's current token is then refused through A")
    except RpcError as e:
        check(e.code == StatusCode.UNAUTHENTICATED, "the family's current token is then refused through A")


def scenario_revoke_all(a, b, authd: str, db_args: List[str], run_id: str) -> None:
    print(f"revoke-all through A, B refuses the user's tokens within {REVOCATION_BOUND} s:", flush=True)
    admin, victim = f"admin-{run_id}@example.com", f"victim-{run_id}@example.com"
    a.register(api.RegisterRequest(email=admin, password=PASSWORD))
    r = subprocess.run([authd, "admin", "grant", admin, *db_args, "--log-level", "error"],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"authd admin grant ({r.stderr.strip() or 'ok'})")
    admin_token = a.login(api.LoginRequest(email=admin, password=PASSWORD)).token
    victim_id = b.register(api.RegisterRequest(email=victim, password=PASSWORD)).user_id
    token = b.login(api.LoginRequest(email=victim, password=PASSWORD)).token
    check(b.validate(api.ValidateRequest(token=token)).valid, "the user's token is valid on B before")
    a.revoke_all(api.RevokeAllRequest(user_id=victim_id), metadata=bearer(admin_token))
    started = time.monotonic()
    while True:
        reply = b.validate(api.ValidateRequest(token=token))
        elapsed = time.monotonic() - started
        if not reply.valid or elapsed > 3:
            break
        time.sleep(0.02)
    check(not reply.valid and elapsed <= REVOCATION_BOUND, f"the user's token refused by B after {elapsed * 1000:.0f} ms")


class LoadResult:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: List[Tuple[float, str, str, float]] = []  # (start, method, outcome, duration)
        self.registered_ok: List[str] = []
        self.registered_failed: List[str] = []       # definite: nothing was stored
        self.registered_unknown: List[str] = []      # the client cannot know

    def record(self, start: float, method: str, outcome: str, duration: float) -> None:
        with self.lock:
            self.calls.append((start, method, outcome, duration))


# The answer to the registrations with a too common password: expected, not counted as errors.
INTENDED = "INVALID_ARGUMENT (intended)"


def outcome_of(e: RpcError) -> Tuple[str, bool]:
    """The outcome's label, and whether a write failed definitely (stored nothing)."""
    if e.not_processed:
        return f"{e.code.name} (not processed)", True
    if e.code == StatusCode.UNAVAILABLE and e.message == "Service temporarily unavailable. Try again.":
        return "UNAVAILABLE (store unavailable)", True
    if e.code == StatusCode.UNAVAILABLE and "may or may not" in e.message:
        return "UNAVAILABLE (outcome unknown)", False
    if e.code == StatusCode.UNAVAILABLE and "revocations not current" in e.message:
        return "UNAVAILABLE (revocations stale: fails closed)", True
    if e.code in (StatusCode.UNAVAILABLE, StatusCode.DEADLINE_EXCEEDED, StatusCode.CANCELLED, StatusCode.UNKNOWN):
        return f"{e.code.name} (transport)", False
    return e.code.name, True


def load_worker(client, result: LoadResult, stop: threading.Event, worker: int, run_id: str) -> None:
    i = 0
    while not stop.is_set():
        i += 1
        email = f"load-{run_id}-{worker}-{i}@example.com"
        # One registration in ten is refused (a too common password): a definite error, so the
        # check that failed registrations are on no node always has cases, not only store errors.
        password = "password" if i % 10 == 0 else PASSWORD
        start = time.monotonic()
        try:
            reply = client.register(api.RegisterRequest(email=email, password=password))
            check(password == PASSWORD, f"a too common password was refused ({email})") if password != PASSWORD else None
            result.record(start, "Register", "OK", time.monotonic() - start)
            with result.lock:
                result.registered_ok.append(email)
        except RpcError as e:
            label, definite = outcome_of(e)
            if password != PASSWORD and e.code == StatusCode.INVALID_ARGUMENT:
                label = INTENDED
            result.record(start, "Register", label, time.monotonic() - start)
            with result.lock:
                (result.registered_failed if definite else result.registered_unknown).append(email)
            # RESOURCE_EXHAUSTED says "back off": a connection whose blocking calls are all stuck on a
            # stalled node refuses more at once (authd's per-connection cap), so a client that
            # retried in a tight loop would only count refusals.
            if e.code == StatusCode.RESOURCE_EXHAUSTED:
                time.sleep(0.05)
            continue
        for method, call in (("Login", lambda: client.login(api.LoginRequest(email=email, password=PASSWORD))),
                             ("Validate", lambda: client.validate(api.ValidateRequest(token=reply.token))),
                             ("Status", lambda: client.status(api.StatusRequest(), metadata=bearer(reply.token)))):
            start = time.monotonic()
            try:
                call()
                result.record(start, method, "OK", time.monotonic() - start)
            except RpcError as e:
                result.record(start, method, outcome_of(e)[0], time.monotonic() - start)


def scenario_failover(material, instances: List["Authd"], run_id: str, database: str, workers: int) -> None:
    print("mixed load over A and B while Galera node 2 is killed (SIGKILL) and restarted, then B shut down:", flush=True)
    ports = [i.port for i in instances]
    client, channel = client_for(material, *ports)
    result = LoadResult()
    stop = threading.Event()
    threads = [threading.Thread(target=load_worker, args=(client, result, stop, w, run_id), daemon=True)
               for w in range(workers)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(6)
    killed_at = time.monotonic()
    print("  " + galera("kill", "2"), flush=True)
    time.sleep(10)
    restart_at = time.monotonic()
    print("  " + galera("restart", "2"), flush=True)
    synced_at = time.monotonic()
    time.sleep(3)
    # Instance B shuts down gracefully (GOAWAY): calls move to A; none that B refused is lost.
    b_stopped_at = time.monotonic()
    instances[1].stop()
    print(f"  authd B stopped (SIGTERM) with {instances[1].process.returncode}", flush=True)
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join(timeout=CALL_TIMEOUT * 4 + 5)
    check(not any(t.is_alive() for t in threads), "every load thread finished")
    ended = time.monotonic()
    channel.close()

    def summary(lo: float, hi: float) -> Tuple[int, int, Counter]:
        with result.lock:
            window = [c for c in result.calls if lo <= c[0] < hi]
        errors = Counter(c[2] for c in window if c[2] not in ("OK", INTENDED))
        return len(window), sum(errors.values()), errors

    print(f"  timeline: kill at {killed_at - t0:.1f} s, restart at {restart_at - t0:.1f} s, node 2 synced at "
          f"{synced_at - t0:.1f} s, end at {ended - t0:.1f} s; MultiChannel retries: {channel.retries}", flush=True)
    print("  calls by when they started:", flush=True)
    for label, lo, hi in (("before the kill", t0, killed_at), ("first 5 s after the kill", killed_at, killed_at + 5),
                          ("node 2 down", killed_at, restart_at), ("node 2 rejoining", restart_at, synced_at),
                          ("node 2 synced", synced_at, b_stopped_at), ("authd B stopping/stopped", b_stopped_at, ended + 1),
                          ("whole run", t0, ended + 1)):
        n, e, kinds = summary(lo, hi)
        rate = 100.0 * e / n if n else 0.0
        print(f"    {label:26s} {n:6d} calls, {e:4d} errors ({rate:5.2f} %) {dict(kinds) if kinds else ''}", flush=True)
    with result.lock:
        intended = sum(1 for c in result.calls if c[2] == INTENDED)
    print(f"    (not counted above: {intended} registrations with a too common password, refused as intended)", flush=True)
    # The fail-over: calls in flight at the kill or started in the 10 s after it.
    with result.lock:
        window = [c for c in result.calls if c[0] < killed_at + 10 and c[0] + c[3] >= killed_at]
    errors = sum(1 for c in window if c[2] not in ("OK", INTENDED))
    print(f"  error rate during the fail-over (in flight at the kill or started within 10 s after it): "
          f"{errors}/{len(window)} = {100.0 * errors / max(1, len(window)):.2f} %", flush=True)
    _, b_errors, _ = summary(b_stopped_at, ended + 1)
    check(b_errors == 0, f"authd B's graceful shutdown cost no call ({b_errors} errors; calls it refused were retried on A)")
    with result.lock:
        slowest = max((c[3] for c in result.calls), default=0.0)
        hung = [c for c in result.calls if c[3] > CALL_TIMEOUT + DEADLINE_SLACK]
    check(not hung, f"no call outlived its {CALL_TIMEOUT:.0f} s deadline (slowest {slowest:.2f} s, {len(hung)} over)")
    check(len(result.registered_ok) > 50, f"{len(result.registered_ok)} registrations answered OK during the run")

    # Every node must hold every OK registration and none of the definitely failed ones.
    ok, failed, unknown = set(result.registered_ok), set(result.registered_failed), set(result.registered_unknown)
    per_node = {}
    for node in (1, 2, 3):
        rows = set(node_sql(node, f"SELECT email FROM users WHERE email LIKE 'load-{run_id}-%'", database))
        per_node[node] = rows
        check(ok <= rows, f"node {node}: all {len(ok)} OK registrations present (missing {len(ok - rows)})")
        check(not (failed & rows), f"node {node}: none of the {len(failed)} failed registrations present "
                                   f"(found {len(failed & rows)})")
    check(per_node[1] == per_node[2] == per_node[3], "the three nodes hold the same users")
    print(f"  registrations: {len(ok)} OK, {len(failed)} failed definitely, {len(unknown)} of unknown outcome "
          f"({len(unknown & per_node[1])} of these stored)", flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (from /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_processes(instances: List["Authd"]) -> Dict[str, int]:
    pids = {f"authd {i.name}": i.process.pid for i in instances}
    for node in (1, 2, 3):
        with open(os.path.join(ROOT, ".data", "galera", f"node{node}", "mariadbd.pid")) as f:
            pids[f"node {node}"] = int(f.read().strip())
    pids["client"] = os.getpid()
    return pids


def bench(material, ports_one: List[int], ports_two: List[int], run_id: str, seconds: float, threads: int,
          processes: Dict[str, int]) -> None:
    """Logins per second (argon2id + the store), then validations per second (CPU only), each with
    `threads` client threads for `seconds`, through one instance and then through two."""

    def measure(client, work) -> Tuple[float, Counter]:
        counts: Counter = Counter()
        lock = threading.Lock()
        stop = threading.Event()

        def worker(i: int) -> None:
            while not stop.is_set():
                try:
                    work(i)
                    outcome = "ok"
                except RpcError as e:
                    outcome = e.code.name
                with lock:
                    counts[outcome] += 1

        ts = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
        before = {name: cpu_seconds(pid) for name, pid in processes.items()}
        started = time.monotonic()
        for t in ts:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in ts:
            t.join(timeout=10)
        elapsed = time.monotonic() - started
        used = {name: cpu_seconds(pid) - before[name] for name, pid in processes.items()}
        n = max(1, counts["ok"])
        print("    CPU per call (µs): " + ", ".join(f"{k} {v / n * 1e6:.0f}" for k, v in used.items())
              + f"; all {sum(used.values()) / n * 1e6:.0f}; cores busy {sum(used.values()) / elapsed:.2f}", flush=True)
        return elapsed, counts

    def run(ports: List[int], label: str) -> None:
        # A MultiChannel in both runs (over one address, then two), so the client costs the same.
        channel = MultiChannel([("127.0.0.1", p) for p in ports], ca_file=material["ca"], timeout=CALL_TIMEOUT)
        client = api.AuthClient(channel)
        emails = [f"bench-{run_id}-{len(ports)}-{i}@example.com" for i in range(threads)]
        tokens = [client.register(api.RegisterRequest(email=e, password=PASSWORD)).token for e in emails]
        elapsed, logins = measure(client, lambda i: client.login(api.LoginRequest(email=emails[i], password=PASSWORD)))
        print(f"  {label}: {logins['ok'] / elapsed:7.1f} logins/s      {dict(logins)} in {elapsed:.1f} s", flush=True)
        elapsed, checks = measure(client, lambda i: client.validate(api.ValidateRequest(token=tokens[i])))
        print(f"  {label}: {checks['ok'] / elapsed:7.1f} validations/s {dict(checks)} in {elapsed:.1f} s", flush=True)
        channel.close()

    print(f"throughput, one instance against two ({threads} client threads, Python client):", flush=True)
    run(ports_one, "one instance ")
    run(ports_two, "two instances")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--authd", default=os.path.join(ROOT, ".build", "debug", "authd"))
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--bench", action="store_true", help="measure throughput instead of the scenario")
    parser.add_argument("--bench-seconds", type=float, default=15)
    parser.add_argument("--bench-threads", type=int, default=8)
    args = parser.parse_args()

    # A hard bound on the whole driver, whatever happens.
    def out_of_time(*_: object) -> None:
        raise TimeoutError("scenario exceeded its time bound")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(200)

    hosts = os.environ["AUTH_DB_HOSTS"].split(",")
    run_id = secrets.token_hex(4)
    database = f"auth_g{run_id}"
    work = os.path.join(ROOT, ".data", "galera-test")
    os.makedirs(work, exist_ok=True)
    material = make_material(work)
    node_sql(1, f"CREATE DATABASE {database} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    instances: List[Authd] = []
    try:
        # A prefers node 1, B node 2 (the node that will be killed); both list all three.
        argon2 = (19456, 2) if args.bench else (4096, 1)
        # Both start together on an empty database and migrate it through different nodes at once
        # (GET_LOCK is not replicated): both must come up.
        for name, order in (("A", [0, 1, 2]), ("B", [1, 2, 0])):
            instances.append(Authd(name, args.authd, ",".join(hosts[i] for i in order), database, material, work, argon2))
        a_port, b_port = (i.wait_listening() for i in instances)
        migrated = node_sql(3, "SELECT GROUP_CONCAT(version ORDER BY version) FROM schema_migrations", database)
        versions = (migrated[0] or "").split(",") if migrated else []
        check(len(versions) >= 2 and versions == [str(v) for v in range(1, len(versions) + 1)],
              f"both instances started together; every migration applied once, in order: {migrated}")
        print(f"authd A on 127.0.0.1:{a_port} (db {hosts[0]} first), B on 127.0.0.1:{b_port} (db {hosts[1]} first), "
              f"database {database}", flush=True)
        if args.bench:
            bench(material, [a_port], [a_port, b_port], run_id, args.bench_seconds, args.bench_threads,
                  bench_processes(instances))
            return 0
        a = client_for(material, a_port)
        b = client_for(material, b_port)
        scenario_register_then_login(a, b, run_id)
        scenario_logout_and_refresh(a, b, run_id)
        scenario_revoke_all(a, b, args.authd, db_args(hosts, database, material), run_id)
        scenario_failover(material, instances, run_id, database, args.workers)
    except Exception as e:  # report, then clean up and fail
        failures.append(f"{type(e).__name__}: {e}")
        print(f"  FAIL {type(e).__name__}: {e}", flush=True)
    finally:
        signal.alarm(0)
        for instance in instances:
            instance.stop()
        for instance in instances:
            if instance.process.returncode not in (0, None):
                print(f"authd {instance.name} exited with {instance.process.returncode}:\n{instance.tail()}", flush=True)
        try:
            node_sql(1, f"DROP DATABASE IF EXISTS {database}")
        except Exception as e:
            print(f"could not drop {database}: {e}", flush=True)
    if failures:
        print(f"galera scenario: {len(failures)} check(s) failed: {failures}", flush=True)
        return 1
    print("galera scenario: every check held", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
