// Offline stage tracker (replacement for the remote jslib k6-utils
// tagWithCurrentStageProfile, which cannot be imported without network).
//
// Reads the stage plan of the *current* scenario from
// exec.test.options.scenarios[exec.scenario.name].stages and the scenario
// start time (epoch ms) from exec.scenario.startTime, then classifies the
// stage that is active right now:
//   target > previous target  -> 'ramp-up'
//   target == previous target -> 'sustained'
//   target < previous target  -> 'ramp-down'
// The "previous target" of stage 0 is startVUs (ramping-vus) or startRate
// (ramping-arrival-rate), default 0. After the last stage (graceful ramp-down
// / graceful stop) the last stage's profile is kept.
import exec from 'k6/execution';

const UNIT_MS = { h: 3600000, m: 60000, s: 1000, ms: 1, us: 0.001, 'µs': 0.001, ns: 0.000001 };

// Parse a k6 duration the way k6's types.ParseExtendedDuration does:
// a number, or a unit-less numeric string, is milliseconds; otherwise Go
// duration syntax ("3s", "1m30s", "500ms", "1.5s") with an optional leading
// day count ("2d", "1d12h").
export function parseDurationMs(d) {
    if (typeof d === 'number') return d;
    if (d === null || d === undefined) return 0;
    let s = String(d).trim();
    if (/^[+-]?\d+(\.\d+)?$/.test(s)) return parseFloat(s);
    let total = 0;
    const dm = /^(\d+)d/.exec(s);
    if (dm) {
        total += parseInt(dm[1], 10) * 86400000;
        s = s.slice(dm[0].length);
    }
    const re = /(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/g;
    let consumed = 0;
    let m;
    while ((m = re.exec(s)) !== null) {
        total += parseFloat(m[1]) * UNIT_MS[m[2]];
        consumed += m[0].length;
    }
    if (consumed !== s.length) throw new Error(`stages.js: cannot parse duration '${d}'`);
    return total;
}

function profileOf(prev, target) {
    if (target > prev) return 'ramp-up';
    if (target < prev) return 'ramp-down';
    return 'sustained';
}

let cachedPlan = null;
let cachedFor = null;

// Returns [{index, startMs, endMs, from, target, profile}] for the current scenario.
export function stagePlan() {
    const name = exec.scenario.name;
    if (cachedPlan !== null && cachedFor === name) return cachedPlan;
    const sc = (exec.test.options.scenarios || {})[name] || {};
    const stages = sc.stages || [];
    let prev = Number(sc.startVUs !== undefined && sc.startVUs !== null ? sc.startVUs
        : sc.startRate !== undefined && sc.startRate !== null ? sc.startRate : 0);
    let t = 0;
    const plan = [];
    stages.forEach((st, i) => {
        const dur = parseDurationMs(st.duration);
        const target = Number(st.target);
        plan.push({ index: i, startMs: t, endMs: t + dur, from: prev, target, profile: profileOf(prev, target) });
        t += dur;
        prev = target;
    });
    cachedPlan = plan;
    cachedFor = name;
    return plan;
}

// Current stage: {index, profile, elapsedMs}. index is -1 and profile
// 'sustained' when the scenario has no stages (e.g. constant-vus).
export function currentStage() {
    const plan = stagePlan();
    const elapsedMs = Date.now() - exec.scenario.startTime;
    if (plan.length === 0) return { index: -1, profile: 'sustained', elapsedMs };
    for (const st of plan) {
        if (elapsedMs < st.endMs) return { index: st.index, profile: st.profile, elapsedMs };
    }
    const last = plan[plan.length - 1];
    return { index: last.index, profile: last.profile, elapsedMs };
}

// Call at the top of every iteration: sets the VU-level tag (default
// 'test_stage') so that every sample emitted afterwards by this VU
// (http_*, checks, custom metrics, iterations, data_*) carries it.
export function tagStage(tagName = 'test_stage') {
    const st = currentStage();
    exec.vu.metrics.tags[tagName] = st.profile;
    return st;
}
