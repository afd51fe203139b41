# Shared set-up for scripts/run, scripts/test and scripts/bench. Source it; do not run it.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="/opt/swift/usr/bin:$PATH"

# Debian packages the build, the tests and dev mode need. apt-get runs only when one is missing.
REQUIRED_PACKAGES=(pkg-config libssl-dev libmariadb-dev zlib1g-dev libsodium-dev mariadb-server mariadb-client openssl python3-venv)

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
PYTHON_PACKAGES=(protobuf pytest argon2-cffi PyJWT grpcio-tools)
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
