#!/usr/bin/env bash
# Idempotently make sure Alertmanager and amtool (Debian package `prometheus-alertmanager`,
# 0.25) are installed: the tests start two real Alertmanagers in one cluster from the files
# `k6gate stack generate` writes. Debian's binary is `prometheus-alertmanager`; its
# postinst cannot start the service in a container, and nothing needs it to.
set -euo pipefail
. "$(dirname "$0")/lib/apt-tool.sh"
apt_tool prometheus-alertmanager prometheus-alertmanager
apt_tool amtool prometheus-alertmanager
