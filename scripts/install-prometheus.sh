#!/usr/bin/env bash
# Idempotently make sure Prometheus and promtool (Debian package `prometheus`, 2.42) are
# installed: the tests start a real Prometheus and check the generated rules with promtool.
set -euo pipefail
. "$(dirname "$0")/lib/apt-tool.sh"
apt_tool prometheus prometheus
apt_tool promtool prometheus
