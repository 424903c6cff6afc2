#!/usr/bin/env bash
# Packs a built k6gate binary the way a GitHub release ships it, and the reusable workflow
# (.github/workflows/k6-gate.yml, "Download k6gate") expects it:
#
#   OUT_DIR/k6gate-v<VERSION>-<TARGET>.tar.gz         k6gate-v<VERSION>-<TARGET>/{k6gate,README.md}
#   OUT_DIR/k6gate-v<VERSION>-<TARGET>.tar.gz.sha256  "<sha256>  <archive name>" (sha256sum -c reads it)
#
# Usage: scripts/package-release.sh VERSION TARGET BINARY OUT_DIR
# (.github/workflows/release.yml runs it; tests/workflows.rs checks the download against it.)
set -euo pipefail
if [ $# -ne 4 ]; then
    echo "usage: $0 VERSION TARGET BINARY OUT_DIR" >&2
    exit 2
fi
version=${1#v} target=$2 binary=$3 out=$4
root="$(cd "$(dirname "$0")/.." && pwd)"
name="k6gate-v${version}-${target}"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/$name" "$out"
install -m 0755 "$binary" "$stage/$name/k6gate"
cp "$root/README.md" "$stage/$name/README.md"
tar -C "$stage" -czf "$out/$name.tar.gz" "$name"

cd "$out"
if command -v sha256sum >/dev/null; then
    sha256sum "$name.tar.gz" >"$name.tar.gz.sha256"
else
    shasum -a 256 "$name.tar.gz" >"$name.tar.gz.sha256"
fi
echo "$out/$name.tar.gz"
