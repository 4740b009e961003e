#!/usr/bin/env bash
# CI entry point: build the example binaries, run Autobahn against every
# front-end in both roles, fail if any run fails. Call from .ci/run as:
# bash .ci/autobahn/ci.sh
#   WSM_AUTOBAHN_NO_BUILD=1   skip the cargo build (binaries given via env)
#   WSM_AUTOBAHN_JOBS         modes run at once (default 2)
#   WSM_AUTOBAHN_MODES        default "server server-tokio server-axum client":
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
# Each mode runs wstest (one CPU) against one server (little CPU): two at
# a time on a 2-CPU machine take about half the wall time. Each has a port
# of its own and a log of its own, printed whole when it ends.
JOBS="${WSM_AUTOBAHN_JOBS:-2}"
LOGS="${WSM_REPORT_DIR:-target/autobahn}/logs"
mkdir -p "$LOGS"

run_mode() { # mode port
    local mode=$1 port=$2 t0=$SECONDS r
    local run
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
    if WSM_AUTOBAHN_PORT="$port" "${run[@]}" >"$LOGS/$mode.log" 2>&1; then r=PASS; else r=FAIL; fi
    echo "autobahn $mode: $r in $(( SECONDS - t0 ))s" >"$LOGS/$mode.result"
}

modes=(${WSM_AUTOBAHN_MODES:-server server-tokio server-axum client})
pids=()
port=9001
for mode in "${modes[@]}"; do
    while (( $(jobs -rp | wc -l) >= JOBS )); do wait -n || true; done
    rm -f "$LOGS/$mode.result"
    run_mode "$mode" "$port" &
    pids+=($!)
    port=$(( port + 10 ))
done
wait "${pids[@]}" || true
rc=0
for mode in "${modes[@]}"; do
    echo "================ autobahn $mode"
    cat "$LOGS/$mode.log"
done
for mode in "${modes[@]}"; do
    if [[ -f "$LOGS/$mode.result" ]]; then cat "$LOGS/$mode.result"; else echo "autobahn $mode: FAIL (no result)"; fi
    grep -q ": PASS in" "$LOGS/$mode.result" 2>/dev/null || rc=1
done
echo "autobahn total: $(( SECONDS - START ))s"
exit "$rc"
