// constant-vus 5 for 12s; every sample tagged test_stage=sustained (set directly,
// no tracker). Run against a target with and without a warm-up latency spike.
// The small checked-in set (scripts/gen-fixtures.sh --small) passes -e VUS and DURATION.
import exec from 'k6/execution';
import { runTags, shopFlow } from './lib/common.js';

export const options = {
    tags: runTags('warmup'),
    scenarios: {
        warmup: {
            executor: 'constant-vus',
            vus: Number(__ENV.VUS || 5),
            duration: __ENV.DURATION || '12s',
            gracefulStop: '2s',
        },
    },
};

export default function () {
    exec.vu.metrics.tags['test_stage'] = 'sustained';
    shopFlow({ sleep: 0.2 });
}
