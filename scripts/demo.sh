#!/usr/bin/env bash
# Builds parget, starts the test server on loopback, and downloads 200
# files listed in an aria2-style input file with their sizes, then one
# local file by file:// URL with its SHA-256: parget's main job, end to end,
# without the internet.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked -p parget-cli -p parget-testbed
bin=target/release
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin/parget-testbed" --port 0 --latency-ms 20 > "$work/url" &
server=$!
for _ in $(seq 50); do [ -s "$work/url" ] && break; sleep 0.1; done
base=$(head -n1 "$work/url")

for i in $(seq 1 200); do
    size=$(( (i * 7919) % 300000 + 1 ))
    printf '%s/demo/file-%03d.bin?size=%d\n  size=%d\n' "$base" "$i" "$size" "$size"
done > "$work/list.txt"

"$bin/parget" -i "$work/list.txt" -d "$work/out" -j 32
echo "downloaded $(ls "$work/out" | wc -l) files into $work/out"

sum=$(sha256sum README.md | cut -c1-64)
"$bin/parget" "file://$PWD/README.md" -d "$work/out" -o README.copy --checksum "sha256=$sum"
cmp README.md "$work/out/README.copy"
echo "demo ok"
