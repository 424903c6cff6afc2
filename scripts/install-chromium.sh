#!/usr/bin/env bash
# Idempotently make sure headless Chromium is at /usr/bin/chromium, for the HTML report's
# screenshot test (tests/html_report.rs). Installs the Debian packages `chromium` and
# `fonts-dejavu-core` (so text renders in screenshots) with apt-get. Needs root when
# something is missing; does nothing when everything is already there.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
PACKAGES=(chromium fonts-dejavu-core)
FONT=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf

report() {
    echo "chromium: $CHROMIUM -> $("$CHROMIUM" --version 2>/dev/null | head -n1)"
}

if [ -x "$CHROMIUM" ] && [ -f "$FONT" ]; then
    report
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-chromium.sh: ERROR: $CHROMIUM is missing and apt-get is not available;" >&2
    echo "  install Chromium so that $CHROMIUM exists (and a sans-serif font), then rerun." >&2
    exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-chromium.sh: ERROR: $CHROMIUM (or the DejaVu fonts) is missing and installing" >&2
    echo "  ${PACKAGES[*]} needs root. Run: sudo $0" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
install() {
    apt-get install -y --no-install-recommends "${PACKAGES[@]}"
}

echo "install-chromium.sh: installing ${PACKAGES[*]} ..." >&2
# A fresh container has no package lists: update only when the install cannot find them.
if ! install >&2; then
    echo "install-chromium.sh: refreshing package lists (apt-get update) and retrying ..." >&2
    apt-get update >&2
    install >&2
fi

if [ ! -x "$CHROMIUM" ]; then
    echo "install-chromium.sh: ERROR: installed ${PACKAGES[*]} but $CHROMIUM does not exist" >&2
    exit 1
fi
report
