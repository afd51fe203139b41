# Shared set-up and shell helpers for the scripts in scripts/. Source it; do not run it.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="/opt/swift/usr/bin:$PATH"

# Debian packages the build, the tests and dev mode need. apt-get runs only when one is missing.
# prometheus (promtool and a real scraper) and librsvg2-bin (rsvg-convert) are for the observability tests;
# nghttp2-client (h2load) drives the gRPC tests and benchmarks.
REQUIRED_PACKAGES=(pkg-config libssl-dev libmariadb-dev zlib1g-dev libsodium-dev libnghttp2-dev nghttp2-client mariadb-server mariadb-client
    openssl python3-venv prometheus librsvg2-bin)

ensure_packages() {
    local missing=() p
    for p in "${REQUIRED_PACKAGES[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "setup: installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # policy-rc.d keeps the mariadb-server package from starting a system service we do not use.
    $sudo env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Python virtualenv under .data/venv with the packages the tests use as independent checks.
PYTHON_PACKAGES=(protobuf pytest argon2-cffi PyJWT cryptography grpcio-tools grpcio-health-checking grpcio-reflection xds-protos)
ensure_venv() {
    local venv="$ROOT/.data/venv" stamp="$ROOT/.data/venv/.packages"
    if [ ! -x "$venv/bin/python" ]; then
        mkdir -p "$ROOT/.data"
        local py=/usr/bin/python3
        [ -x "$py" ] || py=$(command -v python3)
        "$py" -m venv "$venv"
    fi
    if [ "$(cat "$stamp" 2>/dev/null)" != "${PYTHON_PACKAGES[*]}" ]; then
        "$venv/bin/pip" install -q --disable-pip-version-check "${PYTHON_PACKAGES[@]}"
        echo "${PYTHON_PACKAGES[*]}" > "$stamp"
    fi
    export VENV_PYTHON="$venv/bin/python"
}

# Starts the private MariaDB and exports its settings. Sets STARTED_MARIADB=1 when this call started it.
start_mariadb() {
    STARTED_MARIADB=0
    "$ROOT/scripts/mariadb" status >/dev/null 2>&1 || STARTED_MARIADB=1
    "$ROOT/scripts/mariadb" start
    # shellcheck disable=SC1091
    source "$ROOT/.data/mariadb.env"
}

# The private MariaDB's settings (AUTH_DB_*) from .data/mariadb.env, unless the environment has them.
load_mariadb_env() {
    if [ -z "${AUTH_DB_SOCKET:-}${AUTH_DB_HOST:-}" ] && [ -f "$ROOT/.data/mariadb.env" ]; then
        # shellcheck disable=SC1091
        source "$ROOT/.data/mariadb.env"
    fi
}

# The Python drivers live in scripts/python: run_python NAME ARGS… runs scripts/python/NAME.py with
# the venv's Python (ensure_venv first), the generated client (clients/python) and the drivers'
# shared helpers importable. PYTHON_DRIVER_PATH is that PYTHONPATH, for callers that wrap the command.
PYTHON_DRIVER_PATH="$ROOT/clients/python:$ROOT/scripts/python"
run_python() {
    local name=$1; shift
    env PYTHONPATH="$PYTHON_DRIVER_PATH" "$VENV_PYTHON" "$ROOT/scripts/python/$name.py" "$@"
}

# For the MariaDB scripts (scripts/mariadb, scripts/galera):
# die MESSAGE: prints "scripts/NAME: MESSAGE" and exits 1.
die() { echo "scripts/$(basename "$0"): $*" >&2; exit 1; }
# find_bin NAME…: the path of the first of NAMEs on PATH or in the system binary folders.
find_bin() {
    local name d
    for name in "$@"; do
        if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
        for d in /usr/sbin /usr/bin /usr/libexec; do
            [ -x "$d/$name" ] && { echo "$d/$name"; return 0; }
        done
    done
    return 1
}
# mariadbd_pid PIDFILE: prints the pid PIDFILE names if it is a running mariadbd; fails otherwise.
# (Pids are reused: the process is checked through /proc, not by a name lookup.)
mariadbd_pid() {
    [ -f "$1" ] || return 1
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    grep -q -e mariadbd -e mysqld "/proc/$pid/cmdline" 2>/dev/null || return 1
    echo "$pid"
}
# mariadbd_user_flag: --user=root when running as root (mariadbd refuses root otherwise).
mariadbd_user_flag() {
    if [ "$(id -u)" = 0 ]; then echo "--user=root"; fi
}
