#!/usr/bin/env bash
# Page latency of `k6gate serve` on a simulated year of runs (12,000 runs: checkout hourly for
# 365 days over 438 versions, 18 other tests beside it, four teams): the median of five whole
# HTTP requests per page, and the page's size, as the Markdown table the README shows
# (README § "In the browser", "Latency on a year of runs"). Debug build, as the tests run;
# building the store takes about a minute.
#
#   bench/serve-pages.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked --test integration serve_trends::every_page_on_a_year_of_runs -- \
  --ignored --exact --nocapture 2>&1 | grep -E '^(\||12,000 runs|test result)'
