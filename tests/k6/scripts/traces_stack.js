// Drives the three-tier demo stack (tests/traces_stack.rs): products, search and checkout in
// turn at a constant arrival rate. Like k6gate's template runtime (src/render/runtime.js),
// each request gets a fresh W3C `traceparent` and its trace id goes into the samples'
// metadata (`trace_id`), with the span id put in the header (`span_id`) and the correlation id
// that travels with it (`X-Correlation-Id`, `correlation_id`).
import http from 'k6/http';
import exec from 'k6/execution';
import { check } from 'k6';

const BASE = __ENV.BASE_URL;

export const options = {
    scenarios: {
        shop: {
            executor: 'constant-arrival-rate',
            rate: Number(__ENV.RATE || 40),
            timeUnit: '1s',
            duration: __ENV.DURATION || '4s',
            preAllocatedVUs: 8,
            maxVUs: 16,
        },
    },
};

function hex(n) {
    let s = '';
    for (let i = 0; i < n; i++) s += Math.floor(Math.random() * 16).toString(16);
    return s;
}

export default function () {
    const i = exec.scenario.iterationInTest;
    const traceId = hex(32);
    const spanId = hex(16);
    const cid = `k6-${exec.vu.idInTest}-${exec.vu.iterationInScenario}`;
    const headers = { traceparent: `00-${traceId}-${spanId}-01`, 'X-Correlation-Id': cid };
    const md = exec.vu.metrics.metadata;
    md.trace_id = traceId;
    md.span_id = spanId;
    md.correlation_id = cid;
    let r;
    try {
        switch (i % 3) {
            case 0:
                r = http.get(`${BASE}/products`, { headers, tags: { name: 'products' } });
                break;
            case 1:
                r = http.get(`${BASE}/search?q=product%20${i % 50}`, { headers, tags: { name: 'search' } });
                break;
            default:
                r = http.post(`${BASE}/checkout`, JSON.stringify({ product_id: 1 + (i % 100) }), {
                    headers: Object.assign({ 'Content-Type': 'application/json' }, headers),
                    tags: { name: 'checkout' },
                });
        }
    } finally {
        delete md.trace_id;
        delete md.span_id;
        delete md.correlation_id;
    }
    check(r, { 'status 200': (res) => res.status === 200 });
}
