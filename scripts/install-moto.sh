#!/usr/bin/env bash
# Idempotently make sure moto's S3-compatible server (`moto_server`, from PyPI) is on PATH:
# the durable run store's tests run against it. No root required.
set -euo pipefail
. "$(dirname "$0")/lib/pip-tool.sh"

have_moto() {
    command -v moto_server >/dev/null 2>&1 && moto_server --help >/dev/null 2>&1
}

pip_tool moto_server "moto[server]==5.*" have_moto --help
