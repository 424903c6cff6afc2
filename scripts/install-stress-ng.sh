#!/usr/bin/env bash
# Idempotently make sure stress-ng (Debian package `stress-ng`, 0.15) is installed: a full-tier
# test loads the load generator's machine with it and expects an inconclusive verdict.
set -euo pipefail
. "$(dirname "$0")/lib/apt-tool.sh"
apt_tool stress-ng stress-ng
