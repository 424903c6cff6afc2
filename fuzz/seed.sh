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
# Shapes the sample lacks: metadata (k6 with tracing), escapes, offsets, odd numbers.
extra=(
'{"metric":"http_req_duration","type":"Point","data":{"time":"2026-11-28T00:15:42.011026333Z","value":4.787588,"tags":{"expected_response":"true","method":"GET","name":"GET /items","status":"200","test_name":"truth-test","test_stage":"sustained"},"metadata":{"trace_id":"t-1-0"}}}'
'{"metric":"vus","type":"Point","data":{"time":"2026-11-28T00:15:42Z","value":0,"tags":{},"metadata":{}}}'
'{"metric":"http_reqs","type":"Point","data":{"time":"2026-11-28T01:15:42.5+01:00","value":-1.5e-3,"tags":{"name":"GET /a?x=1\u0026y=2","method":"GET"}}}'
'{"metric":"iteration_duration","type":"Point","data":{"time":"2026-11-28T00:15:42Z","value":1E+2,"tags":{"status":"0"},"metadata":{"trace_id":"a","span":"b"}}}'
'{"type":"Metric","data":{"name":"http_req_duration","type":"trend","contains":"time","thresholds":["p(95)<500"],"submetrics":null},"metric":"http_req_duration"}'
)
for line in "${extra[@]}"; do
    printf '%s' "$line" > "$out/extra-$(printf '%04d' "$n")"
    n=$((n + 1))
done
if [ -d "$here/regressions/line_parser" ]; then
    cp "$here/regressions/line_parser/"* "$out/" 2>/dev/null || true
fi
echo "wrote $n seeds to $out"
