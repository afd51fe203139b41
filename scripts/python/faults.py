"""Database faults and crash safety for authd. Run by scripts/faults.

db:    a mixed load; MariaDB is stopped in the middle. Calls that need it must fail with
       UNAVAILABLE within the configured --db-timeout (never hang), Health says NOT_SERVING, and
       Validate answers from memory while the revocation feed is younger than
       --revocation-max-staleness, then fails closed with UNAVAILABLE (never a wrong answer). MariaDB is started again: the service recovers by itself.
       Afterwards every registration answered OK is in the database and none answered with an
       error is.
crash: a mixed load; authd is killed with SIGKILL in the middle and started again. Revoked tokens
       stay revoked, refresh-token families stay consistent (the newest refresh token of each
       family works, a used one is refused), no user is half-created (every row can log in).
Exits non-zero on any violation; prints the figures.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter

import auth_api as api
from harness import Authd, MariaDB, Recorder, bearer, log, new_email, new_password

DB_TIMEOUT = 2          # --db-timeout given to authd, seconds
STALENESS = 3           # --revocation-max-staleness given to authd, seconds
SLACK = 2.5             # allowed on top of it for a failing call (argon2, scheduling on 2 shared cores)
problems: list[str] = []


def check(ok: bool, what: str) -> None:
    if not ok:
        problems.append(what)
        log("PROBLEM:", what)


def users_in_db(db: MariaDB, emails: list[str]) -> set[str]:
    rows = db.query("SELECT email, password_hash FROM users")
    for email, pw_hash in rows:
        check(pw_hash.startswith("$argon2id$"), f"user {email} has no complete password hash")
    return {r[0] for r in rows}


def db_faults(db: MariaDB) -> dict:
    authd = Authd("faults", db, f"--db-timeout={DB_TIMEOUT}", "--db-wait=60", f"--revocation-max-staleness={STALENESS}")
    if os.path.exists(authd.log_path):
        os.remove(authd.log_path)  # its log is read below: this run's only
    authd.start()
    rec = Recorder()
    outcomes: dict[str, str | None] = {}     # email -> None (OK) or the error code
    phase = {"name": "before"}
    slow_failures: list[float] = []
    ch = authd.channel()
    client = api.AuthClient(ch)
    email, password = new_email("keeper"), new_password()
    token = client.register(api.RegisterRequest(email=email, password=password), timeout=10).token
    # authd must be on the instance this script stops (not on one named by the caller's environment).
    if not db.query(f"SELECT COUNT(*) FROM users WHERE email = '{email}'") == [["1"]]:
        raise RuntimeError("authd does not use the MariaDB instance this script controls")
    stop = threading.Event()
    olock = threading.Lock()

    def registrar() -> None:
        c = api.AuthClient(authd.channel())
        while not stop.is_set():
            e = new_email("fault")
            t0 = time.monotonic()
            _, code = rec.call("Register", lambda: c.register(api.RegisterRequest(email=e, password=new_password()),
                                                               timeout=DB_TIMEOUT + SLACK + 5),
                               expect=("UNAVAILABLE",))
            elapsed = time.monotonic() - t0
            with olock:
                outcomes[e] = code
            if code is not None and elapsed > DB_TIMEOUT + SLACK:
                slow_failures.append(elapsed)
            if code is not None:
                time.sleep(0.05)

    def status_caller() -> None:
        c = api.AuthClient(authd.channel())
        while not stop.is_set():
            t0 = time.monotonic()
            _, code = rec.call("Status", lambda: c.status(api.StatusRequest(), metadata=bearer(token),
                                                           timeout=DB_TIMEOUT + SLACK + 5), expect=("UNAVAILABLE",))
            if code is not None and time.monotonic() - t0 > DB_TIMEOUT + SLACK:
                slow_failures.append(time.monotonic() - t0)
            time.sleep(0.02 if code is None else 0.05)

    validate_calls = [0]
    # (when the call started, its outcome): "valid", "UNAVAILABLE", or anything else (a problem).
    validate_outcomes: list[tuple[float, str]] = []
    marks: dict[str, float] = {}

    def validator() -> None:
        c = api.AuthClient(authd.channel())
        while not stop.is_set():
            t0 = time.monotonic()
            r, code = rec.call("Validate", lambda: c.validate(api.ValidateRequest(token=token), timeout=2),
                               expect=("UNAVAILABLE",))
            validate_calls[0] += 1
            validate_outcomes.append((t0, code or ("valid" if r.valid else f"refused: {r.message}")))
            time.sleep(0.005)

    threads = [threading.Thread(target=f, daemon=True) for f in (registrar, registrar, status_caller, validator)]
    for t in threads:
        t.start()
    time.sleep(3)
    log("stopping MariaDB under load")
    marks["stop"] = time.monotonic()
    db.stop()
    phase["name"] = "outage"
    time.sleep(DB_TIMEOUT + 1)
    # During the outage: Health NOT_SERVING, Validate answers, DB calls fail fast with UNAVAILABLE.
    h = client.health(api.HealthRequest(), timeout=5)
    check(h.status == api.HealthReply.ServingStatus.NOT_SERVING, f"Health during the outage: {h.status}")
    t0 = time.monotonic()
    _, code = rec.call("Login", lambda: client.login(api.LoginRequest(email=email, password=password), timeout=15),
                       expect=("UNAVAILABLE",))
    login_elapsed = time.monotonic() - t0
    check(code == "UNAVAILABLE", f"Login during the outage: {code}")
    check(login_elapsed <= DB_TIMEOUT + SLACK, f"Login during the outage took {login_elapsed:.1f} s")
    # Past the staleness bound the feed is too old to trust: Validate fails closed.
    time.sleep(max(0.0, marks["stop"] + STALENESS + 1.5 - time.monotonic()))
    _, code = rec.call("Validate", lambda: client.validate(api.ValidateRequest(token=token), timeout=2),
                       expect=("UNAVAILABLE",))
    check(code == "UNAVAILABLE", f"Validate past the staleness bound during the outage: {code or 'answered'}")
    outage_codes = dict(rec.errors)
    time.sleep(1)
    log("starting MariaDB again")
    db.start()
    phase["name"] = "after"
    # Recovery by itself: a registration succeeds and Health says SERVING within 30 s.
    recovered_after = None
    t_start = time.monotonic()
    while time.monotonic() - t_start < 30:
        try:
            client.register(api.RegisterRequest(email=new_email("recover"), password=new_password()), timeout=10)
            if client.health(api.HealthRequest(), timeout=5).status == 1:
                recovered_after = time.monotonic() - t_start
                break
        except Exception:
            pass
        time.sleep(0.3)
    check(recovered_after is not None, "no recovery within 30 s of MariaDB starting")
    marks["recovered"] = time.monotonic()
    time.sleep(2)
    stop.set()
    for t in threads:
        t.join(timeout=DB_TIMEOUT + SLACK + 10)
    check(not slow_failures, f"{len(slow_failures)} failing calls took longer than {DB_TIMEOUT + SLACK} s: {slow_failures[:5]}")
    # Validate: every answer before the outage, and within the bound after it began (less a poll of
    # slack), is valid; past the bound only valid or UNAVAILABLE; valid again after recovery (a poll
    # of slack); nothing else ever.
    wrong = [o for _, o in validate_outcomes if o not in ("valid", "UNAVAILABLE")]
    check(not wrong, f"Validate answered wrongly {len(wrong)} times: {sorted(set(wrong))[:3]}")
    early = [o for t, o in validate_outcomes if t < marks["stop"] + STALENESS - 1 and o != "valid"]
    check(not early, f"{len(early)} Validate calls failed within the staleness bound")
    late = [o for t, o in validate_outcomes if t > marks.get("recovered", float("inf")) + 1 and o != "valid"]
    check(not late, f"{len(late)} Validate calls failed after recovery")
    check(not rec.errors, f"unexpected errors: {dict(rec.errors)}")
    in_db = users_in_db(db, list(outcomes))
    ok = [e for e, c in outcomes.items() if c is None]
    failed = [e for e, c in outcomes.items() if c is not None]
    missing = [e for e in ok if e not in in_db]
    ghosts = [e for e in failed if e in in_db]
    check(not missing, f"{len(missing)} registrations answered OK are not in the database: {missing[:3]}")
    # One case cannot be told apart by anyone: the connection dropped (MariaDB shutting down) after
    # the COMMIT and before its OK arrived. authd logs those on Register ("the write may or may not
    # have taken effect", or the connector's "Server has gone away" / "Lost connection"); the registrations found in the database despite an error must
    # not outnumber them.
    with open(authd.log_path, errors="replace") as f:
        ambiguous = sum(1 for line in f if "method=Register" in line and
                        ("may or may not have taken effect" in line or "Server has gone away" in line
                         or "Lost connection" in line))
    check(len(ghosts) <= ambiguous,
          f"{len(ghosts)} registrations answered with an error are in the database, "
          f"more than the {ambiguous} whose connection was lost mid-statement: {ghosts[:3]}")
    authd.stop()
    ch.close()
    return {"registrations_checked": len(outcomes), "registrations_ok": len(ok), "registrations_failed": len(failed),
            "in_db_despite_error": len(ghosts), "lost_mid_statement": ambiguous,
            "calls": sum(rec.calls.values()), "unavailable": sum(1 for c in outcomes.values() if c == "UNAVAILABLE"),
            "validate_calls": validate_calls[0],
            "validate_failed_closed": sum(1 for _, o in validate_outcomes if o == "UNAVAILABLE"), "login_during_outage_s": round(login_elapsed, 2),
            "max_latency_s": {k: round(v, 2) for k, v in rec.max_latency.items()},
            "recovered_after_s": round(recovered_after or -1, 1)}


def crash_safety(db: MariaDB, rounds: int) -> dict:
    authd = Authd("crash", db, f"--db-timeout={DB_TIMEOUT}")
    figures = {"kills": 0, "revoked_checked": 0, "families_checked": 0, "users_checked": 0}
    revoked: list[str] = []                         # tokens whose Logout was answered OK
    families: dict[int, dict] = {}                  # family -> {"latest", "used": [...], "email", "password"}
    attempted: dict[str, str] = {}                  # email -> password, every registration tried
    worker_errors: Counter = Counter()              # errors while authd ran or was being killed
    lock = threading.Lock()
    for round_no in range(rounds):
        authd.start()
        stop = threading.Event()

        def worker(n: int) -> None:
            c = api.AuthClient(authd.channel())
            while not stop.is_set():
                try:
                    e, p = new_email(f"crash{n}"), new_password()
                    with lock:
                        attempted[e] = p
                    r = c.register(api.RegisterRequest(email=e, password=p), timeout=10)
                    # A second session, logged out (logout ends its session's refresh family too).
                    s2 = c.login(api.LoginRequest(email=e, password=p), timeout=10)
                    c.logout(api.LogoutRequest(), metadata=bearer(s2.token), timeout=10)
                    with lock:
                        revoked.append(s2.token)
                    # The first session's refresh family, rotated three times.
                    fam = {"latest": r.refresh_token, "used": [], "in_flight": False}
                    with lock:
                        families[len(families)] = fam
                    for _ in range(3):
                        fam["in_flight"] = True
                        r2 = c.refresh(api.RefreshRequest(refresh_token=fam["latest"]), timeout=10)
                        fam["used"].append(fam["latest"])
                        fam["latest"] = r2.refresh_token
                        fam["in_flight"] = False
                except Exception as e:
                    with lock:
                        worker_errors[getattr(getattr(e, "code", None), "name", type(e).__name__)] += 1
                    time.sleep(0.05)

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(3)]
        for t in threads:
            t.start()
        time.sleep(4)
        log(f"SIGKILL authd (round {round_no + 1})")
        authd.kill()
        figures["kills"] += 1
        stop.set()
        for t in threads:
            t.join(timeout=15)
    authd.start()
    c = api.AuthClient(authd.channel())
    time.sleep(1)  # one revocation poll
    for token in revoked:
        v = c.validate(api.ValidateRequest(token=token), timeout=5)
        check(not v.valid, "a token revoked before the crash validates again")
        figures["revoked_checked"] += 1
    for fam in families.values():
        if fam["in_flight"]:
            continue  # the newest token's fate is unknown to the client: the kill hit its Refresh
        try:
            c.refresh(api.RefreshRequest(refresh_token=fam["latest"]), timeout=10)
        except Exception as e:
            check(False, f"the newest refresh token of a family is refused after the crash: {e}")
        for used in fam["used"][:1]:
            try:
                c.refresh(api.RefreshRequest(refresh_token=used), timeout=10)
                check(False, "a used refresh token works after the crash")
            except Exception:
                pass
        figures["families_checked"] += 1
    in_db = users_in_db(db, list(attempted))
    for email, password in attempted.items():
        if email in in_db:
            try:
                c.login(api.LoginRequest(email=email, password=password), timeout=10)
            except Exception as e:
                check(False, f"user {email} is in the database but cannot log in: {e}")
            figures["users_checked"] += 1
    figures["registrations_tried"] = len(attempted)
    figures["load_errors_around_kills"] = dict(worker_errors)
    authd.stop()
    return figures


def main() -> int:
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    db = MariaDB("harden")
    db.start()
    results = {}
    if which in ("all", "db"):
        results["db"] = db_faults(db)
        log("db faults:", results["db"])
    if which in ("all", "crash"):
        results["crash"] = crash_safety(db, rounds=2)
        log("crash safety:", results["crash"])
    if problems:
        log(f"FAILED: {len(problems)} problems")
        return 1
    log("faults: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
