#!/usr/bin/env bash
# How long k6's threads wait for a CPU per unit of time they run, and how busy the machine is:
# the two readings behind the load-generator sign (src/run/host.rs, K6_WAIT_RATIO_MAX in
# src/summary/load.rs). Linux only.
#
#   bench/k6-cpu-wait.sh URL            # k6 at 100 requests/s for 10 s against URL (GET /api/products)
#   STRESS=8 bench/k6-cpu-wait.sh URL   # the same with `stress-ng --cpu 8` on the machine
#
# Start a target first, e.g. `k6gate target --port 18080` and URL=http://127.0.0.1:18080.
set -euo pipefail
url="${1:?usage: $0 URL}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
cat >"$dir/s.js" <<'JS'
import http from 'k6/http';
export const options = { scenarios: { a: { executor: 'constant-arrival-rate', rate: 100, timeUnit: '1s',
  duration: '10s', preAllocatedVUs: 20, maxVUs: 50 } } };
export default function () { http.get(`${__ENV.U}/api/products?limit=20`); }
JS
if [ -n "${STRESS:-}" ]; then stress-ng --cpu "$STRESS" --timeout 12s --quiet & fi
K6_NO_USAGE_REPORT=true k6 run -q -e U="$url" "$dir/s.js" >/dev/null 2>&1 &
k6pid=$!
sleep 2
pid="$(pgrep -P "$k6pid" -x k6 || echo "$k6pid")"
snap() { cat /proc/"$pid"/task/*/schedstat 2>/dev/null | awk '{r+=$1; w+=$2} END {printf "%d %d\n", r, w}'; }
cpu() { head -1 /proc/stat | awk '{t=0; for (i=2;i<=9;i++) t+=$i; print t, $5+$6}'; }
read -r r1 w1 < <(snap); read -r t1 i1 < <(cpu)
sleep 6
read -r r2 w2 < <(snap); read -r t2 i2 < <(cpu)
wait "$k6pid" || true
wait || true
awk -v r="$((r2 - r1))" -v w="$((w2 - w1))" -v t="$((t2 - t1))" -v i="$((i2 - i1))" \
    'BEGIN { printf "k6 wait/run %.2f; machine busy %.2f\n", (r > 0 ? w / r : 0), (t > 0 ? 1 - i / t : 0) }'
