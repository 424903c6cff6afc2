#!/usr/bin/env bash
# The canary analysis's false-rollback rate: N healthy canaries (the stable version's
# latency and errors, 7 % of the traffic: 3 requests a second per route beside 20), each
# remote-written into a real Prometheus with its own draws and analysed 40 s in 5 s looks
# under the shipped rules (tests/canary_remote_write.rs, healthy_canaries_are_rarely_rolled_back;
# the full tier runs 20). Prints the count, the rate and its 95 % upper bound.
#
#   bench/canary-false-rollbacks.sh         # 200 analyses, about 3 minutes
#   bench/canary-false-rollbacks.sh 1000
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/env.sh
n="${1:-200}"
K6GATE_CANARY_ANALYSES="$n" cargo test --quiet --locked --test integration \
    canary_remote_write::healthy_canaries_are_rarely_rolled_back -- --include-ignored --nocapture 2>&1 |
    grep -E '^(FALSE ROLLBACKS|healthy[0-9]+:)|panicked|test result'
