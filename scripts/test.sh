#!/usr/bin/env bash
# The README's test command: installs every peer the tests talk to (Python
# websockets, Node ws, Chromium, the Autobahn TestSuite), then runs the whole
# test suite and Autobahn in both roles. Safe to rerun; installs are cached.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing peers"
bash .ci/install-peers.sh
WSTEST="$(bash .ci/autobahn/install.sh)"
export WSTEST

echo "== cargo test --all-features"
cargo test --all-features

echo "== Autobahn TestSuite, server and client roles"
bash .ci/autobahn/ci.sh
