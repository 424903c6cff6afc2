#!/usr/bin/env bash
# Real k6 runs of an unchanged demo shop, for measuring how often the gate is wrong
# (`cargo bench --bench decisions` evaluates them; README § "How the gate decides").
#
#   scripts/aa-runs.sh OUTDIR [N] [M]
#
# N clean runs (default 12), M runs with checkout 20 % slower (`k6gate target --regression
# 0.2`, default 4) and M with every simulated delay 20 % slower (`--latency-scale 1.2`).
# Each run: a fresh demo shop on a free 127.0.0.1 port (its own SQLite file, seed = run
# number), bench/aa-mix.js (ramping-arrival-rate 0 -> 120 iterations/s in 5 s, 25 s at 120,
# 2 s -> 0; products/cart/checkout 60/30/10 at random), k6's JSON output ingested by
# `k6gate ingest` into OUTDIR/<kind>-<nn>.summary.json; the JSON output is deleted.
# OUTDIR/runs.tsv records each run's k6 exit code, start time and load average.
#
# Idempotent: a run whose summary exists is skipped, so an interrupted call resumes.
# Environment: K6GATE_BIN (default: build and use target/release/k6gate), RATE (default 120).
# About 40 s per run: 12 + 4 + 4 runs take about 13 minutes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ $# -lt 1 ] || [ $# -gt 3 ] || [ -z "$1" ]; then
    echo "usage: $0 OUTDIR [N clean runs, default 12] [M regressed runs of each kind, default 4]" >&2
    exit 2
fi
OUTDIR="$1"
N="${2:-12}"
M="${3:-4}"
RATE="${RATE:-120}"
for v in "$N" "$M" "$RATE"; do
    [[ "$v" =~ ^[0-9]+$ ]] || { echo "aa-runs: '$v' is not a whole number" >&2; exit 2; }
done
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"

. "$ROOT/scripts/lib/env.sh"
"$ROOT/scripts/install-k6.sh"
if [ -n "${K6GATE_BIN:-}" ]; then
    BIN="$K6GATE_BIN"
else
    (cd "$ROOT" && cargo build --release --quiet --locked --bin k6gate)
    BIN="$ROOT/target/release/k6gate"
fi
[ -x "$BIN" ] || { echo "aa-runs: $BIN is not executable" >&2; exit 1; }

TMP="$(mktemp -d "${TMPDIR:-/tmp}/k6gate-aa.XXXXXX")"
SHOP_PID=""
stop_shop() {
    if [ -n "$SHOP_PID" ]; then
        kill "$SHOP_PID" 2>/dev/null || true
        wait "$SHOP_PID" 2>/dev/null || true
        SHOP_PID=""
    fi
}
cleanup() {
    local rc=$?
    stop_shop
    rm -rf "$TMP"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_shop SEED [target options...]: sets SHOP_URL.
start_shop() {
    local seed="$1"
    shift
    : >"$TMP/shop.out"
    "$BIN" target --port 0 --db "$TMP/shop.db" --seed "$seed" "$@" >"$TMP/shop.out" 2>"$TMP/shop.err" &
    SHOP_PID=$!
    local i
    for i in $(seq 1 200); do
        SHOP_URL="$(sed -n 's/^listening on \(http:\/\/127\.0\.0\.1:[0-9]*\)$/\1/p' "$TMP/shop.out" | head -n1)"
        [ -n "$SHOP_URL" ] && return 0
        kill -0 "$SHOP_PID" 2>/dev/null || { cat "$TMP/shop.err" >&2; echo "aa-runs: the shop died" >&2; exit 1; }
        sleep 0.05
    done
    echo "aa-runs: the shop did not say where it listens" >&2
    exit 1
}

[ -f "$OUTDIR/runs.tsv" ] || printf 'run\tstarted\tloadavg_1m\tk6_exit\ttarget_options\n' >"$OUTDIR/runs.tsv"

# one NAME SEED [target options...]
one() {
    local name="$1" seed="$2"
    shift 2
    local out="$OUTDIR/$name.summary.json"
    if [ -f "$out" ]; then
        echo "aa-runs: $name exists, skipped"
        return 0
    fi
    rm -f "$TMP/shop.db" "$TMP/shop.db-wal" "$TMP/shop.db-shm"
    start_shop "$seed" "$@"
    local started load rc=0
    started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    load="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')"
    echo "aa-runs: $name (shop ${*:-unchanged}, load $load)"
    K6_NO_USAGE_REPORT=true BASE_URL="$SHOP_URL" RATE="$RATE" \
        k6 run --quiet --no-summary --address '' --out "json=$TMP/$name.json" "$ROOT/bench/aa-mix.js" \
        >"$TMP/k6.log" 2>&1 || rc=$?
    stop_shop
    if [ "$rc" -ne 0 ]; then
        tail -n 20 "$TMP/k6.log" >&2
        echo "aa-runs: k6 exited with $rc on $name" >&2
        exit 1
    fi
    "$BIN" ingest "$TMP/$name.json" --k6-exit-code "$rc" --no-progress --format json -o "$TMP/$name.summary.json" >/dev/null
    mv "$TMP/$name.summary.json" "$out"
    rm -f "$TMP/$name.json"
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$started" "$load" "$rc" "${*:-}" >>"$OUTDIR/runs.tsv"
}

# The regressed runs are spread evenly between the clean ones, alternating their kinds: the
# machine's load drifts, and run in a block they would measure the drift as well.
done=0
regressed() { # the next regressed run, checkout and all in turn
    local k=$((done / 2 + 1))
    if [ $((done % 2)) -eq 0 ]; then
        one "$(printf 'checkout20-%02d' "$k")" "$((100 + k))" --regression 0.2
    else
        one "$(printf 'all20-%02d' "$k")" "$((200 + k))" --latency-scale 1.2
    fi
    done=$((done + 1))
}
for i in $(seq 1 "$N"); do
    one "$(printf 'clean-%02d' "$i")" "$i"
    while [ "$done" -lt $((i * 2 * M / N)) ]; do regressed; done
done
while [ "$done" -lt $((2 * M)) ]; do regressed; done
echo "aa-runs: $N clean, $M checkout +20 %, $M all +20 % in $OUTDIR"
