#!/usr/bin/env python3
"""Craft a small synthetic k6 v1.1 `--out json` file (NDJSON), for developing
the bench scripts when no real k6 fixture is at hand.

It follows the shape recorded in /work/shared/facts/k6-and-prometheus.md 4(a):
Metric lines appear right before the first Point of that metric, Point lines
carry data.time (RFC3339 UTC, nanoseconds, trailing zeros trimmed), value and
alphabetically sorted tags (+ metadata), the 9 http_* samples of one request
share one timestamp, and lines are written in ~200 ms flush batches, so the
file is only roughly time-ordered (as in real k6 output).

The scenario mimics the facts' ramping-vus run: stages 10s->10 VUs, 20s@10,
10s->0, tagged test_stage 0/1/2 and stage_profile ramp-up/steady/ramp-down.
A REAL k6 fixture is always preferred for benchmarking; this is a stand-in.

Usage: make-sample-json.py OUT.json [--seed N] [--scale F]
  --scale multiplies every stage duration (default 1.0 = 40 s, ~30 MB).
"""
import argparse
import json
import random
import sys
import time

START_NS = 1795825000_000000000  # 2026-11-28T00:16:40Z, a whole second

RUN_TAGS = {"deployment_version": "v9.9.9", "git_commit": "abc1234", "test_name": "truth-test"}

METRICS = {
    # name: (type, contains, thresholds, submetrics)
    "http_reqs": ("counter", "default", [], None),
    "http_req_duration": ("trend", "time", [], [
        {"name": "http_req_duration{expected_response:true}", "suffix": "expected_response:true",
         "tags": {"expected_response": "true"}},
        {"name": "http_req_duration{group:::api}", "suffix": "group:::api", "tags": {"group": "::api"}},
    ]),
    "http_req_blocked": ("trend", "time", [], None),
    "http_req_connecting": ("trend", "time", [], None),
    "http_req_tls_handshaking": ("trend", "time", [], None),
    "http_req_sending": ("trend", "time", [], None),
    "http_req_waiting": ("trend", "time", [], None),
    "http_req_receiving": ("trend", "time", [], None),
    "http_req_failed": ("rate", "default",
                        [{"threshold": "rate<0.10", "abortOnFail": True, "delayAbortEval": "5s"}], None),
    "checks": ("rate", "default", ["rate>0.9"], None),
    "group_duration": ("trend", "time", [], None),
    "custom_latency_ms": ("trend", "time", ["p(99)<1000", "avg<200"], None),
    "custom_payload_size": ("trend", "default", [], None),
    "custom_items_total": ("counter", "default", [], None),
    "custom_success_rate": ("rate", "default", [], None),
    "custom_queue_depth": ("gauge", "default", [], None),
    "iterations": ("counter", "default", [], None),
    "iteration_duration": ("trend", "time", [], None),
    "data_sent": ("counter", "data", [], None),
    "data_received": ("counter", "data", [], None),
    "vus": ("gauge", "default", [], None),
    "vus_max": ("gauge", "default", [], None),
}


def fmt_time(ns):
    """RFC3339 UTC like Go's time.RFC3339Nano: trailing zeros of the fraction trimmed."""
    sec, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    if frac:
        return f"{base}.{frac:09d}".rstrip("0") + "Z"
    return base + "Z"


def fmt_value(v):
    """Go's encoding/json float format for the value range k6 emits."""
    if float(v).is_integer() and abs(v) < 1e21:
        return str(int(v))
    r = repr(float(v))
    if "e" in r:  # Go writes 0.000083 where Python writes 8.3e-05
        r = f"{v:.9f}".rstrip("0")
    return r


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def metric_line(name):
    mtype, contains, thr, subs = METRICS[name]
    data = {"name": name, "type": mtype, "contains": contains, "thresholds": thr, "submetrics": subs}
    return '{"type":"Metric","data":%s,"metric":%s}' % (dumps(data), dumps(name))


def point_line(name, ns, value, tags, metadata=None):
    parts = ['{"metric":', dumps(name), ',"type":"Point","data":{"time":"', fmt_time(ns),
             '","value":', fmt_value(value), ',"tags":', dumps(dict(sorted(tags.items())))]
    if metadata:
        parts += [',"metadata":', dumps(metadata)]
    parts.append("}}")
    return "".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--scale", type=float, default=1.0)
    a = ap.parse_args()
    rnd = random.Random(a.seed)

    s = a.scale
    stages = [(10 * s, 10, "ramp-up"), (20 * s, 10, "steady"), (10 * s, 0, "ramp-down")]
    bounds = []
    t0 = 0.0
    for dur, target, prof in stages:
        bounds.append((t0, t0 + dur, target, prof))
        t0 += dur
    total = t0
    setup_ns = START_NS
    run_ns = START_NS + 1_000_000_000  # scenario starts 1 s after setup

    def stage_at(t):
        prev = 0
        for i, (b0, b1, target, prof) in enumerate(bounds):
            if t < b1:
                return i, prof, prev + (target - prev) * (t - b0) / (b1 - b0)
            prev = target
        return len(bounds) - 1, bounds[-1][3], 0

    samples = []  # (emit_ns, vu, seq, line-producer args)
    seq = 0

    def add(ns, vu, name, value, tags, metadata=None):
        nonlocal seq
        samples.append((ns, vu, seq, name, value, tags, metadata))
        seq += 1

    # setup(): one data_sent/received with group ::setup, at an exact second (no fraction)
    stags = dict(RUN_TAGS, group="::setup")
    add(setup_ns, 0, "data_sent", 0, stags)
    add(setup_ns, 0, "data_received", 0, stags)

    base_url = "http://127.0.0.1:18080"
    max_vus = 10
    for vu in range(1, max_vus + 1):
        t = 0.0
        it = 0
        while t < total:
            st, prof, target_vus = stage_at(t)
            if vu > target_vus + 0.5:  # VU not active yet / already ramped down
                t += 0.05
                continue
            vt = dict(RUN_TAGS, scenario="ramp", scenario_kind="vus",
                      test_stage=str(st), stage_profile=prof)
            meta = {"trace_id": f"t-{vu}-{it}"}
            it_start = t
            # group('api'): GET /items, then check
            for endpoint, path, slow in (("items", "/items", True), ("fast", "/fast", False)):
                dur = rnd.uniform(1.0, 5.0) if slow else rnd.uniform(0.08, 0.6)
                if rnd.random() < 0.003:
                    dur += rnd.uniform(20, 45)  # occasional tail latency
                blocked = rnd.uniform(0.001, 0.01)
                t += (dur + blocked) / 1000.0
                ns = run_ns + int(t * 1e9) + rnd.randrange(1000)
                failed = slow and rnd.random() < 0.02
                status = "500" if failed else "200"
                htags = dict(vt, endpoint=endpoint, expected_response="false" if failed else "true",
                             group="::api" if slow else "", method="GET", name=f"GET {path}",
                             proto="HTTP/1.1", status=status, url=f"GET {path}")
                if failed:
                    htags["error_code"] = "1500"
                sending = rnd.uniform(0.005, 0.03)
                receiving = rnd.uniform(0.01, 0.08)
                for name, value in (("http_reqs", 1), ("http_req_duration", round(dur, 6)),
                                    ("http_req_blocked", round(blocked, 6)), ("http_req_connecting", 0),
                                    ("http_req_tls_handshaking", 0), ("http_req_sending", round(sending, 6)),
                                    ("http_req_waiting", round(dur - sending - receiving, 6)),
                                    ("http_req_receiving", round(receiving, 6)),
                                    ("http_req_failed", 1 if failed else 0)):
                    add(ns, vu, name, value, htags, meta)
                if slow:
                    add(ns + rnd.randrange(100_000, 300_000), vu, "checks", 0 if failed else 1,
                        dict(vt, check="status is 200", group="::api"), meta)
                    add(ns + 350_000, vu, "group_duration", round((t - it_start) * 1000 + 0.3, 6),
                        dict(vt, group="::api"), meta)
            t += 0.0004
            ns = run_ns + int(t * 1e9) + rnd.randrange(1000)
            ctags = dict(vt, group="")
            add(ns, vu, "custom_latency_ms", round(rnd.uniform(1, 50), 6), ctags, meta)
            add(ns, vu, "custom_payload_size", rnd.choice([512, 1234, 2048]), ctags, meta)
            add(ns, vu, "custom_items_total", rnd.randint(1, 5), ctags, meta)
            add(ns, vu, "custom_success_rate", 1 if rnd.random() > 0.01 else 0, ctags, meta)
            add(ns, vu, "custom_queue_depth", rnd.randint(0, 6), ctags, meta)
            t += rnd.uniform(0.095, 0.105)  # sleep(0.1)
            ns = run_ns + int(t * 1e9) + rnd.randrange(1000)
            for name, value in (("data_sent", 162), ("data_received", 466 if rnd.random() > 0.02 else 512),
                                ("iterations", 1), ("iteration_duration", round((t - it_start) * 1000, 6))):
                add(ns, vu, name, value, ctags, meta)
            it += 1

    # vus / vus_max once a second, run-level tags only
    for sec in range(int(total) + 2):
        ns = run_ns + sec * 1_000_000_000 + rnd.randrange(1_000_000)
        add(ns, 0, "vus", round(stage_at(sec)[2]) if sec < total else 0, RUN_TAGS)
        add(ns, 0, "vus_max", max_vus, RUN_TAGS)
    tt = dict(RUN_TAGS, group="::teardown")
    tend = run_ns + int((total + 2) * 1e9) + 123_400_000  # a fraction with trailing zeros
    add(tend, 0, "data_sent", 0, tt)
    add(tend, 0, "data_received", 0, tt)

    # k6's JSON output writes buffered sample containers in ~200 ms flushes:
    # order by flush batch, then by VU (container), then by sample order.
    flush_ns = 200_000_000
    samples.sort(key=lambda x: (x[0] // flush_ns, x[1], x[2]))
    seen = set()
    n = 0
    with open(a.out, "w", encoding="utf-8") as f:
        for ns, vu, _, name, value, tags, meta in samples:
            if name not in seen:
                seen.add(name)
                f.write(metric_line(name) + "\n")
            f.write(point_line(name, ns, value, tags, meta) + "\n")
            n += 1
    print(f"wrote {a.out}: {n} points, {len(seen)} metrics", file=sys.stderr)


if __name__ == "__main__":
    main()
