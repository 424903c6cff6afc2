"""An OTLP/HTTP traces receiver that only counts: `POST /v1/traces` with a JSON body is read,
its spans counted, and answered `{}` (OTLP/HTTP's empty ExportTraceServiceResponse). For timing
`k6gate traces --export-client-spans` (README, "Where the time goes", cost) without a Tempo.
Usage: python3 bench/otlp-sink.py PORT   (prints the span count received on SIGINT/SIGTERM)
"""
import http.server, json, signal, sys

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 4318
SPANS = [0]


class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path != "/v1/traces" or not self.headers.get("content-type", "").startswith("application/json"):
            self.send_response(415 if self.path == "/v1/traces" else 404)
            self.end_headers()
            return
        doc = json.loads(body)
        SPANS[0] += sum(len(ss.get("spans", [])) for rs in doc.get("resourceSpans", []) for ss in rs.get("scopeSpans", []))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *a):
        pass


def stop(*_):
    print(f"spans received: {SPANS[0]}", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Sink).serve_forever()
