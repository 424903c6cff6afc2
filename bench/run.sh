#!/usr/bin/env bash
# Reproducible end-to-end benchmark of `k6gate ingest` on a ~2 GB k6 JSON file.
#
#   bench/run.sh [DATA_DIR]        (default DATA_DIR: target/bench-data)
#
# Environment:
#   BENCH_SRC        real k6 `--out json` fixture to scale up (default /tmp/k6fixtures/staged.json)
#   BENCH_SIZE       size of the scaled file (default 2G)
#   BENCH_RUNS       timed runs per command, best wall time is reported (default 3)
#   BENCH_EXACT_RUNS timed runs of the Python exact-quantile script (default 1)
#   BENCH_GZ_LEVEL   gzip level of the .gz copy (default 6, what k6 itself writes)
#   K6GATE_BIN       use this binary and skip `cargo build --release` (default: build and use
#                    target/release/k6gate)
#
# Steps: cargo build --release; make DATA_DIR/k6-large-SIZE.json (+ .gz, + .manifest.json)
# unless present and made from the same source (sha256); then time (a) zcat, (b) k6gate on
# the plain file, (c) k6gate on the .gz, (d) bench/exact_stage_p95.py, and (e) compare the
# per-stage p95. The Markdown result goes to stdout and DATA_DIR/results.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DATA_DIR="${1:-target/bench-data}"
SRC="${BENCH_SRC:-/tmp/k6fixtures/staged.json}"
SIZE="${BENCH_SIZE:-2G}"
RUNS="${BENCH_RUNS:-3}"
EXACT_RUNS="${BENCH_EXACT_RUNS:-1}"
GZ_LEVEL="${BENCH_GZ_LEVEL:-6}"
BIN="${K6GATE_BIN:-$ROOT/target/release/k6gate}"

die() { echo "bench/run.sh: error: $*" >&2; exit 1; }
log() { echo "bench/run.sh: $*" >&2; }

for tool in python3 gzip zcat sha256sum; do
    command -v "$tool" >/dev/null || die "'$tool' is not installed"
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer, got '$RUNS'"
[[ "$EXACT_RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_EXACT_RUNS must be a positive integer"
[[ -f "$SRC" ]] || die "no k6 fixture at '$SRC'. Set BENCH_SRC to a real k6 --out json file \
(one with test_stage tags). For a synthetic stand-in only: python3 bench/make-sample-json.py /tmp/sample.json \
&& BENCH_SRC=/tmp/sample.json bench/run.sh"

mkdir -p "$DATA_DIR"
DATA_DIR="$(cd "$DATA_DIR" && pwd)"
LARGE="$DATA_DIR/k6-large-$SIZE.json"
GZ="$LARGE.gz"
MANIFEST="$LARGE.manifest.json"
RESULTS="$DATA_DIR/results.md"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/k6gate-bench.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

# --- /usr/bin/time, or a Python stand-in -------------------------------------------------
TIME_BIN=""
if [[ -x /usr/bin/time ]]; then
    TIME_BIN=/usr/bin/time
elif [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    log "installing Debian 'time' for /usr/bin/time -v"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null 2>&1 || true
    [[ -x /usr/bin/time ]] && TIME_BIN=/usr/bin/time
fi
[[ -n "$TIME_BIN" ]] || log "no /usr/bin/time: measuring peak RSS with python resource.getrusage instead"

# --- 1. build -------------------------------------------------------------------------------
if [[ -n "${K6GATE_BIN:-}" ]]; then
    log "K6GATE_BIN set: skipping cargo build, using $BIN"
else
    command -v cargo >/dev/null || die "'cargo' is not installed"
    log "cargo build --release"
    cargo build --release >&2 || die "cargo build --release failed"
fi
[[ -x "$BIN" ]] || die "$BIN does not exist or is not executable"

# --- 2. data --------------------------------------------------------------------------------
src_sha="$(sha256sum "$SRC" | cut -d' ' -f1)"
man_sha=""
if [[ -f "$MANIFEST" ]]; then man_sha="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["source_sha256"])' "$MANIFEST" 2>/dev/null || true)"; fi
if [[ ! -f "$LARGE" || "$man_sha" != "$src_sha" ]]; then
    log "generating $LARGE ($SIZE) and its .gz from $SRC"
    rm -f "$LARGE" "$GZ" "$MANIFEST"
    python3 bench/make-large-json.py "$SRC" "$LARGE" --size "$SIZE" --gz --gz-level "$GZ_LEVEL"
elif [[ ! -f "$GZ" ]] || ! python3 -c 'import json,os,sys
m = json.load(open(sys.argv[1])); sys.exit(m.get("gz_bytes") != os.path.getsize(sys.argv[2]))' "$MANIFEST" "$GZ"; then
    log "compressing $LARGE (gzip -$GZ_LEVEL)"
    gzip "-$GZ_LEVEL" -c "$LARGE" > "$GZ.tmp" && mv "$GZ.tmp" "$GZ"
    python3 -c 'import json,os,sys
m = json.load(open(sys.argv[1])); m["gz_bytes"] = os.path.getsize(sys.argv[2]); m["gz_level"] = int(sys.argv[3])
json.dump(m, open(sys.argv[1], "w"), indent=2)' "$MANIFEST" "$GZ" "$GZ_LEVEL"
else
    log "reusing $LARGE (made from the same source)"
fi
BYTES=$(stat -c %s "$LARGE")
GZ_BYTES=$(stat -c %s "$GZ")
log "warming the page cache"
cat "$LARGE" "$GZ" > /dev/null

# --- timing -----------------------------------------------------------------------------
# measure NAME RUNS CMD...: sets BEST (s, best wall time) and PEAK_KB (max RSS over the runs).
measure() {
    local name="$1" runs="$2"; shift 2
    local i t0 t1 wall rss rc
    BEST="" PEAK_KB=0
    local hf=0
    if command -v hyperfine >/dev/null; then
        local cmd; cmd="$(printf '%q ' "$@")"
        hyperfine --shell bash --runs "$runs" --export-json "$TMP/$name.hf.json" --style basic "$cmd" >&2 \
            || die "$name: command failed under hyperfine: $cmd"
        BEST="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["min"])' "$TMP/$name.hf.json")"
        runs=1 hf=1  # one more run below, only for the peak RSS (its time is not used)
    fi
    for ((i = 1; i <= runs; i++)); do
        t0=$(date +%s.%N)
        if [[ -n "$TIME_BIN" ]]; then
            rc=0; "$TIME_BIN" -v -o "$TMP/$name.time" "$@" 2> "$TMP/$name.err" || rc=$?
            rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$TMP/$name.time")
        else
            rc=0; python3 -c 'import resource,subprocess,sys
rc = subprocess.run(sys.argv[2:]).returncode
open(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(rc)' "$TMP/$name.time" "$@" 2> "$TMP/$name.err" || rc=$?
            rss=$(cat "$TMP/$name.time" 2>/dev/null || echo 0)
        fi
        t1=$(date +%s.%N)
        if [[ $rc != 0 ]]; then
            echo "--- stderr of $name (last 20 lines) ---" >&2; tail -n 20 "$TMP/$name.err" >&2
            die "$name failed with exit $rc: $*"
        fi
        wall=$(python3 -c "print(f'{$t1 - $t0:.3f}')")
        log "$name run $i/$runs: ${wall}s, peak RSS ${rss} KB"
        if (( hf )); then :; elif [[ -z "$BEST" ]] || python3 -c "import sys; sys.exit(0 if $wall < $BEST else 1)"; then BEST=$wall; fi
        if (( ${rss:-0} > PEAK_KB )); then PEAK_KB=$rss; fi
    done
    return 0
}

OUT_PLAIN="$DATA_DIR/k6gate-plain.json"
OUT_GZ="$DATA_DIR/k6gate-gz.json"
EXACT="$DATA_DIR/exact.json"
rm -f "$OUT_PLAIN" "$OUT_GZ" "$EXACT"

measure zcat "$RUNS" bash -c 'exec zcat -- "$0" > /dev/null' "$GZ"
ZCAT_S=$BEST
measure k6gate-plain "$RUNS" "$BIN" ingest "$LARGE" -o "$OUT_PLAIN" --format json
PLAIN_S=$BEST PLAIN_KB=$PEAK_KB
[[ -s "$OUT_PLAIN" ]] || die "k6gate ingest exited 0 but did not write $OUT_PLAIN"
measure k6gate-gz "$RUNS" "$BIN" ingest "$GZ" -o "$OUT_GZ" --format json
GZ_S=$BEST GZ_KB=$PEAK_KB
[[ -s "$OUT_GZ" ]] || die "k6gate ingest exited 0 but did not write $OUT_GZ"
measure exact "$EXACT_RUNS" bash -c 'exec python3 bench/exact_stage_p95.py "$0" > "$1"' "$LARGE" "$EXACT"
EXACT_S=$BEST EXACT_KB=$PEAK_KB

# --- report -------------------------------------------------------------------------------
{
python3 - "$BYTES" "$GZ_BYTES" "$RUNS" "$EXACT_RUNS" "$ZCAT_S" "$PLAIN_S" "$PLAIN_KB" "$GZ_S" "$GZ_KB" \
    "$EXACT_S" "$EXACT_KB" "$LARGE" "$MANIFEST" "$EXACT" "$OUT_PLAIN" "$OUT_GZ" "$BIN" <<'PY'
import json, os, platform, subprocess, sys
(nbytes, gzbytes, runs, exact_runs, zcat_s, plain_s, plain_kb, gz_s, gz_kb, exact_s, exact_kb,
 large, manifest, exact_f, out_plain, out_gz, binary) = sys.argv[1:]
nbytes, gzbytes = int(nbytes), int(gzbytes)
zcat_s, plain_s, gz_s, exact_s = map(float, (zcat_s, plain_s, gz_s, exact_s))
man = json.load(open(manifest))

def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception:
        return ""

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((int(l.split()[1]) // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
rev = sh("git", "describe", "--always", "--dirty") or sh("git", "rev-parse", "--short", "HEAD") or "unknown"
ver = sh(binary, "--version") or "?"
gb = nbytes / 1e9
exact = json.load(open(exact_f))

def phases(path):
    try:
        doc = json.load(open(path))
    except ValueError as e:
        sys.exit(f"bench/run.sh: error: k6gate output {path} is not JSON: {e}")
    if not isinstance(doc, dict) or not isinstance(doc.get("phases"), list):
        keys = list(doc) if isinstance(doc, dict) else type(doc).__name__
        sys.exit(f"bench/run.sh: error: {path} has no `phases` list (top level: {keys}); "
                 "the contract is .phases[] with .name and .total.latency_ms.p95")
    out = {}
    for i, ph in enumerate(doc["phases"]):
        try:
            out[str(ph["name"])] = float(ph["total"]["latency_ms"]["p95"])
        except (KeyError, TypeError, ValueError):
            sys.exit(f"bench/run.sh: error: {path}: .phases[{i}] lacks .name or .total.latency_ms.p95: "
                     f"{json.dumps(ph)[:300]}")
    return out

plain, gzp = phases(out_plain), phases(out_gz)
print("## k6gate ingest benchmark\n")
print(f"- machine: {cpu}, {os.cpu_count()} CPUs, {mem} MiB RAM, {platform.platform()}")
print(f"- k6gate: {ver} (git {rev}), binary `{binary}`")
print(f"- input: `{os.path.basename(large)}` {nbytes:,} B ({gb:.2f} GB), {man['point_lines']:,} points; "
      f"`.gz` {gzbytes:,} B (gzip -{man.get('gz_level') or '?'}, {nbytes / gzbytes:.1f}x)")
print(f"- made from `{man['source']}` (sha256 {man['source_sha256'][:12]}…): ramp-up {man['ramp_up']}, "
      f"sustained {man['sustained']} x {man['sustained_copies']} copies (+{man['shift_seconds_per_copy']} s each), "
      f"ramp-down {man['ramp_down']}; {man['first_time']} .. {man['last_time']}")
print(f"- wall time = best of {runs} runs (exact script: {exact_runs}), warm page cache; "
      f"throughput = uncompressed bytes / wall, GB = 1e9 B; RSS = max over runs\n")
print("| step | command | wall s | GB/s | peak RSS MiB | note |")
print("|---|---|---:|---:|---:|---|")
print(f"| (a) | `zcat FILE.gz > /dev/null` | {zcat_s:.2f} | {gb / zcat_s:.2f} | | decompression floor |")
print(f"| (b) | `k6gate ingest FILE.json -o OUT --format json` | {plain_s:.2f} | {gb / plain_s:.2f} | "
      f"{int(plain_kb) / 1024:.0f} | |")
print(f"| (c) | `k6gate ingest FILE.json.gz -o OUT --format json` | {gz_s:.2f} | {gb / gz_s:.2f} | "
      f"{int(gz_kb) / 1024:.0f} | {gz_s / zcat_s:.2f}x zcat time |")
print(f"| (d) | `python3 bench/exact_stage_p95.py FILE.json` | {exact_s:.2f} | {gb / exact_s:.2f} | "
      f"{int(exact_kb) / 1024:.0f} | {exact_s / plain_s:.1f}x k6gate time |")

print("\n(e) per-stage `http_req_duration` p95, ms: exact (nearest-rank and linear, the latter is "
      "k6's own definition) vs k6gate `.phases[].total.latency_ms.p95`\n")
print("| stage | count | exact p95 nearest-rank | exact p95 linear | k6gate p95 | rel. err vs nearest-rank | rel. err vs linear |")
print("|---|---:|---:|---:|---:|---:|---:|")
stages = [s for s in exact if s != "_all"]
for s in stages:
    e = exact[s]
    k = plain.get(s)
    if k is None:
        print(f"| {s} | {e['count']:,} | {e['p95']:.4f} | {e['linear']['p95']:.4f} | (no phase) | | |")
        continue
    rn = (k - e["p95"]) / e["p95"]
    rl = (k - e["linear"]["p95"]) / e["linear"]["p95"]
    print(f"| {s} | {e['count']:,} | {e['p95']:.4f} | {e['linear']['p95']:.4f} | {k:.4f} | {rn:+.3%} | {rl:+.3%} |")
extra = sorted(set(plain) - set(stages))
if extra:
    print(f"\nk6gate phases with no matching `test_stage` value: {', '.join(extra)}")
if plain != gzp:
    print(f"\nWARNING: k6gate's phases differ between the plain and the .gz input: {plain} vs {gzp}")
else:
    print("\nk6gate gave identical phase p95s for the plain and the .gz input.")
want = man.get("http_req_duration_count_per_stage", {})
got = {s: exact[s]["count"] for s in stages}
if want and want != got:
    print(f"\nWARNING: exact counts {got} differ from the generator's manifest {want}")
PY
} | tee "$RESULTS"
log "results written to $RESULTS"
