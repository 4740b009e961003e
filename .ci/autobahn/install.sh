#!/usr/bin/env bash
# Idempotent installer for the Autobahn TestSuite (wstest, Python 2.7).
#
#   WSTEST=$(bash .ci/autobahn/install.sh)
#
# Everything goes under ${WSM_CACHE:-$HOME/.cache/wsmachine}/autobahn:
#   tools/     Python 3 venv holding virtualenv==20.21.1 (creates 2.7 envs)
#   py27/      Python 2.7 virtualenv with the pinned wstest closure
#   pip-cache/ pip's cache (keeps the wheels built from sdists, e.g. wsaccel)
#   .stamp-*   hash of the inputs; a matching stamp + a working wstest = skip
#
# Progress goes to stderr; the only line on stdout is the path of wstest.
# Env: WSM_CACHE, WSM_PYTHON27 (path of a CPython 2.7 interpreter),
#      WSM_AUTOBAHN_REINSTALL=1 (force a rebuild of both envs).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${WSM_CACHE:-$HOME/.cache/wsmachine}/autobahn"
TOOLS="$CACHE/tools"
PY27ENV="$CACHE/py27"
REQ27="$HERE/requirements-py27.txt"
REQTOOLS="$HERE/requirements-tools.txt"

log() { printf '[autobahn-install] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

mkdir -p "$CACHE"
export PIP_CACHE_DIR="$CACHE/pip-cache"
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1
export PIP_PROGRESS_BAR=off
export PIP_NO_PYTHON_VERSION_WARNING=1
export VIRTUALENV_OVERRIDE_APP_DATA="$CACHE/virtualenv-appdata"
export PYTHONDONTWRITEBYTECODE=1

# One installer at a time per cache dir (server and client runs may start together).
exec 9>"$CACHE/.install.lock"
flock -w 900 9 || die "could not take $CACHE/.install.lock within 900s"

find_py27() {
    local c
    if [[ -n "${WSM_PYTHON27:-}" ]]; then
        echo "$WSM_PYTHON27"; return 0
    fi
    local roots=()
    if command -v pyenv >/dev/null 2>&1; then roots+=("$(pyenv root 2>/dev/null || true)"); fi
    roots+=("${PYENV_ROOT:-}" "$HOME/.pyenv" "/root/.pyenv")
    for r in "${roots[@]}"; do
        [[ -n "$r" ]] || continue
        for c in "$r"/versions/2.7.18/bin/python2.7 "$r"/versions/2.7.*/bin/python2.7; do
            if [[ -x "$c" ]]; then echo "$c"; return 0; fi
        done
    done
    if c="$(command -v python2.7 2>/dev/null)"; then echo "$c"; return 0; fi
    return 1
}

PY27="$(find_py27)" || die "no CPython 2.7 found (set WSM_PYTHON27=/path/to/python2.7)"
"$PY27" -c 'import sys; assert sys.version_info[:2] == (2, 7)' 2>/dev/null \
    || die "$PY27 is not a working CPython 2.7"

hash_of() { cat "$@" | sha256sum | cut -c1-16; }
PY27VER="$("$PY27" -c 'import sys; print(sys.version.split()[0])' 2>&1)"
TOOLS_KEY="$(hash_of "$REQTOOLS")-$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
PY27_KEY="$(hash_of "$REQ27" "$HERE/install.sh")-$PY27VER"

if [[ "${WSM_AUTOBAHN_REINSTALL:-0}" == 1 ]]; then
    log "WSM_AUTOBAHN_REINSTALL=1: removing old envs"
    rm -rf "$TOOLS" "$PY27ENV" "$CACHE"/.stamp-*
fi

wstest_ok() {
    [[ -x "$PY27ENV/bin/wstest" ]] || return 1
    timeout 60 "$PY27ENV/bin/python" -c \
        'import autobahntestsuite.wstest, autobahntestsuite.fuzzing, wsaccel' >/dev/null 2>&1
}

if [[ "$(cat "$CACHE/.stamp-py27" 2>/dev/null || true)" == "$PY27_KEY" ]] && wstest_ok; then
    log "wstest already installed ($PY27_KEY), skipping"
    echo "$PY27ENV/bin/wstest"
    exit 0
fi

# --- 1. Python 3 venv with virtualenv (the last release that makes 2.7 envs) ---
if [[ "$(cat "$CACHE/.stamp-tools" 2>/dev/null || true)" != "$TOOLS_KEY" ]] \
        || ! "$TOOLS/bin/virtualenv" --version >/dev/null 2>&1; then
    log "creating tools venv in $TOOLS"
    rm -rf "$TOOLS"
    python3 -m venv "$TOOLS"
    timeout 600 "$TOOLS/bin/python" -m pip install -q -r "$REQTOOLS" >&2
    echo "$TOOLS_KEY" > "$CACHE/.stamp-tools"
fi

# --- 2. Python 2.7 virtualenv with the pinned wstest closure ---
log "creating Python 2.7 env in $PY27ENV (python: $PY27, $PY27VER)"
rm -rf "$PY27ENV" "$CACHE/.stamp-py27"
timeout 300 "$TOOLS/bin/virtualenv" -q --no-download -p "$PY27" "$PY27ENV" >&2
log "installing requirements-py27.txt (builds wsaccel/ujson/cffi from source if not cached)"
timeout 1200 "$PY27ENV/bin/python" -m pip install -q --no-deps -r "$REQ27" >&2 \
    || die "pip install failed"
timeout 120 "$PY27ENV/bin/python" -m pip check >&2 || die "pip check failed: pin set incomplete"
wstest_ok || die "wstest does not import after install"
echo "$PY27_KEY" > "$CACHE/.stamp-py27"
log "installed: $("$PY27ENV/bin/python" -m pip freeze 2>/dev/null | grep -i '^autobahn' | tr '\n' ' ')"
echo "$PY27ENV/bin/wstest"
