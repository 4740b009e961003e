#!/usr/bin/env bash
# CI entry point: build the two example binaries, run Autobahn in both roles,
# fail if either role fails. Call from .ci/run as: bash .ci/autobahn/ci.sh
#   WSM_AUTOBAHN_NO_BUILD=1   skip the cargo build (binaries given via env)
#   WSM_AUTOBAHN_MODES        default "server client"
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE/../.."
START=$SECONDS
if [[ "${WSM_AUTOBAHN_NO_BUILD:-0}" != 1 ]]; then
    timeout 1800 cargo build --release --features deflate --example echo_server --example autobahn_client
fi
WSTEST="$(bash "$HERE/install.sh")"
export WSTEST
rc=0
summary=()
for mode in ${WSM_AUTOBAHN_MODES:-server client}; do
    t0=$SECONDS
    if bash "$HERE/run.sh" "$mode"; then r=PASS; else r=FAIL; rc=1; fi
    summary+=("autobahn $mode: $r in $(( SECONDS - t0 ))s")
done
printf '%s\n' "${summary[@]}"
echo "autobahn total: $(( SECONDS - START ))s"
exit "$rc"
