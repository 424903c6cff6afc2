// Same ramping-vus profile as staged.js but WITHOUT any test_stage tag.
import { runTags, shopFlow } from './lib/common.js';

export const options = {
    tags: runTags('untagged-vus'),
    scenarios: {
        untagged_vus: {
            executor: 'ramping-vus',
            startVUs: 0,
            stages: [
                { duration: '3s', target: 5 },
                { duration: '8s', target: 5 },
                { duration: '3s', target: 0 },
            ],
            gracefulRampDown: '1s',
            gracefulStop: '2s',
        },
    },
};

export default function () {
    shopFlow({ sleep: 0.2 });
}
