#!/usr/bin/env bash
# Idempotently install the reference implementations of E-divisive means that
# tests/changepoints.rs compares k6gate's detector with (src/stats/edivisive.rs), each in its
# own virtual environment under ${CARGO_TARGET_DIR:-target}/cp-venv/ (no root required; quick
# when they are already there):
#   spa/    MongoDB's signal-processing-algorithms 2.1.6 (`e_divisive`)
#   otava/  Apache Otava 0.8.0 (`compute_change_points_orig`, `compute_change_points`)
# They cannot share one: signal-processing-algorithms 2.1.6 requires Python >=3.11,<3.12 and
# numpy 1.x, apache-otava 0.8.0 pins numpy 2.2.0. Prints each venv's python.
set -euo pipefail
cd "$(dirname "$0")/.."

root="${CARGO_TARGET_DIR:-target}/cp-venv"

# venv NAME PIP_SPEC IMPORT PYTHON...: the first PYTHON that exists makes the venv.
venv() {
    local name=$1 spec=$2 module=$3
    shift 3
    local dir="$root/$name"
    if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.spec" 2>/dev/null)" = "$spec" ] \
        && "$dir/bin/python" -c "import $module" >/dev/null 2>&1; then
        echo "$name: $dir/bin/python ($spec)"
        return 0
    fi
    local py=""
    for candidate in "$@"; do
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import venv' >/dev/null 2>&1; then
            py=$candidate
            break
        fi
    done
    if [ -z "$py" ]; then
        echo "install-changepoint-refs.sh: ERROR: none of $* found; $spec needs one of them" >&2
        return 1
    fi
    echo "install-changepoint-refs.sh: $spec into $dir with $py ($("$py" --version 2>&1)) ..." >&2
    rm -rf "$dir"
    "$py" -m venv "$dir"
    if ! "$dir/bin/python" -m pip install --disable-pip-version-check -q "$spec" >&2; then
        echo "install-changepoint-refs.sh: ERROR: 'pip install $spec' failed with $py" >&2
        return 1
    fi
    echo "$spec" >"$dir/.spec"
    "$dir/bin/python" -c "import $module"
    echo "$name: $dir/bin/python ($spec)"
}

# signal-processing-algorithms 2.1.6 declares Requires-Python >=3.11,<3.12.
venv spa "signal-processing-algorithms==2.1.6" signal_processing_algorithms.energy_statistics.energy_statistics \
    python3.11 python3
venv otava "apache-otava==0.8.0" otava.analysis python3 python3.12 python3.11
