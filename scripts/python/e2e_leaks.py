"""Secret-leak check over the end-to-end suite (run by scripts/leakcheck-e2e).

The suite's authd processes (TestSupport.AuthdProcess) log at debug level into their temporary
folders; scripts/leakcheck-e2e points TMPDIR at a fresh folder so all of them land there, and keeps
the suite's own output. This searches every authd log and the suite's output for:
  - each authd's JWT secret (from the jwt.secret file beside its log), as stored;
  - anything shaped like a JWT (three base64url parts, a 43-character signature);
  - anything shaped like a refresh token (43 base64url characters);
  - every password literal in the end-to-end test sources (`password: "..."`, `password="..."`)
    and the tests' generated passwords ("pw-" and a UUID);
and checks that every secret file (jwt.secret, *.key) there is mode 0600.
Usage: e2e_leaks.py TMPDIR SUITE_OUTPUT SOURCE_DIR...
"""
from __future__ import annotations

import os
import re
import stat
import sys

JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
PASSWORD_LITERAL = re.compile(r"""password\s*[:=]\s*["']([^"'\\]{6,})["']""")
# The tests' generated passwords: "pw-" and a UUID.
GENERATED_PASSWORD = re.compile(rb"pw-[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
# A refresh token: base64url of 32 random bytes, 43 characters (with a digit and both cases).
REFRESH = re.compile(rb"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")


def looks_random(b: bytes) -> bool:
    return any(c.isdigit() for c in b.decode()) and b.lower() != b and b.upper() != b


def main() -> int:
    tmp, output, *sources = sys.argv[1:]
    passwords: set[str] = set()
    for root in sources:
        for dirpath, _, files in os.walk(root):
            for name in files:
                if name.endswith((".swift", ".py")):
                    with open(os.path.join(dirpath, name), errors="replace") as f:
                        passwords |= set(PASSWORD_LITERAL.findall(f.read()))
    logs, secrets, problems, bad_modes = 0, 0, [], []
    texts: list[tuple[str, bytes, set[bytes]]] = []
    with open(output, "rb") as f:
        texts.append((output, f.read(), set()))
    for dirpath, _, files in os.walk(tmp):
        local: set[bytes] = set()
        for name in files:
            path = os.path.join(dirpath, name)
            if name == "jwt.secret" or name.endswith(".key") or name.endswith(".secret"):
                if stat.S_IMODE(os.stat(path).st_mode) & 0o077:
                    bad_modes.append(path)
            if name == "jwt.secret":
                with open(path, "rb") as f:
                    local.add(f.read().strip())
                secrets += 1
        for name in files:
            if name.endswith(".log"):
                logs += 1
                with open(os.path.join(dirpath, name), "rb") as f:
                    texts.append((os.path.join(dirpath, name), f.read(), local))
    all_secrets = set().union(*(t[2] for t in texts))
    for path, text, _ in texts:
        for s in all_secrets:
            if s and s in text:
                problems.append(f"{path}: a JWT secret")
        if JWT.search(text):
            problems.append(f"{path}: a token ({JWT.search(text).group(0)[:16].decode()}…)")
        if GENERATED_PASSWORD.search(text):
            problems.append(f"{path}: a generated password")
        for m in REFRESH.findall(text):
            if looks_random(m):
                problems.append(f"{path}: a refresh-token-shaped string ({m[:6].decode()}…)")
                break
        for p in passwords:
            if p.encode() in text:
                problems.append(f"{path}: the password literal {p[:3]}…")
    lines = sum(t[1].count(b"\n") for t in texts)
    print(f"e2e leak check: {logs} authd logs + the suite's output ({lines} lines) searched for {secrets} JWT secrets, "
          f"token-shaped strings, generated passwords and {len(passwords)} password literals: {len(problems)} found")
    for p in problems[:10]:
        print("  LEAK:", p)
    for p in bad_modes:
        print("  MODE: not 0600:", p)
    return 1 if problems or bad_modes else 0


if __name__ == "__main__":
    sys.exit(main())
