// The A/A workload of scripts/aa-runs.sh: an open model against the demo shop (`k6gate
// target`), ramping-arrival-rate 0 -> RATE iterations/s in 5 s, RATE for 25 s, -> 0 in 2 s.
// Each iteration is one request, its endpoint drawn at random: products 60 %, cart 30 %,
// checkout 10 % (as tests/support/synthetic.rs mixes them). Users log in once, in setup();
// a checkout on an empty cart first adds an item (tagged `cart`), so no checkout answers
// 409. Every iteration is tagged test_stage by the offline stage tracker.
//
// Environment: BASE_URL (required), RATE (default 120), TEST_NAME (default aa),
// DEPLOYMENT_VERSION (default v1.0.0).
import http from 'k6/http';
import { check } from 'k6';
import { tagStage } from '../tests/k6/scripts/lib/stages.js';

const BASE_URL = (__ENV.BASE_URL || '').replace(/\/+$/, '');
const RATE = Number(__ENV.RATE || 120);
const MAX_VUS = 60;
const JSON_HEADERS = { 'Content-Type': 'application/json' };

export const options = {
    tags: {
        test_name: __ENV.TEST_NAME || 'aa',
        environment: 'ci',
        git_commit: 'aa00000',
        deployment_version: __ENV.DEPLOYMENT_VERSION || 'v1.0.0',
    },
    scenarios: {
        mix: {
            executor: 'ramping-arrival-rate',
            startRate: 0,
            timeUnit: '1s',
            preAllocatedVUs: 30,
            maxVUs: MAX_VUS,
            stages: [
                { duration: '5s', target: RATE },
                { duration: '25s', target: RATE },
                { duration: '2s', target: 0 },
            ],
            gracefulStop: '2s',
        },
    },
};

export function setup() {
    if (!BASE_URL) throw new Error('BASE_URL is not set');
    const tokens = [];
    for (let i = 1; i <= MAX_VUS; i++) {
        const res = http.post(`${BASE_URL}/api/login`, JSON.stringify({ user: `u${i}`, password: 'secret' }),
            { headers: JSON_HEADERS, tags: { name: 'setup-login' } });
        if (res.status !== 200) throw new Error(`login u${i}: ${res.status} ${res.body}`);
        tokens.push(res.json('token'));
    }
    return { tokens };
}

// Items in this VU's cart (one VU, one user).
let cartItems = 0;

function addToCart(token) {
    const res = http.post(`${BASE_URL}/api/cart`,
        JSON.stringify({ token, product_id: 1 + Math.floor(Math.random() * 200), qty: 1 }),
        { headers: JSON_HEADERS, tags: { name: 'cart' } });
    if (check(res, { 'cart 200': (r) => r.status === 200 })) cartItems += 1;
}

export default function (data) {
    tagStage();
    const token = data.tokens[(__VU - 1) % data.tokens.length];
    const pick = Math.random();
    if (pick < 0.6) {
        const res = http.get(`${BASE_URL}/api/products?limit=20`, { tags: { name: 'products' } });
        check(res, { 'products 200': (r) => r.status === 200 });
    } else if (pick < 0.9) {
        addToCart(token);
    } else {
        if (cartItems === 0) addToCart(token);
        const res = http.post(`${BASE_URL}/api/checkout`, JSON.stringify({ token }),
            { headers: JSON_HEADERS, tags: { name: 'checkout' } });
        if (check(res, { 'checkout 200': (r) => r.status === 200 })) cartItems = 0;
    }
}
