#!/usr/bin/env bash
# A newcomer's first minutes, checked: on a fresh clone of the committed HEAD,
# with none of the test peers installed,
#   1. a cold `cargo build --release --example chat` (timed, crates counted),
#   2. `cargo run --release --example chat -- 127.0.0.1:0` prints its URL
#      (seconds until the URL line) and serves the page there,
#   3. plain `cargo test` passes (timed; cold debug build included).
# The clone and its CARGO_TARGET_DIR live in a fresh temp dir, so every build
# is cold; crates already in ~/.cargo/registry are not downloaded again.
# Uncommitted changes are not part of the check. Exits non-zero on failure.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsmachine-fresh.XXXXXX")
server=""
cleanup() {
    if [[ -n "$server" ]]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

log() { echo "fresh-clone-check: $*"; }
die() { log "FAILED: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

if [[ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]]; then
    log "note: uncommitted changes in $repo are not checked (HEAD only)"
fi
git clone --quiet "$repo" "$tmp/clone"
cd "$tmp/clone"
log "clone of $(git rev-parse --short HEAD) in $tmp/clone"

# Cold builds: a target dir of our own. No peers: an empty cache dir, so the
# Python venv path points nowhere; a fresh clone has no node_modules.
export CARGO_TARGET_DIR="$tmp/target"
export WSM_CACHE="$tmp/empty-cache"
mkdir -p "$WSM_CACHE"
export CARGO_TERM_COLOR=never
[[ ! -e tests/peers/node/node_modules ]] || die "node_modules in a fresh clone?"

# 1. The README's first command, built cold.
start=$(now)
timeout 1200 cargo build --release --example chat >"$tmp/build.log" 2>&1 ||
    { tail -30 "$tmp/build.log"; die "cargo build --release --example chat"; }
log "cold 'cargo build --release --example chat': $(since "$start") s," \
    "$(grep -c '^ *Compiling ' "$tmp/build.log") crates compiled"

# 2. Run it; time until it prints its URL, then fetch the page from it.
start=$(now)
# Created here: the background job's own redirection may come after the
# first look below.
: >"$tmp/chat.out"
cargo run --release --example chat -- 127.0.0.1:0 >"$tmp/chat.out" 2>"$tmp/chat.err" &
server=$!
url=""
for _ in $(seq 600); do
    url=$(sed -n 's|^chat: open \(http://[^ ]*\) .*|\1|p' "$tmp/chat.out" || true)
    [[ -n "$url" ]] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
done
[[ -n "$url" ]] || { cat "$tmp/chat.err"; die "the chat example printed no URL within 60 s"; }
log "'cargo run --release --example chat' printed $url after $(since "$start") s"
if command -v curl >/dev/null; then
    page=$(timeout 10 curl -fsS "$url") || die "GET $url failed"
    [[ "$page" == "<!doctype html>"* ]] || die "GET $url did not return the page"
    log "GET $url: the page"
fi
kill "$server"
wait "$server" 2>/dev/null || true
server=""

# 3. Plain `cargo test`: the hermetic suites, no peers needed.
start=$(now)
timeout 1800 cargo test >"$tmp/test.log" 2>&1 ||
    { grep -E '^(test |error|thread )|panicked|FAILED' "$tmp/test.log" | tail -40; die "cargo test"; }
log "plain 'cargo test' (cold): $(since "$start") s," \
    "$(grep -c '^test result: ok' "$tmp/test.log") suites passed"
log "ok"
