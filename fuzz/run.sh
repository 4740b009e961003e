#!/usr/bin/env bash
# Builds every fuzz target and runs each for a bounded time.
#   bash fuzz/run.sh [SECONDS_PER_TARGET]   (default 30)
# Uses the nightly toolchain when rustup has one, else stable with
# RUSTC_BOOTSTRAP=1 (cargo-fuzz needs unstable flags). Installs cargo-fuzz if missing.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-30}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz)
else
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi
"${fuzz[@]}" build -O
for target in $("${fuzz[@]}" list); do
    corpus="corpus/$target"
    mkdir -p "$corpus"
    seeds=()
    [[ -d "seeds/$target" ]] && seeds=("seeds/$target")
    echo "== fuzz $target for ${seeds:+seeded }${seconds}s"
    log="$(mktemp)"
    status=0
    "${fuzz[@]}" run -O "$target" "$corpus" "${seeds[@]}" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -dict=websocket.dict -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    grep -E '^(Done|stat::number_of_executed_units|==[0-9]+==|SUMMARY)|panicked' "$log" || true
    if [[ $status != 0 ]]; then
        tail -n 40 "$log"
        echo "fuzz target $target FAILED (crash input in fuzz/artifacts/$target)"
        exit 1
    fi
    rm -f "$log"
done
