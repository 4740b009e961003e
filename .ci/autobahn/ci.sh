#!/usr/bin/env bash
# CI entry point: build the example binaries, run Autobahn against every
# front-end in both roles, fail if any run fails. Call from .ci/run as:
# bash .ci/autobahn/ci.sh
#   WSM_AUTOBAHN_NO_BUILD=1   skip the cargo build (binaries given via env)
#   WSM_AUTOBAHN_MODES        default "server server-tokio client":
#     server        wstest fuzzingclient -> echo_server (blocking front-end)
#     server-tokio  wstest fuzzingclient -> echo_server_tokio (tokio front-end)
#     server-axum   wstest fuzzingclient -> echo_server_axum (axum extractor, HTTP/1.1)
#     client        autobahn_client (tokio front-end) -> wstest fuzzingserver
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE/../.."
START=$SECONDS
if [[ "${WSM_AUTOBAHN_NO_BUILD:-0}" != 1 ]]; then
    timeout 1800 cargo build --release --features deflate \
        --example echo_server --example echo_server_tokio --example autobahn_client
    timeout 1800 cargo build --release -p wsmachine-integrations --bin echo_server_axum
fi
WSTEST="$(bash "$HERE/install.sh")"
export WSTEST
rc=0
summary=()
for mode in ${WSM_AUTOBAHN_MODES:-server server-tokio server-axum client}; do
    t0=$SECONDS
    case "$mode" in
        server-tokio)
            run=(env WSM_ECHO_SERVER=target/release/examples/echo_server_tokio
                 WSM_REPORT_DIR="${WSM_REPORT_DIR:-target/autobahn}/tokio"
                 bash "$HERE/run.sh" server) ;;
        server-axum)
            run=(env WSM_ECHO_SERVER=target/release/echo_server_axum
                 WSM_REPORT_DIR="${WSM_REPORT_DIR:-target/autobahn}/axum"
                 bash "$HERE/run.sh" server) ;;
        *) run=(bash "$HERE/run.sh" "$mode") ;;
    esac
    if "${run[@]}"; then r=PASS; else r=FAIL; rc=1; fi
    summary+=("autobahn $mode: $r in $(( SECONDS - t0 ))s")
done
printf '%s\n' "${summary[@]}"
echo "autobahn total: $(( SECONDS - START ))s"
exit "$rc"
