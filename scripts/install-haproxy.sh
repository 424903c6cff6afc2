#!/usr/bin/env bash
# Idempotently make sure haproxy (Debian package `haproxy`, 2.6) is installed: the canary
# analysis tests (tests/canary.rs) put it in front of a stable and a canary demo shop,
# weighted 95/5, like the load balancer of a staged rollout.
set -euo pipefail
die() { echo "install-haproxy.sh: ERROR: $*" >&2; exit 1; }
if command -v haproxy >/dev/null 2>&1; then
    exit 0
fi
[ "$(id -u)" -eq 0 ] || die "haproxy is not installed and this is not root; run as root, or install it with: sudo apt-get install haproxy"
command -v apt-get >/dev/null 2>&1 || die "haproxy is not installed and there is no apt-get; install haproxy and put it on PATH"
echo "install-haproxy.sh: installing the Debian package haproxy" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends haproxy >&2; then
    apt-get update >&2
    apt-get install -y --no-install-recommends haproxy >&2
fi
command -v haproxy >/dev/null 2>&1 || die "apt-get installed haproxy but it is not on PATH"
