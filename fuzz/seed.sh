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
# Several lines per input, so the tag cache of `parse_line_cached` gets hits: three
# consecutive sample lines (k6 writes runs of samples with identical tag objects), and
# short hand-made sequences (CRLF, a Metric or slow-path line in between, metadata,
# tag objects that differ in one byte or share only a prefix).
mapfile -t lines < "$src"
for ((i = 0; i + 2 < ${#lines[@]}; i += 3)); do
    printf '%s\n%s\n%s' "${lines[i]}" "${lines[i + 1]}" "${lines[i + 2]}" > "$out/multi-$(printf '%04d' "$n")"
    n=$((n + 1))
done
p1='{"metric":"a","type":"Point","data":{"time":"2026-11-28T00:15:42Z","value":1,"tags":{"name":"x","status":"200"}}}'
p2='{"metric":"b","type":"Point","data":{"time":"2026-11-28T00:15:43Z","value":2,"tags":{"name":"x","status":"200"}}}'
p3='{"metric":"c","type":"Point","data":{"time":"2026-11-28T00:15:44Z","value":3,"tags":{"name":"x","status":"200"},"metadata":{"trace_id":"t"}}}'
p4='{"metric":"d","type":"Point","data":{"time":"2026-11-28T00:15:45Z","value":4,"tags":{"name":"x","status":"201"}}}'
p5='{"metric":"e","type":"Point","data":{"time":"2026-11-28T00:15:46Z","value":5,"tags":{"name":"x","status":"200"},"x":1}}'
p6='{"metric":"f","type":"Point","data":{"time":"2026-11-28T00:15:47Z","value":6, "tags":{"name":"x","status":"200"}}}'
m1='{"type":"Metric","data":{"name":"a","type":"trend","contains":"time"},"metric":"a"}'
multi=(
"$p1"$'\n'"$p2"
"$p1"$'\r\n'"$p2"$'\r\n'"$p3"
"$p1"$'\n'"$m1"$'\n\n'"$p2"
"$p1"$'\n'"$p3"$'\n'"$p4"$'\n'"$p2"
"$p1"$'\n'"$p5"$'\n'"$p2"
"$p1"$'\n'"$p6"$'\n'"$p2"
)
for text in "${multi[@]}"; do
    printf '%s' "$text" > "$out/multi-$(printf '%04d' "$n")"
    n=$((n + 1))
done
if [ -d "$here/regressions/line_parser" ]; then
    cp "$here/regressions/line_parser/"* "$out/" 2>/dev/null || true
fi
echo "wrote $n seeds to $out"
