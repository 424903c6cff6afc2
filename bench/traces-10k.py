"""Synthetic input for timing `k6gate traces` (README, "Where the time goes", cost):
N requests (default 10 000) as k6 JSON output and their traces as one OTLP/JSON file.
Each request: 2 ms network each way, a gateway (1 ms each way), the API (8-12 ms) and a DB
query (3-6 ms; 40-60 ms for one request in ten); one request in five has no DB span.
Usage: python3 bench/traces-10k.py [N] [OUT_DIR]  (writes OUT_DIR/k6.json, OUT_DIR/traces.json)
The samples' metadata has the span id k6 put in `traceparent` (`span_id`, the gateway's parent),
so `--export-client-spans` writes a root for each request (bench/otlp-sink.py receives them).
"""
import datetime, json, os, random, sys
random.seed(1)
N = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
T0 = 1764288000 * 10**9
OUT = sys.argv[2] if len(sys.argv) > 2 else "."
os.makedirs(OUT, exist_ok=True)
def t(ns):
    s, r = divmod(ns, 10**9)
    return datetime.datetime.fromtimestamp(s, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % r
k6 = open(os.path.join(OUT, "k6.json"), "w")
res = []
for i in range(N):
    tid = "%032x" % (0x4bf92f3577b34da6a3ce929d0e0e4736 + i)
    start = T0 + i * 10**7
    db = random.uniform(3, 6) if i % 10 != 3 else random.uniform(40, 60)
    api = random.uniform(8, 12)
    gw = 1.0
    net = 2.0
    total = 2 * net + 2 * gw + api + db
    ms = lambda x: int(round(x * 1e6))
    end = start + ms(total)
    tags = {"group": "::shop", "name": "GET /items", "method": "GET", "status": "200", "test_stage": "steady", "expected_response": "true"}
    for metric in ["http_reqs", "http_req_duration", "http_req_blocked", "http_req_waiting"]:
        k6.write(json.dumps({"metric": metric, "type": "Point", "data": {"time": t(end), "value": total if metric != "http_reqs" else 1, "tags": tags, "metadata": {"trace_id": tid, "span_id": "b7ad6b7169203331"}}}) + "\n")
    s_gw = start + ms(net); e_gw = end - ms(net)
    s_api = s_gw + ms(gw); e_api = e_gw - ms(gw)
    s_db = s_api + ms(api / 2); e_db = s_db + ms(db)
    def span(sid, parent, s, e, name):
        return {"traceId": tid, "spanId": "%016x" % sid, "parentSpanId": ("%016x" % parent) if parent else "b7ad6b7169203331", "name": name, "kind": "SPAN_KIND_SERVER", "startTimeUnixNano": str(s), "endTimeUnixNano": str(e), "attributes": [{"key": "http.route", "value": {"stringValue": "/items"}}]}
    base = i * 16 + 1
    spans = {"gateway": [span(base, None, s_gw, e_gw, "proxy")], "api": [span(base + 1, base, s_api, e_api, "GET /items")]}
    if i % 5:
        spans["db"] = [span(base + 2, base + 1, s_db, e_db, "SELECT items")]
    for svc, sp in spans.items():
        res.append({"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]}, "scopeSpans": [{"scope": {"name": "x"}, "spans": sp}]})
json.dump({"resourceSpans": res}, open(os.path.join(OUT, "traces.json"), "w"))
