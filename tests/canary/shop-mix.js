// The production traffic of the canary tests (tests/canary.rs): an open model at RATE
// iterations/s through the load balancer, each a catalog page, an item into the cart and a
// checkout (three requests). Every VU logs in once; the stable and the canary shop share one
// database, so a token works on both, as it would in production.
import http from 'k6/http';
import exec from 'k6/execution';

const BASE = __ENV.BASE_URL;
const JSON_HEADERS = { headers: { 'Content-Type': 'application/json' } };

export const options = {
    scenarios: {
        shop: {
            executor: 'constant-arrival-rate',
            rate: parseInt(__ENV.RATE || '60', 10),
            timeUnit: '1s',
            duration: __ENV.DURATION || '60s',
            preAllocatedVUs: 20,
            maxVUs: 80,
        },
    },
    summaryTrendStats: ['med', 'p(95)'],
};

let token = null;

export default function () {
    if (token === null) {
        const user = `u${(exec.vu.idInTest % 1000) + 1}`;
        const r = http.post(`${BASE}/api/login`, JSON.stringify({ user, password: 'secret' }), JSON_HEADERS);
        if (r.status !== 200) {
            return;
        }
        token = r.json('token');
    }
    http.get(`${BASE}/api/products?limit=20`);
    const product = 1 + Math.floor(Math.random() * 200);
    http.post(`${BASE}/api/cart`, JSON.stringify({ token, product_id: product, qty: 1 }), JSON_HEADERS);
    http.post(`${BASE}/api/checkout`, JSON.stringify({ token }), JSON_HEADERS);
}
