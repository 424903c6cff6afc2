#!/usr/bin/env bash
# The one-year simulation of issue 13 in a release build: 50 deployments a week x 20 tests
# for 52 weeks (52,000+ runs), recorded and pruned through the real code paths, then the size
# with and without the retention tiers, the P99 of a month-1 run after the year, and the
# median times of `history compare` and `history trend`. README § "A year of runs, simulated".
#
#   bench/one-year.sh                         the full year, pruned weekly (about 20 minutes on 2 cores)
#   bench/one-year.sh --scale 0.1             5 deployments a week: a quick look
#   bench/one-year.sh --weeks 8 --tests 4
#
# With a release k6gate built (cargo build --release), the CLI is timed too: the median wall
# time of 11 runs of each command, process start and store open included. The store is left
# in target/one-year/history.db for more `k6gate history` questions:
#   K6GATE_STATE_DIR=target/one-year target/release/k6gate history trend --test service-01 --env staging
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/one-year
cargo bench --bench one_year -- "$@" | tee target/one-year/report.txt

bin="${CARGO_TARGET_DIR:-target}/release/k6gate"
[ -x "$bin" ] || { echo "no release k6gate at $bin: CLI not timed"; exit 0; }
versions=$(sed -n 's/.*history compare (\(v[0-9.]*\) -> \(v[0-9.]*\):.*/\1 \2/p' target/one-year/report.txt)
read -r from to <<<"$versions"
median_ms() {
  local times=()
  for _ in $(seq 11); do
    local t0=$(date +%s%N)
    K6GATE_STATE_DIR=target/one-year "$bin" "$@" >/dev/null
    times+=($(( ($(date +%s%N) - t0) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n 6p | awk '{printf "%.1f ms", $1 / 1000}'
}
echo "CLI, median of 11 (process start and store open included):"
echo "  k6gate history compare --test service-01 --env staging --from $from --to $to: $(median_ms history compare --test service-01 --env staging --from "$from" --to "$to")"
echo "  k6gate history trend --test service-01 --env staging: $(median_ms history trend --test service-01 --env staging)"
echo "  k6gate history trend --test service-01 --env staging --format json: $(median_ms history trend --test service-01 --env staging --format json)"
