#!/usr/bin/env python3
"""Exact per-stage quantiles of one k6 metric from a k6 `--out json` file (NDJSON).

Streams the file line by line (plain or .gz) with only the standard `json` module and
keeps just the metric's values, grouped by the stage tag; memory is bounded by those
values (8 bytes + list overhead each), not by the file size. Each group is sorted once.

Quantiles, for sorted values x[0..n-1]:
  nearest-rank  p = x[ceil(q*n) - 1]                              -> "p50", "p95", "p99"
  linear        h = (n-1)*q; p = x[floor h] + (h - floor h)*(x[floor h + 1] - x[floor h])
                (numpy's default; also what k6's own end-of-test summary computes)
                                                                  -> "linear": {"p50", ...}

stdout: {"<stage>": {"count", "p50", "p95", "p99", "min", "max", "linear": {...}}, ...}
        points without the tag are grouped under "(none)"; "_all" covers every point.
stderr: elapsed seconds and lines read.

Usage: exact_stage_p95.py FILE.json[.gz] [--metric http_req_duration] [--tag test_stage]
"""
import argparse
import gzip
import json
import math
import sys
import time


def nearest_rank(xs, q):
    return xs[max(0, math.ceil(q * len(xs)) - 1)]


def linear(xs, q):
    h = (len(xs) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def summarize(xs):
    xs.sort()
    qs = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
    out = {"count": len(xs)}
    out.update({k: nearest_rank(xs, q) for k, q in qs.items()})
    out["min"], out["max"] = xs[0], xs[-1]
    out["linear"] = {k: linear(xs, q) for k, q in qs.items()}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--metric", default="http_req_duration")
    ap.add_argument("--tag", default="test_stage", help="group by this tag (default test_stage)")
    a = ap.parse_args()

    t0 = time.perf_counter()
    # Cheap prefilter: a Point of the metric must contain its name in quotes; every candidate
    # is still fully parsed with json.loads and checked, so the prefilter cannot change results.
    needle = json.dumps(a.metric).encode()
    groups = {}
    lines = 0
    opener = gzip.open if a.file.endswith(".gz") else open
    with opener(a.file, "rb") as f:
        for line in f:
            lines += 1
            if needle not in line:
                continue
            obj = json.loads(line)
            if obj.get("type") != "Point" or obj.get("metric") != a.metric:
                continue
            data = obj["data"]
            stage = (data.get("tags") or {}).get(a.tag, "(none)")
            vals = groups.get(stage)
            if vals is None:
                vals = groups[stage] = []
            vals.append(data["value"])
    t_read = time.perf_counter() - t0

    everything = [v for vals in groups.values() for v in vals]
    result = {stage: summarize(groups[stage]) for stage in sorted(groups)}
    if everything:
        result["_all"] = summarize(everything)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    dt = time.perf_counter() - t0
    print(f"exact_stage_p95: {lines} lines, {len(everything)} {a.metric} points, "
          f"read {t_read:.2f}s, total {dt:.2f}s", file=sys.stderr)
    print(f"{dt:.3f}", file=sys.stderr)
    if not everything:
        print(f"exact_stage_p95: error: no {a.metric} points in {a.file}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
