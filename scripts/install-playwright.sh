#!/usr/bin/env bash
# Idempotently make sure Playwright for Python is importable by python3, for the browser test
# of `k6gate serve` (tests/serve_browser.py). Only the Python package: its own browser
# download cannot run here, and the test drives Debian's Chromium (scripts/install-chromium.sh)
# through `executable_path=/usr/bin/chromium`. No root required.
set -euo pipefail
. "$(dirname "$0")/lib/pip-tool.sh"

have_playwright() {
    python3 -c 'import playwright.sync_api' >/dev/null 2>&1 && command -v playwright >/dev/null 2>&1
}

pip_tool playwright "playwright>=1.40,<2" have_playwright --version
