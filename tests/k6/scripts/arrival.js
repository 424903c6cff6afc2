// ramping-arrival-rate 0 -> 80 it/s over 3s, 8s @ 80 it/s, 3s -> 0. No test_stage tag.
// Iterations are lighter (login + products + cart, no checkout, no sleep).
import { runTags, shopFlow } from './lib/common.js';

export const options = {
    tags: runTags('arrival'),
    scenarios: {
        arrival: {
            executor: 'ramping-arrival-rate',
            startRate: 0,
            timeUnit: '1s',
            preAllocatedVUs: 10,
            maxVUs: 30,
            stages: [
                { duration: '3s', target: 80 },
                { duration: '8s', target: 80 },
                { duration: '3s', target: 0 },
            ],
            gracefulStop: '2s',
        },
    },
};

export default function () {
    shopFlow({ checkout: false });
}
