#!/usr/bin/env bash
# Run the Autobahn TestSuite against wsmachine's example binaries.
#
#   bash .ci/autobahn/run.sh server   # wstest fuzzingclient  -> $WSM_ECHO_SERVER
#   bash .ci/autobahn/run.sh client   # $WSM_AUTOBAHN_CLIENT  -> wstest fuzzingserver
#
# See .ci/autobahn/README.md for the environment variables. Exit status is the
# checker's verdict (0 = report matches expected.json), non-zero on any error.
set -euo pipefail

MODE="${1:-}"
case "$MODE" in
    server|client) ;;
    *) echo "usage: $0 server|client" >&2; exit 2 ;;
esac

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"

AGENT="${WSM_AUTOBAHN_AGENT:-wsmachine}"
CASES="${WSM_AUTOBAHN_CASES:-*}"
EXCLUDE="${WSM_AUTOBAHN_EXCLUDE-}"                 # e.g. "12.*,13.*"; default: nothing
TOTAL_TIMEOUT="${WSM_AUTOBAHN_TIMEOUT:-1500}"     # seconds for the whole mode
STALL_TIMEOUT="${WSM_AUTOBAHN_STALL:-180}"        # seconds without wstest output
START_TIMEOUT="${WSM_AUTOBAHN_START_TIMEOUT:-30}" # seconds for a listener to come up
EXPECTED="${WSM_AUTOBAHN_EXPECTED:-$HERE/expected.json}"
REPORT_BASE="${WSM_REPORT_DIR:-target/autobahn}"
mkdir -p "$REPORT_BASE"
REPORT_BASE="$(cd "$REPORT_BASE" && pwd)"
OUT="$REPORT_BASE/$MODE"

log() { printf '[autobahn-%s %4ds] %s\n' "$MODE" "$SECONDS" "$*"; }
die() { log "ERROR: $*"; exit 1; }
remaining() { local r=$(( TOTAL_TIMEOUT - SECONDS )); (( r > 0 )) && echo "$r" || echo 1; }

# ---------------------------------------------------------------- cleanup ---
PIDS=()          # started with setsid / in their own process group
BOUNDED=()       # the running run_bounded job and its watchdog
cleanup() {
    local pid
    for pid in "${BOUNDED[@]}" "${PIDS[@]}"; do
        kill -TERM -- "-$pid" "$pid" 2>/dev/null || true
    done
    for pid in "${BOUNDED[@]}" "${PIDS[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$pid" "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
    BOUNDED=()
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ ports ---
accepts() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

pick_port() {
    local default=$1 p
    if [[ -n "${WSM_AUTOBAHN_PORT:-}" ]]; then
        accepts "$WSM_AUTOBAHN_PORT" && die "127.0.0.1:$WSM_AUTOBAHN_PORT is already in use"
        echo "$WSM_AUTOBAHN_PORT"; return
    fi
    for p in $(seq "$default" $(( default + 50 ))); do
        if ! accepts "$p"; then echo "$p"; return; fi
    done
    die "no free port in $default..$(( default + 50 ))"
}

wait_listening() { # port pid name
    local port=$1 pid=$2 name=$3
    for _ in $(seq 1 $(( START_TIMEOUT * 10 ))); do
        kill -0 "$pid" 2>/dev/null || return 1
        if accepts "$port"; then return 0; fi
        sleep 0.1
    done
    log "$name did not listen on 127.0.0.1:$port within ${START_TIMEOUT}s"
    return 1
}

# Run a command under the remaining total budget plus a stall watchdog that
# aborts it if $WATCH_LOG stops growing for $STALL_TIMEOUT seconds.
run_bounded() { # logfile-to-watch cmd...
    local watch=$1; shift
    local rc=0 main wd
    timeout -k 10 "$(remaining)" "$@" &
    main=$!
    (
        last=-1; still=0
        while kill -0 "$main" 2>/dev/null; do
            sleep 5
            size=$(stat -c %s "$watch" 2>/dev/null || echo 0)
            if [[ "$size" == "$last" ]]; then still=$(( still + 5 )); else still=0; last=$size; fi
            if (( still >= STALL_TIMEOUT )); then
                echo "no progress in $watch for ${still}s" > "$OUT/stalled"
                kill -TERM "$main" 2>/dev/null || true
                exit 0
            fi
        done
    ) &
    wd=$!
    BOUNDED=("$main" "$wd")
    wait "$main" || rc=$?
    kill "$wd" 2>/dev/null || true
    wait "$wd" 2>/dev/null || true
    BOUNDED=()
    return "$rc"
}

split_words() { local -n _arr=$1; read -r -a _arr <<<"$2"; }

check_exe() { # name words...
    local name=$1 exe=$2
    if [[ "$exe" != */* ]]; then command -v "$exe" >/dev/null 2>&1 && return 0; fi
    [[ -x "$exe" ]] || die "$name '$exe' not found or not executable (build it: cargo build --release --examples)"
}

# ---------------------------------------------------------------- install ---
if [[ -z "${WSTEST:-}" ]]; then
    log "installing / locating wstest"
    WSTEST="$(bash "$HERE/install.sh")"
fi
PY27="$(dirname "$WSTEST")/python"
[[ -x "$PY27" ]] || die "no python next to WSTEST=$WSTEST"
WSTEST_CMD=("$PY27" "$HERE/wstest_local.py")   # wstest, listeners forced onto 127.0.0.1
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1

rm -rf "$OUT"
mkdir -p "$OUT"
SPEC="$OUT/spec.json"
WSTEST_LOG="$OUT/wstest.log"
CASES_FILE="$OUT/cases.txt"

if [[ "$MODE" == server ]]; then PORT="$(pick_port 9001)"; else PORT="$(pick_port 9002)"; fi
URL="ws://127.0.0.1:$PORT"

MODE="$MODE" URL="$URL" AGENT="$AGENT" OUTDIR="$OUT" CASES="$CASES" EXCLUDE="$EXCLUDE" \
python3 - "$SPEC" <<'PYEOF'
import json, os, sys
split = lambda s: [x.strip() for x in s.split(",") if x.strip()]
spec = {"outdir": os.environ["OUTDIR"], "cases": split(os.environ["CASES"]),
        "exclude-cases": split(os.environ["EXCLUDE"]), "exclude-agent-cases": {}}
if os.environ["MODE"] == "server":
    spec["servers"] = [{"agent": os.environ["AGENT"], "url": os.environ["URL"]}]
else:
    spec["url"] = os.environ["URL"]
with open(sys.argv[1], "w") as f:
    json.dump(spec, f, indent=2)
PYEOF
timeout 60 "${WSTEST_CMD[@]}" --list-cases "$SPEC" > "$CASES_FILE"
NCASES=$(wc -l < "$CASES_FILE")
(( NCASES > 0 )) || die "case selection '$CASES' minus '$EXCLUDE' selects no cases"
log "cases: '$CASES' exclude: '$EXCLUDE' -> $NCASES cases; port $PORT; report $OUT"

T0=$SECONDS
RUN_RC=0
if [[ "$MODE" == server ]]; then
    split_words SUT "${WSM_ECHO_SERVER:-target/release/examples/echo_server}"
    check_exe "echo server (WSM_ECHO_SERVER)" "${SUT[@]}"
    log "starting: ${SUT[*]} 127.0.0.1:$PORT"
    setsid "${SUT[@]}" "127.0.0.1:$PORT" > "$OUT/sut.log" 2>&1 < /dev/null &
    SUT_PID=$!
    PIDS+=("$SUT_PID")
    wait_listening "$PORT" "$SUT_PID" "echo server" || {
        tail -n 20 "$OUT/sut.log" >&2 || true; die "echo server did not come up"; }
    log "echo server listening (pid $SUT_PID); running wstest -m fuzzingclient"
    run_bounded "$WSTEST_LOG" "${WSTEST_CMD[@]}" -m fuzzingclient -s "$SPEC" \
        > "$WSTEST_LOG" 2>&1 < /dev/null || RUN_RC=$?
    if ! kill -0 "$SUT_PID" 2>/dev/null; then
        sut_rc=0; wait "$SUT_PID" || sut_rc=$?
        log "WARNING: echo server exited during the run (status $sut_rc)"
        if (( RUN_RC == 0 )); then RUN_RC=1; fi
    fi
else
    split_words CLIENT "${WSM_AUTOBAHN_CLIENT:-target/release/examples/autobahn_client}"
    check_exe "client (WSM_AUTOBAHN_CLIENT)" "${CLIENT[@]}"
    log "starting wstest -m fuzzingserver on $URL"
    setsid "${WSTEST_CMD[@]}" -m fuzzingserver -s "$SPEC" -u 0 > "$WSTEST_LOG" 2>&1 < /dev/null &
    FS_PID=$!
    PIDS+=("$FS_PID")
    wait_listening "$PORT" "$FS_PID" "fuzzingserver" || {
        tail -n 20 "$WSTEST_LOG" >&2 || true; die "fuzzingserver did not come up"; }
    log "fuzzingserver listening (pid $FS_PID); running: ${CLIENT[*]} $URL $AGENT"
    run_bounded "$WSTEST_LOG" "${CLIENT[@]}" "$URL" "$AGENT" \
        > "$OUT/sut.log" 2>&1 < /dev/null || RUN_RC=$?
    # /updateReports writes the report; give it a moment to land on disk.
    if [[ "$RUN_RC" == 0 ]]; then
        for _ in $(seq 1 50); do [[ -s "$OUT/index.json" ]] && break; sleep 0.1; done
    fi
fi
cleanup   # stop SUT / fuzzingserver now (the EXIT trap repeats this harmlessly)

ELAPSED=$(( SECONDS - T0 ))
if [[ -f "$OUT/stalled" ]]; then
    # wstest (Twisted) exits 0 on SIGTERM, so the marker file is what counts.
    log "ERROR: stalled, aborted by watchdog: $(cat "$OUT/stalled") (WSM_AUTOBAHN_STALL=${STALL_TIMEOUT}s)"
    RUN_RC=125
fi
case "$RUN_RC" in
    0|125) ;;
    124|137) log "ERROR: timed out (WSM_AUTOBAHN_TIMEOUT=${TOTAL_TIMEOUT}s total)" ;;
    143) log "ERROR: terminated by a signal" ;;
    *) log "ERROR: $([[ $MODE == server ]] && echo 'wstest/echo server' || echo 'client') failed with status $RUN_RC" ;;
esac
if [[ "$RUN_RC" != 0 ]]; then
    log "last lines of $WSTEST_LOG:"; tail -n 15 "$WSTEST_LOG" | cut -c1-300 || true
    log "last lines of $OUT/sut.log:"; tail -n 15 "$OUT/sut.log" | cut -c1-300 || true
fi
log "test run took ${ELAPSED}s (wall clock; whole mode so far ${SECONDS}s)"

CHECK_RC=0
python3 "$HERE/check.py" "$OUT" --agent "$AGENT" --mode "$MODE" \
    --expected "$EXPECTED" --cases-file "$CASES_FILE" || CHECK_RC=$?
if [[ -f "$OUT/index.html" ]]; then log "HTML report: $OUT/index.html"; fi
if [[ "$RUN_RC" != 0 ]]; then exit "$RUN_RC"; fi
exit "$CHECK_RC"
