// Shared workload, run-level tags and custom metrics for the k6gate fixtures.
import http from 'k6/http';
import { check, group, sleep } from 'k6';
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';

// Custom metrics (init context).
export const authCheck = new Trend('auth_check', true); // ms, time trend
export const itemsAdded = new Counter('items_added');
export const cartOk = new Rate('cart_ok');
export const cartSize = new Gauge('cart_size');

export const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');

// Run-level tags: ALWAYS through options.tags (CLI --tag would replace them all).
export function runTags(defaultTestName) {
    return {
        test_name: __ENV.TEST_NAME || defaultTestName,
        environment: __ENV.TEST_ENVIRONMENT || 'ci',
        git_commit: __ENV.GIT_COMMIT || '3f2a9c1',
        deployment_version: __ENV.DEPLOYMENT_VERSION || '1.4.2',
        test_date: __ENV.TEST_DATE || '2026-11-28',
    };
}

const JSON_HDR = { 'Content-Type': 'application/json' };

// One user journey: login (outside the group) then group('shop') with
// products -> cart [-> checkout]. Request `name` tags: login, products, cart, checkout.
export function shopFlow(opts = {}) {
    const withCheckout = opts.checkout !== false;

    const login = http.post(`${BASE_URL}/api/login`, JSON.stringify({ user: `u${__VU}`, pass: 'x' }),
        { headers: JSON_HDR, tags: { name: 'login' } });
    authCheck.add(login.timings.duration);
    check(login, { 'login status 200': (r) => r.status === 200 });

    group('shop', () => {
        const products = http.get(`${BASE_URL}/api/products`, { tags: { name: 'products' } });
        check(products, { 'products status 200': (r) => r.status === 200 });

        const qty = 1 + (__ITER % 3);
        const cart = http.post(`${BASE_URL}/api/cart`, JSON.stringify({ product: __ITER % 5, qty }),
            { headers: JSON_HDR, tags: { name: 'cart' } });
        const ok = cart.status === 200;
        cartOk.add(ok);
        check(cart, { 'cart status 200': (r) => r.status === 200 });
        if (ok) {
            itemsAdded.add(qty);
            let size = qty;
            try { size = cart.json('cart_size'); } catch (e) { /* keep qty */ }
            cartSize.add(size);
        }

        if (withCheckout) {
            const co = http.post(`${BASE_URL}/api/checkout`, JSON.stringify({ pay: 'card' }),
                { headers: JSON_HDR, tags: { name: 'checkout' } });
            check(co, { 'checkout status 200': (r) => r.status === 200 });
        }
    });

    if (opts.sleep) sleep(opts.sleep);
}
