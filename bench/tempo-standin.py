"""A Tempo stand-in for timing `k6gate traces --tempo` (README, "Where the time goes", cost):
serves GET /api/v2/traces/<id> as {"trace": {"resourceSpans": [...]}, "status": "COMPLETE"}
from an OTLP/JSON file made by bench/traces-10k.py; 404 for anything else. Not a fake for
tests (tests/support/fake_tempo.rs is), only a server fast enough to measure against.
Usage: python3 bench/tempo-standin.py TRACES.json PORT
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

doc = json.load(open(sys.argv[1]))
by_trace = {}
for rs in doc["resourceSpans"]:
    by_trace.setdefault(rs["scopeSpans"][0]["spans"][0]["traceId"], []).append(rs)
bodies = {t: json.dumps({"trace": {"resourceSpans": r}, "status": "COMPLETE"}).encode() for t, r in by_trace.items()}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = bodies.get(self.path.rsplit("/", 1)[-1]) if self.path.startswith("/api/v2/traces/") else None
        status = 200 if body is not None else 404
        body = body if body is not None else b"trace not found"
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if status == 200 else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler).serve_forever()
