#!/usr/bin/env bash
# Rebuilds the seed corpus of the line_parser fuzz target (fuzz/corpus is gitignored):
# one file per line of the k6 sample, plus the saved regressions.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$here/../benches/data/k6-sample.ndjson"
out="$here/corpus/line_parser"
mkdir -p "$out"
n=0
while IFS= read -r line || [ -n "$line" ]; do
    printf '%s' "$line" > "$out/seed-$(printf '%04d' "$n")"
    n=$((n + 1))
done < "$src"
if [ -d "$here/regressions/line_parser" ]; then
    cp "$here/regressions/line_parser/"* "$out/" 2>/dev/null || true
fi
echo "wrote $n seeds to $out"
