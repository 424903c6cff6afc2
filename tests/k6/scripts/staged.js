// ramping-vus 3s->5, 8s@5, 3s->0; every iteration tagged test_stage
// (ramp-up / sustained / ramp-down) by the offline stage tracker. The small checked-in
// set (scripts/gen-fixtures.sh --small) passes -e VUS, RAMP and SUSTAINED.
import { runTags, shopFlow } from './lib/common.js';
import { tagStage } from './lib/stages.js';

const VUS = Number(__ENV.VUS || 5);
const RAMP = __ENV.RAMP || '3s';

export const options = {
    tags: runTags('staged'),
    scenarios: {
        staged: {
            executor: 'ramping-vus',
            startVUs: 0,
            stages: [
                { duration: RAMP, target: VUS },
                { duration: __ENV.SUSTAINED || '8s', target: VUS },
                { duration: RAMP, target: 0 },
            ],
            gracefulRampDown: '1s',
            gracefulStop: '2s',
        },
    },
    thresholds: {
        http_req_duration: ['p(95)<500'],
        'http_req_duration{name:checkout}': ['p(95)<1000'],
        http_req_failed: ['rate<0.10'],
        checks: ['rate>0.90'],
        auth_check: ['p(99)<500'],
    },
    summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
};

export default function () {
    tagStage();
    shopFlow({ sleep: 0.2 });
}

export function handleSummary(data) {
    const out = {};
    if (__ENV.HANDLE_SUMMARY_PATH) out[__ENV.HANDLE_SUMMARY_PATH] = JSON.stringify(data);
    return out;
}
