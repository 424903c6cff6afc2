#!/usr/bin/env bash
# The one-year simulation of issue 13 in a release build: 50 deployments a week x 20 tests
# for 52 weeks (52,000+ runs), recorded and pruned through the real code paths, then the size
# with and without the retention tiers, the P99 of a month-1 run after the year, and the
# median times of `history compare` and `history trend`. README § "A year of runs".
#
#   bench/one-year.sh                 the full year (about 10 minutes on 2 cores)
#   bench/one-year.sh --scale 0.1     5 deployments a week: a quick look
#   bench/one-year.sh --weeks 8 --tests 4
#
# The store is left in target/one-year/history.db (or --dir DIR) for `k6gate history`:
#   K6GATE_STATE_DIR=target/one-year target/release/k6gate history trend --test service-01 --env staging
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench one_year -- "$@"
