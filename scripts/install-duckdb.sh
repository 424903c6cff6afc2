#!/usr/bin/env bash
# Idempotently make sure DuckDB's Python package (the PyPI wheel: the engine is inside, no
# C++ build) is importable by python3, with s3fs beside it: tests/archive_duckdb.rs queries
# the archive with it, on a local path and on S3 (moto). No root required. DuckDB's own
# httpfs extension (s3://) is not in the wheel and is downloaded on first use, which needs
# the network; s3fs, registered as DuckDB's filesystem for s3:// (fsspec), needs none.
set -euo pipefail
. "$(dirname "$0")/lib/pip-tool.sh"

# pip_tool reports `NAME --version`: a one-line stand-in for the CLI the wheel does not ship.
duckdb() {
    python3 -c 'import duckdb, s3fs; print("duckdb (python) " + duckdb.__version__ + ", s3fs " + s3fs.__version__)'
}

have_duckdb() {
    python3 -c 'import duckdb, s3fs, sys; sys.exit(0 if duckdb.__version__.startswith("2.") else 1)' >/dev/null 2>&1
}

pip_tool duckdb "duckdb==2.* s3fs>=2026.9" have_duckdb --version
