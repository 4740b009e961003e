#!/usr/bin/env bash
# User-space instructions each Rust echo server spends per message under
# load, counted by valgrind (callgrind): a figure that other work on the
# machine cannot disturb, unlike times, so two changes can be compared on a
# busy machine. The kernel's part (the recv and send themselves) is not in it.
#
#   bash bench/load-race/instructions.sh [SERVERS...]
#
# Each server (default: three of the four Rust ones) runs under callgrind while
# ws_load drives 100 connections x 20 B for 3 + 10 s; the count is the
# server's whole run divided by the messages it echoed (its calls of
# send/writev/write), handshakes included (a fraction of a percent).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
command -v valgrind >/dev/null || {
    echo "instructions.sh: valgrind is needed (apt-get install valgrind)" >&2
    exit 1
}
command -v callgrind_annotate >/dev/null || {
    echo "instructions.sh: callgrind_annotate is needed (part of valgrind)" >&2
    exit 1
}

# Line tables so the counts can be read per source line; code generation
# is the release build's.
target="${CARGO_TARGET_DIR:-$root/target}/instructions"
CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_TARGET_DIR="$target" \
    cargo build --release -p wsmachine-bench --bins --features load-race >&2
bins="$target/release"

servers=("$@")
if [[ ${#servers[@]} -eq 0 ]]; then
    # tokio_tungstenite can be named too, but under callgrind its server
    # echoed about 150 messages a second with a p50 of 0.65 s (others:
    # 15,000-28,000), so its count would be mostly idle polling; the cause
    # was not looked into.
    servers=(wsmachine fastwebsockets tokio_websockets)
fi

# Messages echoed: the server's calls of libc's send, writev and write (one
# per echo at 20 B, which strace confirms for every server here).
sends() {
    callgrind_annotate --tree=caller "$1" 2>/dev/null | awk '
        / < / { if (match($0, /\(([0-9,]+)x\)$/)) { n = substr($0, RSTART + 1, RLENGTH - 3); gsub(",", "", n); callers += n } next }
        / \* .*sysv\/linux\/(send|writev|write)\.c:/ { total += callers }
        { callers = 0 }
        END { print total + 0 }'
}

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
port=9140
printf '| server | instructions per message | messages counted |\n|---|---:|---:|\n'
for server in "${servers[@]}"; do
    port=$((port + 1))
    valgrind --tool=callgrind --callgrind-out-file="$out/$server.cg" \
        "$bins/echo_$server" "$port" >"$out/$server.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 150); do
        grep -q listening "$out/$server.log" && break
        sleep 0.2
    done
    grep -q listening "$out/$server.log" || { cat "$out/$server.log" >&2; exit 1; }
    "$bins/ws_load" 100 127.0.0.1 "$port" 20 3 10 >"$out/$server.load" 2>&1
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    total=$(callgrind_annotate "$out/$server.cg" 2>/dev/null | grep "PROGRAM TOTALS" | awk '{gsub(",", "", $1); print $1}')
    calls=$(sends "$out/$server.cg")
    if [[ "$calls" -eq 0 ]]; then
        echo "instructions.sh: no sends counted for $server" >&2
        exit 1
    fi
    printf '| %s | %d | %d |\n' "$server" $((total / calls)) "$calls"
done
