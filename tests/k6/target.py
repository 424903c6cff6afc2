#!/usr/bin/env python3
"""Tiny HTTP/1.1 keep-alive load-test target for k6gate fixtures (stdlib only).

Endpoints (base sleeps, multiplied by --latency-scale):
  GET  /api/products  ~2 ms
  POST /api/cart      ~3 ms
  POST /api/checkout  ~5 ms
  POST /api/login     ~1 ms
  GET  /health        no sleep, never errors

--error-rate F          fraction of /api/* requests answered 500 (seeded RNG)
--warmup-spike-secs N   during the first N s after the first /api request ...
--warmup-spike-ms M     ... every /api request sleeps an extra M ms
--port 0                pick a free port; prints "PORT=<n>" as the first stdout line
"""
import argparse
import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROUTES = {
    ("GET", "/api/products"): 0.002,
    ("POST", "/api/cart"): 0.003,
    ("POST", "/api/checkout"): 0.005,
    ("POST", "/api/login"): 0.001,
}


class State:
    def __init__(self, args):
        self.scale = args.latency_scale
        self.error_rate = args.error_rate
        self.spike_secs = args.warmup_spike_secs
        self.spike_s = args.warmup_spike_ms / 1000.0
        self.rng = random.Random(args.seed)
        self.lock = threading.Lock()
        self.first_api = None  # monotonic time of the first /api request

    def decide(self):
        """Return (extra_sleep_seconds, is_error) for one /api request."""
        now = time.monotonic()
        with self.lock:
            if self.first_api is None:
                self.first_api = now
            err = self.error_rate > 0 and self.rng.random() < self.error_rate
            in_spike = self.spike_secs > 0 and (now - self.first_api) < self.spike_secs
        return (self.spike_s if in_spike else 0.0), err


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "k6gate-target/1"
    # Headers and body go out in separate send() calls; without TCP_NODELAY,
    # Nagle + the client's delayed ACK add ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):  # quiet
        pass

    def _send(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, method):
        # Always drain the request body so the keep-alive stream stays in sync.
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        path = self.path.split("?", 1)[0]
        if path == "/health" and method == "GET":
            return self._send(200, {"status": "ok"})
        base = ROUTES.get((method, path))
        if base is None:
            return self._send(404, {"error": "not found", "path": path})
        st = self.server.state
        extra, err = st.decide()
        time.sleep(base * st.scale + extra)
        if err:
            return self._send(500, {"error": "injected failure"})
        if path == "/api/products":
            return self._send(200, {"products": [{"id": i, "price": 10 + i} for i in range(5)]})
        if path == "/api/cart":
            return self._send(200, {"ok": True, "cart_size": st.rng.randint(1, 5)})
        if path == "/api/checkout":
            return self._send(200, {"order": "ok"})
        return self._send(200, {"token": "t0k3n"})

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--latency-scale", type=float, default=1.0)
    p.add_argument("--error-rate", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--warmup-spike-secs", type=float, default=0.0)
    p.add_argument("--warmup-spike-ms", type=float, default=0.0)
    args = p.parse_args()

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.state = State(args)
    if args.port == 0:
        print(f"PORT={srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
