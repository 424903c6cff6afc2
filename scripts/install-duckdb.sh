#!/usr/bin/env bash
# Idempotently make sure DuckDB's Python package (the PyPI wheel: the engine is inside, no
# C++ build) is importable by python3: tests/archive_duckdb.rs queries the archive with it.
# No root required. Its httpfs extension (s3://) is not in the wheel and is downloaded on
# first use, which needs the network: the test queries a local-path archive.
set -euo pipefail
. "$(dirname "$0")/lib/pip-tool.sh"

# pip_tool reports `NAME --version`: a one-line stand-in for the CLI the wheel does not ship.
duckdb() {
    python3 -c 'import duckdb; print("duckdb (python) " + duckdb.__version__)'
}

have_duckdb() {
    python3 -c 'import duckdb, sys; sys.exit(0 if duckdb.__version__.startswith("2.") else 1)' >/dev/null 2>&1
}

pip_tool duckdb "duckdb==2.*" have_duckdb --version
