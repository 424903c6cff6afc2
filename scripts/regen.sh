#!/usr/bin/env bash
# The one way to regenerate every checked-in generated file; the tests that compare them
# byte for byte point here on a mismatch. Review `git diff` afterwards and commit the result.
#
#   grafana/          `k6gate grafana generate` (the directory is replaced: stale files go)
#   schema/           `k6gate schema` (the RunSummary JSON Schema)
#   tests/snapshots/  the rendered k6 scripts (insta snapshots of tests/render.rs, fast tier)
#
# Usage: scripts/regen.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/env.sh

k6gate() { cargo run --quiet --locked --bin k6gate -- "$@"; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

k6gate grafana generate --out "$tmp/grafana" >/dev/null
rm -rf grafana
mv "$tmp/grafana" grafana
echo "regen.sh: grafana/"

k6gate schema >"$tmp/run-summary.schema.json"
mkdir -p schema
mv "$tmp/run-summary.schema.json" schema/run-summary.schema.json
echo "regen.sh: schema/run-summary.schema.json"

# Rewrites the snapshots in place instead of failing on a difference.
INSTA_UPDATE=always cargo test --quiet --locked --test integration -- render:: >/dev/null
echo "regen.sh: tests/snapshots/"
