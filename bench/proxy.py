#!/usr/bin/env python3
"""`k6gate stack proxy` in front of a real Prometheus: hit rate for a Grafana-like dashboard
refresh pattern, and latency P50/P99 direct to Prometheus and through the proxy (breaker
closed: hit and miss; breaker open: stale). Python 3 stdlib only; needs `prometheus` on PATH.

    bench/proxy.py                         # the debug build in $CARGO_TARGET_DIR (or target/)
    K6GATE_BIN=path/to/k6gate bench/proxy.py --duration 30 --viewers 3 --refresh 5 -n 300

The dashboard: `--viewers` browsers on one dashboard, each refreshing every `--refresh`
seconds (their refreshes spread evenly over the interval), each refresh sending what a
Grafana Prometheus panel sends: 8 range panels (last 1 h, step 15 s, POST form, start/end at
the refresh's wall clock, unaligned) and 2 instant panels (POST, `time` = now). Measured three times:
the normal TTL (5 s), the aggressive one (`--during-test`, 30 s), and the aggressive one
with `--instant-align 5s`. Hit rate = (hits +
coalesced) / cached requests, from the proxy's own /metrics.

Latency: `-n` sequential requests on one kept-alive connection per case. Prometheus holds
only its own metrics scraped every second (about a thousand series), so "direct" is a small,
fast Prometheus: the proxy's overhead shows, its savings on a loaded Prometheus do not.
"""

import argparse
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RANGE_PANELS = [
    "sum by (handler) (rate(prometheus_http_requests_total[15s]))",
    "histogram_quantile(0.99, sum by (le, handler) (rate(prometheus_http_request_duration_seconds_bucket[15s])))",
    "rate(prometheus_tsdb_head_samples_appended_total[15s])",
    "prometheus_tsdb_head_series",
    "sum(rate(process_cpu_seconds_total[15s]))",
    "go_memstats_heap_inuse_bytes",
    "sum by (le) (rate(prometheus_engine_query_duration_seconds_bucket[15s]))",
    "up",
]
INSTANT_PANELS = ["count(up)", "sum(prometheus_tsdb_head_chunks)"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary():
    if os.environ.get("K6GATE_BIN"):
        return os.environ["K6GATE_BIN"]
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "debug", "k6gate")


class Conn:
    """One kept-alive HTTP connection."""

    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def post(self, path, params):
        body = urllib.parse.urlencode(params)
        self.c.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})
        r = self.c.getresponse()
        data = r.read()
        return r.status, r.getheader("X-K6gate-Cache"), data

    def get(self, path):
        self.c.request("GET", path)
        r = self.c.getresponse()
        return r.status, r.read().decode()


def wait_for(what, ok, limit=30):
    start = time.time()
    while time.time() - start < limit:
        try:
            if ok():
                return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"bench/proxy.py: {what} within {limit} s")


def start_prometheus(dir_, port, proxy_ports):
    targets = ", ".join(f"'127.0.0.1:{p}'" for p in proxy_ports)
    with open(os.path.join(dir_, "prometheus.yml"), "w") as f:
        f.write(
            "global: {scrape_interval: 1s}\nscrape_configs:\n"
            f"  - job_name: prometheus\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
            f"  - job_name: proxy\n    static_configs: [{{targets: [{targets}]}}]\n"
        )
    log = open(os.path.join(dir_, "prometheus.log"), "a")
    p = subprocess.Popen(
        ["prometheus", f"--config.file={dir_}/prometheus.yml", f"--storage.tsdb.path={dir_}/tsdb",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=log)
    wait_for("Prometheus ready", lambda: Conn(port).get("/-/ready")[0] == 200)
    return p


def start_proxy(upstream_port, port, *flags):
    p = subprocess.Popen(
        [binary(), "stack", "proxy", "--upstream", f"http://127.0.0.1:{upstream_port}",
         "--listen", f"127.0.0.1:{port}", "--sla", "2s", "--upstream-timeout", "2s", *flags],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for("the proxy's /metrics", lambda: Conn(port).get("/metrics")[0] == 200)
    return p


def metrics(port):
    out = {}
    for line in Conn(port).get("/metrics")[1].splitlines():
        if line.startswith("k6gate_proxy_requests_total{served="):
            name = line.split('"')[1]
            out[name] = float(line.rsplit(" ", 1)[1])
        if line.startswith("k6gate_proxy_upstream_requests_total{"):
            out["upstream"] = out.get("upstream", 0) + float(line.rsplit(" ", 1)[1])
    return out


def dashboard(port, viewers, refresh, duration):
    """The refresh pattern above; the proxy's counters over it."""
    before = metrics(port)
    errors = []
    stop_at = time.time() + duration

    def viewer(i):
        c = Conn(port)
        time.sleep(refresh * i / viewers)
        while time.time() < stop_at:
            t0 = time.time()
            for q in RANGE_PANELS:
                s, _, _ = c.post("/api/v1/query_range", {"query": q, "start": f"{t0 - 3600:.3f}", "end": f"{t0:.3f}", "step": "15"})
                if s != 200:
                    errors.append(s)
            for q in INSTANT_PANELS:
                s, _, _ = c.post("/api/v1/query", {"query": q, "time": f"{t0:.3f}"})
                if s != 200:
                    errors.append(s)
            time.sleep(max(0.0, refresh - (time.time() - t0)))

    threads = [threading.Thread(target=viewer, args=(i,)) for i in range(viewers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = metrics(port)
    d = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    cached = d.get("hit", 0) + d.get("coalesced", 0) + d.get("miss", 0)
    return {
        "requests": int(cached),
        "hits": int(d.get("hit", 0)),
        "coalesced": int(d.get("coalesced", 0)),
        "misses": int(d.get("miss", 0)),
        "upstream": int(d.get("upstream", 0)),
        "hit_rate": (d.get("hit", 0) + d.get("coalesced", 0)) / cached if cached else float("nan"),
        "errors": len(errors),
    }


def percentile(xs, q):
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, int(-(-q * len(xs) // 1)) - 1))
    return xs[k]


def timed(port, n, params_of, expect):
    c = Conn(port)
    lat = []
    for i in range(n):
        path, params = params_of(i)
        t = time.perf_counter()
        status, cache, _ = c.post(path, params)
        lat.append((time.perf_counter() - t) * 1000)
        if status != 200 or (expect and cache != expect):
            sys.exit(f"bench/proxy.py: expected 200 {expect}, got {status} {cache} for {params}")
    return percentile(lat, 0.5), percentile(lat, 0.99)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--viewers", type=int, default=3)
    ap.add_argument("--refresh", type=float, default=5)
    ap.add_argument("-n", type=int, default=300)
    a = ap.parse_args()
    if not shutil.which("prometheus"):
        sys.exit("bench/proxy.py: needs prometheus on PATH")
    if not os.access(binary(), os.X_OK):
        sys.exit(f"bench/proxy.py: no k6gate binary at {binary()} (cargo build, or set K6GATE_BIN)")
    tmp = tempfile.mkdtemp(prefix="k6gate-proxy-bench-")
    procs = []
    try:
        prom_port, normal_port, test_port, align_port, lat_port = (free_port() for _ in range(5))
        prom = start_prometheus(tmp, prom_port, [normal_port, test_port, align_port, lat_port])
        procs.append(prom)
        procs.append(start_proxy(prom_port, normal_port, "--ttl", "5s"))
        procs.append(start_proxy(prom_port, test_port, "--during-test", "--test-ttl", "30s"))
        procs.append(start_proxy(prom_port, align_port, "--during-test", "--test-ttl", "30s", "--instant-align", "5s"))
        procs.append(start_proxy(prom_port, lat_port, "--ttl", "5s", "--failures-to-open", "2", "--cool-down", "600s"))
        print(f"# k6gate stack proxy bench ({binary()}), Prometheus {prom_port}; 15 s of scrapes first", flush=True)
        time.sleep(15)

        rows = []
        results = {}
        for name, port in (("normal TTL 5 s", normal_port), ("during a test, TTL 30 s", test_port),
                           ("during a test, TTL 30 s, --instant-align 5s", align_port)):
            results[name] = r = dashboard(port, a.viewers, a.refresh, a.duration)
            rows.append(f"| {name} | {r['requests']} | {r['hits']} | {r['coalesced']} | {r['misses']} | {r['upstream']} | {r['hit_rate']:.1%} | {r['errors']} |")
        print(f"\n## Hit rate: {a.viewers} viewers, refresh {a.refresh:g} s, {len(RANGE_PANELS)} range + {len(INSTANT_PANELS)} instant panels, {a.duration:g} s\n")
        print("| TTL | cached requests | hits | coalesced | misses | upstream calls | hit rate | errors |")
        print("|---|---|---|---|---|---|---|---|")
        print("\n".join(rows))

        heavy = RANGE_PANELS[1]
        now = time.time()
        rng = {"query": heavy, "start": f"{now - 3600:.0f}", "end": f"{now:.0f}", "step": "15"}
        lat = []
        lat.append(("direct to Prometheus", timed(prom_port, a.n, lambda i: ("/api/v1/query_range", rng), None)))
        lat.append(("proxy, closed, miss", timed(lat_port, a.n, lambda i: ("/api/v1/query_range", {**rng, "query": f"{heavy} + 0 * {i}"}), "miss")))
        Conn(lat_port).post("/api/v1/query_range", {**rng, "query": f"{heavy} + 1"})
        lat.append(("proxy, closed, hit", timed(lat_port, a.n, lambda i: ("/api/v1/query_range", {**rng, "query": f"{heavy} + 1"}), "hit")))
        # The breaker open: Prometheus killed, two failed calls, then the TTL runs out.
        prom.send_signal(signal.SIGKILL)
        prom.wait()
        c = Conn(lat_port)
        for i in range(2):
            c.post("/api/v1/query", {"query": f"vector({i})"})
        time.sleep(5.5)  # past the 5 s TTL
        lat.append(("proxy, open, stale", timed(lat_port, a.n, lambda i: ("/api/v1/query_range", {**rng, "query": f"{heavy} + 0 * {i % 50}"}), "stale")))
        print(f"\n## Latency, {a.n} sequential requests each (ms; range query over 1 h, step 15 s)\n")
        print("| case | P50 | P99 |")
        print("|---|---|---|")
        for name, (p50, p99) in lat:
            print(f"| {name} | {p50:.2f} | {p99:.2f} |")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
