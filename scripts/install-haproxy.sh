#!/usr/bin/env bash
# Idempotently make sure haproxy (Debian package `haproxy`, 2.6) is installed: the canary
# analysis tests (tests/canary.rs) put it in front of a stable and a canary demo shop,
# weighted 95/5, like the load balancer of a staged rollout.
set -euo pipefail
. "$(dirname "$0")/lib/apt-tool.sh"
apt_tool haproxy haproxy
