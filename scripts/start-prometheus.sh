#!/usr/bin/env bash
# Start a local Prometheus that accepts remote write, for k6gate's tests and CI.
#
#   scripts/start-prometheus.sh DATA_DIR          start (or reuse) Prometheus for DATA_DIR
#   scripts/start-prometheus.sh --stop DATA_DIR   stop the Prometheus started for DATA_DIR
#
# Idempotent. Installs the Debian package `prometheus` when the binary is missing (needs
# root), writes DATA_DIR/prometheus.yml, starts Prometheus in the background on a free
# 127.0.0.1 port with its TSDB in DATA_DIR/tsdb, waits for /-/ready, writes the pid to
# DATA_DIR/prometheus.pid and prints `PROMETHEUS_URL=http://127.0.0.1:PORT` on stdout
# (everything else goes to stderr). If the Prometheus recorded in DATA_DIR is already
# running and ready, it is reused and its URL printed again.
#
# The config enables out-of-order ingestion (`out_of_order_time_window: 30d`): k6gate
# publishes one sample per run at the run's end time, which can be older than the newest
# sample Prometheus holds (a re-publish, or runs published out of order). Without it
# Prometheus rejects such samples with `out of order sample` / `out of bounds`.
#
# Environment:
#   PROMETHEUS_PORT        port to listen on (default: a free one)
#   PROMETHEUS_OOO_WINDOW  out-of-order window (default 30d; `0s` turns it off)
#   PROMETHEUS_READY_SECS  how long to wait for /-/ready (default 60)
#
# Rules: DATA_DIR/rules/*.yml are loaded (`rule_files`); `curl -X POST URL/-/reload`
# reloads them (the lifecycle API is on). Logs: DATA_DIR/prometheus.log.
set -euo pipefail

usage() {
    echo "usage: $0 DATA_DIR | $0 --stop DATA_DIR" >&2
    exit 2
}

STOP=""
if [ "${1:-}" = "--stop" ]; then
    STOP=1
    shift
fi
[ $# -eq 1 ] && [ -n "$1" ] || usage
DATA_DIR="${1%/}"
mkdir -p "$DATA_DIR"
DATA_DIR="$(cd "$DATA_DIR" && pwd)"
PID_FILE="$DATA_DIR/prometheus.pid"
URL_FILE="$DATA_DIR/prometheus.url"
LOG="$DATA_DIR/prometheus.log"
CONFIG="$DATA_DIR/prometheus.yml"

log() { echo "start-prometheus: $*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

# The pid in PID_FILE, if that process is alive and is a Prometheus for this DATA_DIR
# (so a recycled pid is never killed or reused by mistake).
running_pid() {
    [ -f "$PID_FILE" ] || return 1
    local pid
    pid="$(cat "$PID_FILE" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--storage.tsdb.path=$DATA_DIR/tsdb" || return 1
    echo "$pid"
}

ready() { curl -sf -o /dev/null --max-time 2 "$1/-/ready"; }

# Alive and not a zombie (an exited Prometheus whose new parent has not reaped it yet).
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != "Z" ]
}

# ---------------------------------------------------------------- stop
if [ -n "$STOP" ]; then
    if pid="$(running_pid)"; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            log "pid $pid did not stop after 10 s; sending KILL"
            kill -9 "$pid" 2>/dev/null || true
        fi
        log "stopped pid $pid"
    else
        log "no Prometheus running for $DATA_DIR"
    fi
    rm -f "$PID_FILE" "$URL_FILE"
    exit 0
fi

# ---------------------------------------------------------------- reuse
if pid="$(running_pid)" && [ -f "$URL_FILE" ] && url="$(cat "$URL_FILE")" && ready "$url"; then
    log "reusing pid $pid"
    echo "PROMETHEUS_URL=$url"
    exit 0
fi
if pid="$(running_pid)"; then
    log "pid $pid is running but not ready; restarting it"
    "$0" --stop "$DATA_DIR"
fi

# ---------------------------------------------------------------- install
command -v curl >/dev/null 2>&1 || die "curl is required"
"$(dirname "$0")/install-prometheus.sh"

# ---------------------------------------------------------------- config
mkdir -p "$DATA_DIR/tsdb" "$DATA_DIR/rules"
cat >"$CONFIG" <<EOF
# Written by k6gate scripts/start-prometheus.sh; rewritten on every start.
global:
  scrape_interval: 1s
  evaluation_interval: 1s
storage:
  tsdb:
    out_of_order_time_window: ${PROMETHEUS_OOO_WINDOW:-30d}
rule_files:
  - rules/*.yml
scrape_configs: []
EOF
if command -v promtool >/dev/null 2>&1; then
    promtool check config "$CONFIG" >&2 || die "promtool rejected $CONFIG"
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null && return
    # No python: pick a random high port that nothing listens on.
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 40000))
        if ! (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    die "no free port found"
}

# ---------------------------------------------------------------- start
attempts=1
[ -n "${PROMETHEUS_PORT:-}" ] || attempts=3 # a free port can be taken before Prometheus binds it
for attempt in $(seq 1 "$attempts"); do
    PORT="${PROMETHEUS_PORT:-$(free_port)}"
    URL="http://127.0.0.1:$PORT"
    # Own session: the caller's Ctrl-C or process-group kill does not reach it; --stop does.
    # (This script has no job control, so the subshell is not a group leader and setsid
    # execs Prometheus in place: $! is Prometheus' pid.)
    (cd "$DATA_DIR" && exec setsid prometheus \
        --config.file="$CONFIG" \
        --storage.tsdb.path="$DATA_DIR/tsdb" \
        --web.listen-address="127.0.0.1:$PORT" \
        --web.enable-remote-write-receiver \
        --enable-feature=native-histograms \
        --web.enable-lifecycle \
        </dev/null >"$LOG" 2>&1) &
    PID=$!
    echo "$PID" >"$PID_FILE"
    deadline=$((SECONDS + ${PROMETHEUS_READY_SECS:-60}))
    while [ "$SECONDS" -lt "$deadline" ]; do
        alive "$PID" || break
        if ready "$URL"; then
            running_pid >/dev/null || die "pid $PID is not the Prometheus serving $URL"
            echo "$URL" >"$URL_FILE"
            log "pid $PID ready at $URL (data $DATA_DIR, log $LOG)"
            echo "PROMETHEUS_URL=$URL"
            exit 0
        fi
        sleep 0.2
    done
    if alive "$PID"; then
        kill "$PID" 2>/dev/null || true
        rm -f "$PID_FILE"
        tail -n 20 "$LOG" >&2 || true
        die "Prometheus (pid $PID) was not ready at $URL after ${PROMETHEUS_READY_SECS:-60} s; see $LOG"
    fi
    rm -f "$PID_FILE"
    if grep -q "address already in use" "$LOG" 2>/dev/null && [ "$attempt" -lt "$attempts" ]; then
        log "port $PORT was taken; trying another"
        continue
    fi
    tail -n 20 "$LOG" >&2 || true
    die "Prometheus exited before it was ready; see $LOG"
done
