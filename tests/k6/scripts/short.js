// 4 s, 2 VUs: used only for the CSV time-format fixtures (K6_CSV_TIME_FORMAT).
import { runTags, shopFlow } from './lib/common.js';

export const options = {
    tags: runTags('short'),
    scenarios: {
        short: { executor: 'constant-vus', vus: 2, duration: '4s', gracefulStop: '1s' },
    },
};

export default function () {
    shopFlow({ sleep: 0.2 });
}
