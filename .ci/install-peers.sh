#!/usr/bin/env bash
# Installs the real-world WebSocket peers used by the interop tests:
#   - Python `websockets`, `h2` and `wsproto` into a venv (version pinned in tests/peers/requirements.txt)
#   - Node `ws` into tests/peers/node/node_modules (pinned by package-lock.json)
#   - Debian's chromium, only if /usr/bin/chromium is missing
# Idempotent; safe to run on every CI run.  The venv lives outside the work
# tree, in ${WSM_CACHE:-$HOME/.cache/wsmachine}/py3-peers.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
peers="$repo/tests/peers"
cache="${WSM_CACHE:-$HOME/.cache/wsmachine}"
venv="$cache/py3-peers"
python="${PYTHON:-python3}"

log() { echo "install-peers: $*"; }

# Python websockets, h2 and wsproto -------------------------------------------
requirements="$peers/requirements.txt"
stamp="$venv/.requirements"
if cmp -s "$requirements" "$stamp" && "$venv/bin/python" -c 'import websockets, h2, wsproto' 2>/dev/null; then
    log "python venv up to date"
else
    log "creating python venv in $venv"
    rm -rf "$venv"
    mkdir -p "$cache"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --require-virtualenv -r "$requirements"
    cp "$requirements" "$stamp"
fi

# Node ws --------------------------------------------------------------------
lock="$peers/node/package-lock.json"
installed_lock="$peers/node/node_modules/.package-lock.json"
if [[ -f "$installed_lock" && "$installed_lock" -nt "$lock" ]]; then
    log "node_modules up to date"
else
    log "running npm ci in $peers/node"
    (cd "$peers/node" && npm ci --no-audit --no-fund --loglevel=error)
fi

# Chromium (for browser tests) -----------------------------------------------
if [[ -x /usr/bin/chromium ]]; then
    log "chromium already installed"
else
    log "installing chromium with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq -o Dpkg::Use-Pty=0 chromium >/dev/null
fi

log "python:   $venv/bin/python ($("$venv/bin/python" -c 'import importlib.metadata as m; print(", ".join(p + " " + m.version(p) for p in ("websockets", "h2", "wsproto")))'))"
log "node:     $(command -v node) $(node --version) (ws $(node -p 'require(process.argv[1]).version' "$peers/node/node_modules/ws/package.json"))"
log "peers:    $peers"
log "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo 'not runnable')"
