#!/usr/bin/env bash
# How much of an iteration's active time (its duration less think time) k6 itself takes:
# the reading behind the "dominated by the client" load-generator sign (CLIENT_SHARE_MAX in
# src/summary/load.rs). Renders the checkout template for dev, runs k6 on it for 12 s at its
# dev arrival rate, ingests the JSON output and prints the summary's readings.
#
#   bench/k6-client-share.sh URL            # against a running target, e.g. `k6gate target --port 18080`
#   STRESS=8 bench/k6-client-share.sh URL   # the same with `stress-ng --cpu 8` on the machine
#
# Environment: K6GATE_BIN (default target/release/k6gate, else target/debug/k6gate).
set -euo pipefail
url="${1:?usage: $0 URL}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${K6GATE_BIN:-}"
[ -n "$bin" ] || for b in "$root/target/release/k6gate" "$root/target/debug/k6gate"; do
    [ -x "$b" ] && { bin="$b"; break; }
done
[ -x "$bin" ] || { echo "k6-client-share: build k6gate first (cargo build --release)" >&2; exit 1; }
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
(cd "$root" && "$bin" render --test checkout --env dev --set "base_url=$url" \
    --set stages.warm_up=1s --set stages.ramp_up=1s --set stages.sustained=10s --set stages.ramp_down=1s \
    -o "$dir/s.js")
if [ -n "${STRESS:-}" ]; then stress-ng --cpu "$STRESS" --timeout 15s --quiet & fi
K6_NO_USAGE_REPORT=true k6 run -q --out "json=$dir/out.json" "$dir/s.js" >/dev/null 2>&1 || true
wait || true
"$bin" ingest "$dir/out.json" -o "$dir/summary.json" >/dev/null
python3 - "$dir/summary.json" <<'PY'
import json, sys
g = json.load(open(sys.argv[1])).get("load_generator") or {}
share = g.get("client_share")
print("client share %s; saturated %s; signs %s" % (
    "unknown" if share is None else "%.3f" % share, g.get("saturated"), g.get("signs")))
PY
