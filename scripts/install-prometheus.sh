#!/usr/bin/env bash
# Idempotently make sure Prometheus and promtool (Debian package `prometheus`, 2.42) are
# installed: the tests start a real Prometheus and check the generated rules with promtool.
set -euo pipefail
die() { echo "install-prometheus.sh: ERROR: $*" >&2; exit 1; }
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    exit 0
fi
[ "$(id -u)" -eq 0 ] || die "prometheus is not installed and this is not root; run as root, or install it with: sudo apt-get install --no-install-recommends prometheus"
command -v apt-get >/dev/null 2>&1 || die "prometheus is not installed and there is no apt-get; install Prometheus >= 2.42 (with promtool) and put it on PATH"
echo "install-prometheus.sh: installing the Debian package prometheus" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends prometheus >&2; then
    apt-get update >&2
    apt-get install -y --no-install-recommends prometheus >&2
fi
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || die "apt-get installed prometheus but prometheus/promtool are not on PATH"
