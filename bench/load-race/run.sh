#!/usr/bin/env bash
# The load race: echo servers one at a time on CPU 0, a load generator on
# CPU 1, over loopback in a private network namespace. See README.md here.
#
#   UWS_ECHO_SERVER=/path/EchoServer UWS_LOAD_TEST=/path/load_test bash bench/load-race/run.sh
#
# Without UWS_ECHO_SERVER the uWebSockets server is left out; without
# UWS_LOAD_TEST the Rust generator ws_load drives the throughput runs too.
# Knobs (environment, defaults as in load_race): REPS, WARMUP, MEASURE,
# LAT_REPS, LAT_WARMUP, LAT_MEASURE, IDLE_CONNS, IDLE_REPS, CASES, SERVERS,
# QUIET_WAIT, PORT. Results: $CARGO_TARGET_DIR/load-race/<time>/.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac

for tool in taskset stdbuf; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is needed (util-linux, coreutils)" >&2; exit 1; }
done

cargo build --release -p wsmachine-bench --bins --features load-race >&2
bins="$target/release"

out="$target/load-race/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"

args=(--bins "$bins" --logs "$out/logs" --out "$out/tables.md" --raw "$out/raw.csv")
if [[ -n "${UWS_ECHO_SERVER:-}" ]]; then
    [[ -x "$UWS_ECHO_SERVER" ]] || { echo "run.sh: UWS_ECHO_SERVER=$UWS_ECHO_SERVER is not executable" >&2; exit 1; }
    args+=(--uws-echo "$UWS_ECHO_SERVER")
else
    echo "run.sh: UWS_ECHO_SERVER not set: uWebSockets is left out" >&2
fi
if [[ -n "${UWS_LOAD_TEST:-}" ]]; then
    [[ -x "$UWS_LOAD_TEST" ]] || { echo "run.sh: UWS_LOAD_TEST=$UWS_LOAD_TEST is not executable" >&2; exit 1; }
    args+=(--load-test "$UWS_LOAD_TEST")
else
    echo "run.sh: UWS_LOAD_TEST not set: the Rust ws_load drives every phase" >&2
fi
opt() { if [[ -n "${!1:-}" ]]; then args+=("$2" "${!1}"); fi; }
opt REPS --reps; opt WARMUP --warmup; opt MEASURE --measure
opt LAT_REPS --lat-reps; opt LAT_WARMUP --lat-warmup; opt LAT_MEASURE --lat-measure
opt IDLE_CONNS --idle-conns; opt IDLE_REPS --idle-reps; opt CASES --cases
opt SERVERS --servers; opt QUIET_WAIT --quiet-wait; opt PORT --port

{
    echo "## Load race, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs online; kernel $(uname -r)"
    echo "- wsmachine $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (modified)'); servers pinned to CPU 0, generator to CPU 1 (taskset), loopback"
    echo "- uWebSockets: ${UWS_ECHO_SERVER:-not run}${UWS_REV:+ ($UWS_REV)}; generator: ${UWS_LOAD_TEST:-ws_load}"
    echo
} >"$out/header.md"

# Open file limit for 10,000 idle connections on each side.
ulimit -n "$(ulimit -Hn)"
if [[ "$(ulimit -n)" != unlimited && "$(ulimit -n)" -lt $(( ${IDLE_CONNS:-10000} + 100 )) ]]; then
    echo "run.sh: open file limit $(ulimit -n) is below IDLE_CONNS+100" >&2
fi

# A network namespace of our own: only our servers on its loopback (uWS'
# EchoServer always takes port 9001), nobody else's traffic or ports.
if unshare -n true 2>/dev/null; then
    unshare -n bash -c 'ip link set lo up && exec "$@"' race "$bins/load_race" "${args[@]}" >/dev/null
else
    echo "run.sh: no private network namespace (needs root); using the host's loopback" >&2
    "$bins/load_race" "${args[@]}" >/dev/null
fi

cat "$out/header.md" "$out/tables.md" >"$out/report.md"
cat "$out/report.md"
echo >&2
echo "run.sh: report in $out/report.md, per-run numbers in $out/raw.csv, logs in $out/logs" >&2
