#!/usr/bin/env bash
# Fuzzes each of parget's parsers for a while: scripts/fuzz.sh [SECONDS]
# (default 15 per target). Installs cargo-fuzz when it is missing.
#
# cargo-fuzz needs nightly compiler flags (sanitizers, coverage
# instrumentation); RUSTC_BOOTSTRAP=1 unlocks them on the stable toolchain.
# Each target starts from the seeds in fuzz/seeds/TARGET (and the words in
# fuzz/dicts/TARGET.dict) and keeps what it finds in fuzz/corpus/TARGET
# (not committed). A crash stops the script and
# leaves the input that caused it in fuzz/artifacts/TARGET; reproduce it
# with `RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/FILE`,
# and add it as a regression test of the parser.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-15}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: scripts/fuzz.sh [SECONDS]   (seconds per target, default 15)" >&2
    exit 2
fi

export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== cargo install cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== cargo fuzz build"
cargo fuzz build

for target in $(cargo fuzz list); do
    echo "== fuzz $target (${seconds}s)"
    mkdir -p "fuzz/corpus/$target"
    seeds=()
    if [ -d "fuzz/seeds/$target" ]; then
        seeds=("fuzz/seeds/$target")
    fi
    # A dictionary of the format's words helps reach its deeper states.
    dict=()
    if [ -f "fuzz/dicts/$target.dict" ]; then
        dict=("-dict=fuzz/dicts/$target.dict")
    fi
    # -max_len: large enough for a Metalink document with a few pieces.
    if ! cargo fuzz run "$target" "fuzz/corpus/$target" "${seeds[@]}" -- \
        -max_total_time="$seconds" -max_len=8192 -print_final_stats=1 "${dict[@]}" >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        echo "fuzz: $target crashed; the input is in fuzz/artifacts/$target" >&2
        exit 1
    fi
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log" || true
done
echo "fuzz: every target ran ${seconds}s without a crash"
