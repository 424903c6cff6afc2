#!/usr/bin/env python3
"""Scale a real k6 `--out json` file (NDJSON) up to a target size, keeping its shape.

Output = one long, time-consistent k6 run:
  1. every Metric line of the source, once, at the top;
  2. "copy 0": the source's ramp-up and sustained Point lines, unchanged and in
     their original order;
  3. copies 1..K-1 of the sustained Point lines, copy k shifted by k * D seconds,
     where D = span of the sustained points rounded up to whole seconds, so each
     copy starts where the previous one ended;
  4. the source's ramp-down Point lines, shifted by (K-1) * D seconds.

Phases come from a stage tag (default `test_stage`): stages are ordered by their
first timestamp; the first is ramp-up, the last is ramp-down, the ones between are
"sustained" (override with --body-stages). Points without the tag (vus, vus_max,
setup/teardown data_*) go to ramp-up / sustained / ramp-down by their time.
With fewer than 3 stages the whole source is repeated.

Shifts are whole seconds, so only the "YYYY-MM-DDTHH:MM:SS" part of each `time`
changes; the fraction keeps k6's own formatting (nanoseconds, trailing zeros
trimmed, no fraction when zero). Lines are spliced as bytes, never re-serialised,
so tag order, float formatting and metadata stay exactly as k6 wrote them.

Also writes OUT.manifest.json (what was generated, from which source, expected
per-stage http_req_duration counts). --gz also writes OUT.gz, compressed in a
parallel `gzip` process (level 6 by default, like k6's own `.json.gz` output).
--verify re-reads the output and checks it line by line against the source.

Usage: make-large-json.py SRC.json[.gz] OUT.json --size 2G [--gz] [--verify]
"""
import argparse
import calendar
import gzip
import hashlib
import json
import math
import operator
import os
import re
import subprocess
import sys
import time

TIME_KEY = b'"time":"'
# "YYYY-MM-DDTHH:MM:SS" + optional ".fraction" + "Z"
TIME_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z$")
# What Go's RFC3339Nano produces in UTC: no trailing zero in the fraction, no empty fraction.
K6_TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{0,8}[1-9])?Z$")
NS = 1_000_000_000


def die(msg):
    print(f"make-large-json: error: {msg}", file=sys.stderr)
    sys.exit(2)


def parse_size(s):
    m = re.fullmatch(r"(?i)\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", s)
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {s!r} (use e.g. 50M, 2G, 123456)")
    mult = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[m.group(2).upper()]
    return int(float(m.group(1)) * mult)


def parse_time_ns(ts):
    m = TIME_RE.match(ts)
    if not m:
        raise ValueError(f"time {ts!r} is not RFC3339 UTC with a 'Z' suffix")
    y, mo, d, h, mi, s, frac = m.groups()
    sec = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(s), 0, 0, 0))
    return sec * NS + (int(frac.ljust(9, "0")) if frac else 0)


def format_time_ns(ns):
    """Format like Go's time.RFC3339Nano in UTC (k6's JSON output)."""
    sec, frac = divmod(ns, NS)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return f"{base}.{frac:09d}".rstrip("0") + "Z" if frac else base + "Z"


def sec_bytes(sec):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)).encode()


def open_maybe_gz(path):
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb", buffering=1 << 20)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Source:
    """The parsed source file. Point i: raw[i] (bytes incl. '\\n'), tpos[i] (offset of the
    time string), ns[i], stage[i] (tag value or None), dur[i] (http_req_duration value or None)."""

    def __init__(self, path, stage_tag):
        self.metric_lines, self.metric_names = [], []
        self.raw, self.tpos, self.ns, self.stage, self.dur = [], [], [], [], []
        declared = set()
        with open_maybe_gz(path) as f:
            for lineno, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                if not raw.endswith(b"\n"):
                    raw += b"\n"
                try:
                    obj = json.loads(raw)
                except ValueError as e:
                    die(f"{path}:{lineno}: not JSON: {e}")
                typ = obj.get("type")
                if typ == "Metric":
                    self.metric_lines.append(raw)
                    self.metric_names.append(obj.get("metric"))
                    declared.add(obj.get("metric"))
                    continue
                if typ != "Point":
                    die(f"{path}:{lineno}: unknown line type {typ!r}")
                data = obj["data"]
                ts = data["time"]
                i = raw.find(TIME_KEY)
                j = i + len(TIME_KEY)
                if i < 0 or raw[j:j + len(ts) + 1] != ts.encode() + b'"':
                    die(f"{path}:{lineno}: cannot locate the time field by string search")
                if len(ts) < 20 or ts[19] not in ".Z":
                    die(f"{path}:{lineno}: unexpected time format {ts!r}")
                try:
                    ns = parse_time_ns(ts)
                except ValueError as e:
                    die(f"{path}:{lineno}: {e}")
                if obj["metric"] not in declared:
                    print(f"make-large-json: warning: {path}:{lineno}: Point before its Metric line",
                          file=sys.stderr)
                self.raw.append(raw)
                self.tpos.append(j)
                self.ns.append(ns)
                self.stage.append((data.get("tags") or {}).get(stage_tag))
                self.dur.append(data["value"] if obj["metric"] == "http_req_duration" else None)
        if not self.raw:
            die(f"{path}: no Point lines")


def split_phases(src, body_stages_arg):
    """Return (phase list per point: 'U'/'B'/'D', info dict)."""
    first_seen = {}
    for st, ns in zip(src.stage, src.ns):
        if st is not None and (st not in first_seen or ns < first_seen[st]):
            first_seen[st] = ns
    order = sorted(first_seen, key=lambda s: (first_seen[s], s))
    if body_stages_arg is not None:
        body = [s.strip() for s in body_stages_arg.split(",") if s.strip()]
        missing = [s for s in body if s not in first_seen]
        if missing:
            die(f"--body-stages {missing} not found; stages in source: {order}")
        pos = [order.index(s) for s in body]
        before = [s for s in order if order.index(s) < min(pos) and s not in body]
        after = [s for s in order if s not in body and s not in before]
    elif len(order) >= 3:
        before, body, after = order[:1], order[1:-1], order[-1:]
    else:
        before, body, after = [], order, []
    if not before and not after:  # repeat the whole run
        return ["B"] * len(src.raw), {"stages": order, "ramp_up": [], "sustained": order,
                                      "ramp_down": [], "mode": "whole-run"}
    bset, uset, dset = set(body), set(before), set(after)
    bns = [ns for st, ns in zip(src.stage, src.ns) if st in bset]
    bmin, bmax = min(bns), max(bns)
    phase = []
    for st, ns in zip(src.stage, src.ns):
        if st in bset:
            phase.append("B")
        elif st in uset:
            phase.append("U")
        elif st in dset:
            phase.append("D")
        else:  # untagged (or unknown stage): place by time
            phase.append("U" if ns < bmin else "D" if ns > bmax else "B")
    return phase, {"stages": order, "ramp_up": before, "sustained": body, "ramp_down": after,
                   "mode": "ramps+sustained"}


class Template:
    """A block of Point lines with the 'YYYY-MM-DDTHH:MM:SS' of each time cut out, so a
    copy shifted by whole seconds is one join (the fraction and the rest stay as written)."""

    def __init__(self, raws, tposs, nss):
        self.n = len(raws)
        self.nbytes = sum(map(len, raws))
        chunks, secs, prev_tail = [], [], b""
        for raw, p, ns in zip(raws, tposs, nss):
            chunks.append(prev_tail + raw[:p])
            secs.append(ns // NS)
            prev_tail = raw[p + 19:]
        chunks.append(prev_tail)
        self.distinct = sorted(set(secs))
        where = {s: k for k, s in enumerate(self.distinct)}
        idx = [where[s] for s in secs]
        self.parts = [None] * (2 * self.n + 1)
        self.parts[0::2] = chunks
        self._pick = operator.itemgetter(*idx) if idx else None
        self._single = len(idx) == 1

    def render(self, shift_sec):
        if not self.n:
            return b""
        strs = [sec_bytes(s + shift_sec) for s in self.distinct]
        picked = self._pick(strs)
        self.parts[1::2] = [picked] if self._single else picked
        return b"".join(self.parts)


def plan(src, phase, size):
    hdr = sum(map(len, src.metric_lines))
    idx_u0 = [i for i, p in enumerate(phase) if p != "D"]  # copy 0 = ramp-up + sustained, source order
    idx_b = [i for i, p in enumerate(phase) if p == "B"]
    idx_d = [i for i, p in enumerate(phase) if p == "D"]
    if not idx_b:
        die("no sustained points to repeat")
    bns = [src.ns[i] for i in idx_b]
    shift = max(1, math.ceil((max(bns) - min(bns)) / NS))
    b_bytes = sum(len(src.raw[i]) for i in idx_b)
    fixed = hdr + sum(len(src.raw[i]) for i in idx_u0) + sum(len(src.raw[i]) for i in idx_d)
    copies = 1 + max(0, math.ceil((size - fixed) / b_bytes))
    return idx_u0, idx_b, idx_d, shift, copies, fixed + (copies - 1) * b_bytes


def per_stage_counts(src, idx, mult=1):
    out = {}
    for i in idx:
        if src.dur[i] is not None:
            k = src.stage[i] if src.stage[i] is not None else "(none)"
            out[k] = out.get(k, 0) + mult
    return out


def generate(a):
    t0 = time.perf_counter()
    src = Source(a.src, a.stage_tag)
    phase, info = split_phases(src, a.body_stages)
    idx_u0, idx_b, idx_d, shift, copies, expected = plan(src, phase, a.size)
    if a.parallel > 1:
        slots = math.ceil((copies - 1) / a.parallel)
        b_bytes = sum(len(src.raw[i]) for i in idx_b)
        expected += (slots * a.parallel - (copies - 1)) * b_bytes
        copies = 1 + slots * a.parallel
        last_shift = slots * shift
        if a.verify:
            die("--verify checks the one-copy-per-slot layout only; drop --parallel to verify")
    else:
        last_shift = (copies - 1) * shift
    t_load = time.perf_counter() - t0
    log = lambda m: print(f"make-large-json: {m}", file=sys.stderr)
    log(f"source {a.src}: {len(src.metric_lines)} Metric + {len(src.raw)} Point lines, "
        f"parsed in {t_load:.2f}s; {a.stage_tag} values {info['stages']} -> "
        + (f"ramp-up {info['ramp_up']}, sustained {info['sustained']}, ramp-down {info['ramp_down']}"
           if info["mode"] != "whole-run" else "fewer than 3 stages: the whole run is repeated"))
    log(f"{len(idx_u0) - len(idx_b)} ramp-up, {len(idx_b)} sustained, {len(idx_d)} ramp-down points; "
        f"{copies} sustained copies shifted by {shift}s each; expected {expected} bytes")

    body = Template([src.raw[i] for i in idx_b], [src.tpos[i] for i in idx_b], [src.ns[i] for i in idx_b])
    down = Template([src.raw[i] for i in idx_d], [src.tpos[i] for i in idx_d], [src.ns[i] for i in idx_d])

    out_tmp = a.out + ".tmp"
    gz_out = a.out + ".gz"
    gz_tmp = gz_out + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    gzp = None
    if a.gz:
        gzf = open(gz_tmp, "wb")
        gzp = subprocess.Popen(["gzip", f"-{a.gz_level}", "-c"], stdin=subprocess.PIPE, stdout=gzf)
        gzf.close()
    written = 0
    t1 = time.perf_counter()
    with open(out_tmp, "wb", buffering=0) as f:
        def emit(buf):
            nonlocal written
            f.write(buf)
            if gzp:
                gzp.stdin.write(buf)
            written += len(buf)

        emit(b"".join(src.metric_lines) + b"".join(src.raw[i] for i in idx_u0))
        if a.parallel == 1:
            for k in range(1, copies):
                emit(body.render(k * shift))
        else:
            # Several copies share each time slot, as if the run had `parallel` times the
            # VUs: lines are emitted second by second, so the file stays time-ordered like k6's.
            by_sec = {}
            for i in idx_b:
                by_sec.setdefault(src.ns[i] // NS, []).append(i)
            secs = [Template([src.raw[i] for i in v], [src.tpos[i] for i in v], [src.ns[i] for i in v])
                    for _, v in sorted(by_sec.items())]
            for slot in range(1, slots + 1):
                for t in secs:
                    emit(t.render(slot * shift) * a.parallel)
        emit(down.render(last_shift))
    t_gen = time.perf_counter() - t1
    if gzp:
        gzp.stdin.close()
        if gzp.wait() != 0:
            die(f"gzip exited with {gzp.returncode}")
    t_total = time.perf_counter() - t0
    if written != expected:
        die(f"wrote {written} bytes, expected {expected}")
    os.replace(out_tmp, a.out)
    if gzp:
        os.replace(gz_tmp, gz_out)

    counts = per_stage_counts(src, [i for i in idx_u0 if phase[i] == "U"])
    for k, v in per_stage_counts(src, idx_b, copies).items():
        counts[k] = counts.get(k, 0) + v
    for k, v in per_stage_counts(src, idx_d).items():
        counts[k] = counts.get(k, 0) + v
    manifest = {
        "generator": "bench/make-large-json.py",
        "source": os.path.abspath(a.src),
        "source_bytes": os.path.getsize(a.src),
        "source_sha256": sha256_file(a.src),
        "stage_tag": a.stage_tag,
        **info,
        "requested_bytes": a.size,
        "bytes": written,
        "gz_bytes": os.path.getsize(gz_out) if gzp else None,
        "gz_level": a.gz_level if gzp else None,
        "metric_lines": len(src.metric_lines),
        "copy0_lines": len(idx_u0),
        "sustained_lines_per_copy": len(idx_b),
        "sustained_copies": copies,
        "shift_seconds_per_copy": shift,
        "ramp_down_lines": len(idx_d),
        "ramp_down_shift_seconds": last_shift,
        "point_lines": len(idx_u0) + (copies - 1) * len(idx_b) + len(idx_d),
        "first_time": format_time_ns(min(src.ns)),
        "last_time": format_time_ns(max(src.ns) + last_shift * NS),
        "http_req_duration_count_per_stage": dict(sorted(counts.items())),
        "seconds_parse": round(t_load, 3),
        "seconds_write": round(t_gen, 3),
        "seconds_total": round(t_total, 3),
    }
    with open(a.out + ".manifest.json", "w") as mf:
        json.dump(manifest, mf, indent=2)
        mf.write("\n")
    mb = written / 1e6
    log(f"wrote {a.out}: {written} bytes ({mb:.1f} MB), {manifest['point_lines']} points, "
        f"{manifest['first_time']} .. {manifest['last_time']}")
    log(f"time: parse {t_load:.2f}s + write {t_gen:.2f}s = {t_total:.2f}s total; "
        f"write {mb / t_gen:.0f} MB/s, overall {mb / t_total:.0f} MB/s"
        + (f"; gz {manifest['gz_bytes']} bytes (level {a.gz_level})" if gzp else ""))
    return src, phase, manifest


class VerifyAbort(Exception):
    pass


def verify(a, src, phase, man):
    """Re-read OUT line by line: every line is JSON, Metric lines come first, every point's
    metric is declared, every time has k6's format, and each shifted copy equals the source
    lines with exactly the expected time shift; sustained copies do not overlap in time."""
    t0 = time.perf_counter()
    idx_u0 = [i for i, p in enumerate(phase) if p != "D"]
    idx_b = [i for i, p in enumerate(phase) if p == "B"]
    idx_d = [i for i, p in enumerate(phase) if p == "D"]
    copies, shift = man["sustained_copies"], man["shift_seconds_per_copy"]
    every = max(1, a.verify_every)
    segments = [(0, idx_u0, 0)]
    segments += [(k, idx_b, k * shift) for k in range(1, copies)]
    segments.append((None, idx_d, (copies - 1) * shift))  # ramp-down
    declared, errors = set(), []
    checked = lineno = 0
    ranges = []  # (copy, min_ns, max_ns) of the sustained points of each fully checked copy
    inversions = None

    def err(msg, fatal=False):
        errors.append(msg)
        if fatal or len(errors) >= 20:
            raise VerifyAbort

    f = open(a.out, "rb", buffering=1 << 20)
    try:
        for raw in src.metric_lines:
            line = f.readline()
            lineno += 1
            obj = json.loads(line) if line else err(f"output ended early at line {lineno}", True)
            if line != raw or obj["type"] != "Metric":
                err(f"line {lineno}: expected the source's Metric line")
            declared.add(obj["metric"])
        for copy, idx, sh in segments:
            full = copy in (None, 0, 1, copies - 1) or copy % every == 0
            lo = hi = prev = None
            inv = 0
            for i in idx:
                line = f.readline()
                lineno += 1
                if not line:
                    err(f"output ended early at line {lineno}", True)
                if not full:
                    continue
                obj = json.loads(line)
                checked += 1
                ts = obj["data"]["time"]
                ns = parse_time_ns(ts)
                if obj["type"] != "Point" or obj["metric"] not in declared:
                    err(f"line {lineno}: not a Point of a declared metric")
                if not K6_TIME_RE.match(ts) or format_time_ns(ns) != ts:
                    err(f"line {lineno}: time {ts!r} not formatted as k6 does")
                if ns != src.ns[i] + sh * NS:
                    err(f"line {lineno}: time {ts} is not source time + {sh}s")
                p, s = src.tpos[i], src.raw[i]
                if line[:p] != s[:p] or line[p + 19:] != s[p + 19:]:
                    err(f"line {lineno}: differs from the source line beyond the time field")
                if phase[i] == "B":
                    lo = ns if lo is None else min(lo, ns)
                    hi = ns if hi is None else max(hi, ns)
                    inv += prev is not None and ns < prev
                    prev = ns
            if full and copy is not None:
                ranges.append((copy, lo, hi))
                if inversions is None:
                    inversions = inv
                elif inv != inversions:
                    err(f"copy {copy}: {inv} file-order time inversions, copy 0 had {inversions}")
        if f.readline():
            err(f"line {lineno + 1}: unexpected extra line")
    except VerifyAbort:
        pass
    finally:
        f.close()
    overlaps = [(a_[0], b_[0]) for a_, b_ in zip(ranges, ranges[1:]) if b_[1] < a_[2]]
    if overlaps:
        errors.append(f"sustained copies overlap in time: {overlaps[:5]}")
    dt = time.perf_counter() - t0
    span = [(c, format_time_ns(lo), format_time_ns(hi)) for c, lo, hi in ranges[:3]]
    print(f"make-large-json: verify: {lineno} lines read, {checked} points fully checked in {dt:.1f}s; "
          f"{len(ranges)} sustained copies checked, time ranges non-overlapping: {not overlaps} "
          f"(first: {span}); file-order time inversions per sustained copy: {inversions} "
          f"(same in every copy: k6 writes in flush batches, so the source has them too)", file=sys.stderr)
    if errors:
        for e in errors[:20]:
            print(f"make-large-json: verify FAILED: {e}", file=sys.stderr)
        sys.exit(1)
    print("make-large-json: verify OK", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", help="real k6 JSON output (NDJSON, may be .gz)")
    ap.add_argument("out", help="output file (written as OUT.tmp, then renamed)")
    ap.add_argument("--size", type=parse_size, default=parse_size("2G"),
                    help="target size, e.g. 50M or 2G (binary units); output is >= this (default 2G)")
    ap.add_argument("--gz", action="store_true", help="also write OUT.gz (parallel gzip process)")
    ap.add_argument("--gz-level", type=int, default=6, choices=range(1, 10),
                    help="gzip level (default 6 = Go's DefaultCompression, as k6 writes .json.gz)")
    ap.add_argument("--stage-tag", default="test_stage", help="tag that names the stage (default test_stage)")
    ap.add_argument("--body-stages", help="comma list of stage values to repeat (default: all but first and last)")
    ap.add_argument("--parallel", type=int, default=1,
                    help="sustained copies per time slot (multiplies the request rate; default 1)")
    ap.add_argument("--verify", action="store_true", help="re-read and check the output afterwards")
    ap.add_argument("--verify-every", type=int, default=1,
                    help="with --verify, fully check only every Nth copy (first/last always)")
    a = ap.parse_args()
    if os.path.abspath(a.src) == os.path.abspath(a.out):
        die("SRC and OUT are the same file")
    src, phase, man = generate(a)
    if a.verify:
        verify(a, src, phase, man)


if __name__ == "__main__":
    main()
