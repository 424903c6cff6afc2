#!/usr/bin/env bash
# Idempotently make sure stress-ng (Debian package `stress-ng`, 0.15) is installed: a full-tier
# test loads the load generator's machine with it and expects an inconclusive verdict.
set -euo pipefail
die() { echo "install-stress-ng.sh: ERROR: $*" >&2; exit 1; }
if command -v stress-ng >/dev/null 2>&1; then
    exit 0
fi
[ "$(id -u)" -eq 0 ] || die "stress-ng is not installed and this is not root; run as root, or install it with: sudo apt-get install stress-ng"
command -v apt-get >/dev/null 2>&1 || die "stress-ng is not installed and there is no apt-get; install stress-ng and put it on PATH"
echo "install-stress-ng.sh: installing the Debian package stress-ng" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends stress-ng >&2; then
    apt-get update >&2
    apt-get install -y --no-install-recommends stress-ng >&2
fi
command -v stress-ng >/dev/null 2>&1 || die "apt-get installed stress-ng but it is not on PATH"
