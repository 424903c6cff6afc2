# k6gate's default rule set.
#
# Input (built by k6gate, see ARCHITECTURE.md): the test and environment, `now` (time is an
# input, never read here), both runs' identities, and `comparisons`: one entry per group
# ("all" or "POST checkout") and metric (p50_ms, p95_ms, p99_ms, error_rate, requests_per_s)
# with baseline, candidate, changes, p-value and confidence interval, or a `state` saying why
# the numbers are missing. `previous` holds the same comparison against the previous run
# (for migration-window ratchets), or null.
#
# Output: `results` (every check, pass/warn/fail), `exceptions` (failures waived or allowed
# by a migration window, with who approved them and when they expire) and `ignored`
# (waivers and windows that name this test but do not apply, and why).
package k6gate

import rego.v1

sla := data.k6gate_config.sla

# Every check below is in `checks`; `results` is what k6gate reads: the checks, plus the
# verdict on a run measured on a busy machine, which depends on them (Load model section).
results contains r if {
	some r in checks
}

budgets := data.k6gate_config.budgets

latency_metrics := {"p50_ms", "p95_ms", "p99_ms"}

# ---------------------------------------------------------------------------------------
# Whole-run guards: a verdict never passes on broken or missing data.

checks contains {
	"id": "run-incomplete",
	"kind": "data",
	"status": "fail",
	"group": "all",
	"metric": "",
	"summary": concat("; ", input.run.issues),
} if {
	not input.run.complete
}

checks contains {
	"id": "baseline-incomplete",
	"kind": "data",
	"status": "fail",
	"group": "all",
	"metric": "",
	"summary": concat("; ", input.baseline.issues),
} if {
	not input.baseline.complete
}

# The runs must be the test and environment being judged.
checks contains {
	"id": sprintf("identity/%s/%s", [side, field]),
	"kind": "data",
	"status": "fail",
	"group": "all",
	"metric": "",
	"summary": sprintf("the %s run is for %s %v, not %v", [side, field, run[key], want]),
} if {
	some side, run in {"candidate": input.run, "baseline": input.baseline}
	some field, pair in identity_fields
	key := pair[0]
	want := pair[1]
	is_string(run[key])
	run[key] != want
}

identity_fields := {"test": ["test_name", input.test], "environment": ["environment", input.environment]}

# ---------------------------------------------------------------------------------------
# SLAs: absolute limits on the candidate. Entries without `group` apply to all requests;
# the most specific matching entry wins (environment and group count), then the defaults.

sla_applies(e, group) if {
	e.test == input.test
	object.get(e, "environment", input.environment) == input.environment
	object.get(e, "group", "all") == group
}

specificity(e) := (2 * count({1 | e.environment})) + (4 * count({1 | e.group}))

sla_limit(group, metric) := best if {
	entries := [[specificity(e), i] |
		some i, e in sla.tests
		sla_applies(e, group)
		is_number(e[metric])
	]
	count(entries) > 0
	top := max({x[0] | some x in entries})
	picked := max({x[1] | some x in entries; x[0] == top})
	e := sla.tests[picked]
	best := {"value": e[metric], "source": e._source, "from": sprintf("sla.tests[%d]", [picked])}
} else := {"value": sla.defaults[metric], "source": sla.defaults._source, "from": "sla.defaults"} if {
	group == "all"
	is_number(sla.defaults[metric])
}

sla_metrics := {"p50_ms", "p95_ms", "p99_ms", "error_rate"}

checks contains r if {
	some c in input.comparisons
	c.metric in sla_metrics
	limit := sla_limit(c.group, c.metric)
	r := sla_result(c, limit)
}

sla_result(c, limit) := {
	"id": sprintf("sla/%s/%s", [c.group, c.metric]),
	"kind": "sla",
	"status": status,
	"group": c.group,
	"metric": c.metric,
	"limit": limit.value,
	"source": limit.source,
} if {
	is_number(c.candidate)
	status := sla_status(c.candidate, limit.value)
} else := {
	"id": sprintf("sla/%s/%s", [c.group, c.metric]),
	"kind": "sla",
	"status": "fail",
	"group": c.group,
	"metric": c.metric,
	"limit": limit.value,
	"source": limit.source,
	"summary": sprintf("no %s to check against the SLA: %s", [c.metric, object.get(c, "reason", c.state)]),
}

sla_status(value, limit) := "pass" if value < limit

else := "fail"

# ---------------------------------------------------------------------------------------
# Regression budgets: allowed change against the baseline. A change over budget fails only
# when it is significant (p < alpha) and its confidence interval clears the noise floor;
# over budget but within noise warns.

budget_applies(e) if {
	e.test == input.test
	object.get(e, "environment", input.environment) == input.environment
}

budget_for(metric) := best if {
	entries := [[count({1 | e.environment}), i] |
		some i, e in budgets.tests
		budget_applies(e)
		is_number(e[metric])
	]
	count(entries) > 0
	top := max({x[0] | some x in entries})
	picked := max({x[1] | some x in entries; x[0] == top})
	best := {"value": budgets.tests[picked][metric], "source": budgets.tests[picked]._source}
} else := {"value": budgets.defaults[metric], "source": budgets.defaults._source} if {
	is_number(budgets.defaults[metric])
}

alpha := a if {
	a := budgets.significance.alpha
	is_number(a)
} else := 0.01

noise_floor := n if {
	n := budgets.significance.noise_floor
	is_number(n)
} else := 0.05

# How far over the allowed direction the change went (positive = worse).
worsening(c) := c.rel_change if {
	c.metric in latency_metrics
} else := c.abs_change if {
	c.metric == "error_rate"
} else := 0 - c.rel_change if {
	c.metric == "requests_per_s"
	is_number(c.rel_change)
}

# The confidence interval bound closest to "no change", in the worse direction.
worsening_ci(c) := c.ci_low if {
	c.metric in latency_metrics
} else := c.ci_low if {
	c.metric == "error_rate"
} else := 0 - c.ci_high if {
	c.metric == "requests_per_s"
	is_number(c.ci_high)
}

# Null is not a number: a missing p-value or interval is never evidence.
significant(c) if {
	is_number(c.p_value)
	c.p_value < alpha
	c.metric == "error_rate"
	is_number(c.ci_low)
	worsening_ci(c) > 0
}

significant(c) if {
	is_number(c.p_value)
	c.p_value < alpha
	c.metric != "error_rate"
	is_number(worsening_ci(c))
	worsening_ci(c) > noise_floor
}

# Between-run noise. With several baseline runs every comparison carries `between`: each
# run's own value against the spread the baseline runs show (Student's t over the runs, see
# ARCHITECTURE.md). A null p-value means the noise between runs is unknown: one baseline run.
between_known(c) if is_number(c.between.p_value)

between_below(c, level) if {
	between_known(c)
	c.between.p_value < level
}

warn_alpha := a if {
	a := budgets.significance.warn_alpha
	is_number(a)
} else := 0.1

# Over budget fails only when the change is significant against both the noise within the
# run (per-second windows) and the noise between runs (the baseline runs' spread). Over budget,
# significant within the run and with a hint of a change between runs (p < warn_alpha) warns.
# Anything else over budget passes: that much movement is what repeated runs of the same build
# show, and the verdict says so. With one baseline run the noise between runs is unknown and
# the rule is the within-run one alone, as the verdict says.
budget_status(c, allowed) := "pass" if {
	worsening(c) <= allowed
} else := "fail" if {
	significant(c)
	not between_known(c)
} else := "fail" if {
	significant(c)
	between_below(c, alpha)
} else := "warn" if {
	not between_known(c)
} else := "warn" if {
	significant(c)
	between_below(c, warn_alpha)
} else := "pass"

budget_result(c, budget, allowed) := {
	"id": sprintf("budget/%s/%s", [c.group, c.metric]),
	"kind": "budget",
	"status": budget_status(c, allowed),
	"group": c.group,
	"metric": c.metric,
	"budget": allowed,
	"source": budget.source,
} if {
	c.state == "ok"
	is_number(worsening(c))
} else := {
	"id": sprintf("budget/%s/%s", [c.group, c.metric]),
	"kind": "budget",
	"status": "warn",
	"group": c.group,
	"metric": c.metric,
	"budget": allowed,
	"source": budget.source,
	"summary": sprintf("new endpoint group, no baseline to compare %s with", [c.metric]),
} if {
	c.state == "missing-in-baseline"
	c.group != "all"
} else := {
	"id": sprintf("budget/%s/%s", [c.group, c.metric]),
	"kind": "budget",
	"status": "fail",
	"group": c.group,
	"metric": c.metric,
	"budget": allowed,
	"source": budget.source,
	"summary": sprintf("cannot compare %s: %s", [c.metric, object.get(c, "reason", c.state)]),
}

checks contains r if {
	not input.no_baseline
	some c in input.comparisons
	budgeted(c)
	budget := budget_for(c.metric)
	r := budget_result(c, budget, budget.value + window_extra(c.metric))
}

# Throughput is budgeted for all requests, and only when the run did not fix its own rate:
# under an open model the load model section below judges it. An endpoint's request rate is
# its share of a random mix, which moves by chance from run to run: never a regression.
budgeted(c) if {
	c.metric != "requests_per_s"
	c.metric != "p99_ms"
}

# A P99 rests on the slowest 1 % of requests: an endpoint group needs enough of them (both
# sides) for its P99 to be a measurement rather than a handful of outliers. All requests are
# always budgeted.
budgeted(c) if {
	c.metric == "p99_ms"
	c.group == "all"
}

budgeted(c) if {
	c.metric == "p99_ms"
	c.group != "all"
	group_requests(c.group) >= p99_min_requests
}

p99_min_requests := n if {
	n := budgets.significance.p99_min_requests
	is_number(n)
} else := 1000

# The fewer requests of the two sides of a group (its error-rate comparison counts them).
group_requests(group) := min({n |
	some e in input.comparisons
	e.group == group
	e.metric == "error_rate"
	some n in [e.baseline_samples, e.candidate_samples]
})

budgeted(c) if {
	c.metric == "requests_per_s"
	c.group == "all"
	load_model != "open"
}

# The first run of a test in an environment has nothing to be compared with: say so, check
# the SLAs, and let a passing run become the baseline.
checks contains {
	"id": "no-baseline",
	"kind": "data",
	"status": "warn",
	"group": "all",
	"metric": "",
	"summary": "no baseline yet for this test and environment: regression budgets were not checked, SLAs were; a passing run becomes the baseline",
} if {
	input.no_baseline == true
}

# ---------------------------------------------------------------------------------------
# Load model and load generator. Under an open model (arrival-rate executors) k6 fixes the
# offered rate, so the question is whether the service carried it: a run that dropped
# iterations or fell short of the offered rate while latency rose over budget did not (fail);
# one that fell short while latency held says more about k6 than about the service
# (inconclusive). Under a closed model (VU executors) throughput is a result, budgeted above.
# A run measured on a saturated machine, or whose client dominated its iterations, cannot be
# judged at all (inconclusive), whichever run it is: the candidate, a confirmation re-run or
# a baseline.

load_model := m if {
	m := input.run.load_model.model
	is_string(m)
} else := "unknown"

judged_runs contains ["candidate", input.run]

judged_runs contains [sprintf("confirmation re-run %s", [r.source]), r] if {
	some r in object.get(input, "confirmations", [])
}

judged_runs contains [sprintf("baseline %s", [r.source]), r] if {
	not input.no_baseline
	some r in object.get(input, "baselines", [input.baseline])
}

# A run measured on a busy machine: k6 competed for CPU, so its timings carry the machine's
# noise. A verdict that would fail on such data is inconclusive: never a regression. One that
# passes anyway, or whose only failures are waived, is flagged with a warning.
results contains {
	"id": sprintf("load/host/%s", [name]),
	"kind": "load",
	"status": busy_status,
	"group": "all",
	"metric": "",
	"summary": sprintf("the %s was measured on a busy machine: %s", [name, concat("; ", run.load_generator.signs)]),
} if {
	some [name, run] in judged_runs
	run.load_generator.host_saturated == true
}

# A run whose iterations were mostly k6's own time (script code, not requests or think time):
# the client set the pace, so its timings are not the service's. Judged like a busy machine.
results contains {
	"id": sprintf("load/client/%s", [name]),
	"kind": "load",
	"status": busy_status,
	"group": "all",
	"metric": "",
	"summary": sprintf("the %s's iterations were dominated by k6 itself, not by the service: %s", [name, concat("; ", run.load_generator.signs)]),
} if {
	some [name, run] in judged_runs
	run.load_generator.client_dominated == true
}

busy_status := "inconclusive" if {
	some r in checks
	r.status == "fail"
	not waived(r.id)
} else := "warn"

waived(id) if {
	some e in exceptions
	e.type == "waived"
	e.result == id
}

checks contains {
	"id": "load/carried",
	"kind": "load",
	"status": status,
	"group": "all",
	"metric": "",
	"summary": sprintf("%s: %s", [carried_reason[status], concat("; ", input.run.load_generator.signs)]),
} if {
	load_model == "open"
	input.run.load_generator.saturated == true
	not input.run.load_generator.host_saturated
	not input.run.load_generator.client_dominated
	status := carried_status
}

carried_status := "fail" if latency_over_budget else := "inconclusive"

carried_reason := {
	"fail": "the service did not carry the offered load (latency rose over budget with it)",
	"inconclusive": "k6 did not produce the offered load though latency held: give k6 more VUs (max_vus) or a bigger machine, then run again",
}

latency_over_budget if {
	not input.no_baseline
	some c in input.comparisons
	c.group == "all"
	c.metric in latency_metrics
	c.state == "ok"
	worsening(c) > budget_for(c.metric).value
}

# ---------------------------------------------------------------------------------------
# Migration windows: a time-boxed extra allowance for named metrics, with an absolute
# ceiling and a ratchet (no worse than the previous run inside the window).

window_for_test(w) if {
	w.test == input.test
	count(object.get(w, "environments", [])) == 0
}

window_for_test(w) if {
	w.test == input.test
	input.environment in w.environments
}

active_windows contains w if {
	some w in data.k6gate_config.migration_windows
	window_for_test(w)
	w.start_ns <= input.now_ns
	input.now_ns < w.expires_ns
}

window_extra(metric) := sum([w.extra_regression | some w in active_windows; metric in w.metrics])

checks contains {
	"id": sprintf("window/%s/expired", [w.id]),
	"kind": "window",
	"status": "fail",
	"group": "all",
	"metric": "",
	"source": w._source,
	"summary": sprintf("migration window %s expired at %s: the comparison is against the baseline again; remove the window or extend it through a reviewed PR", [w.id, w.expires]),
} if {
	some w in data.k6gate_config.migration_windows
	window_for_test(w)
	w.expires_ns <= input.now_ns
}

checks contains {
	"id": sprintf("window/%s/ceiling/%s/%s", [w.id, c.group, c.metric]),
	"kind": "window",
	"status": status,
	"group": c.group,
	"metric": c.metric,
	"limit": w.ceiling[c.metric],
	"source": w._source,
} if {
	some w in active_windows
	some c in input.comparisons
	c.group == "all"
	is_number(w.ceiling[c.metric])
	status := sla_status_or_fail(c.candidate, w.ceiling[c.metric])
}

sla_status_or_fail(value, limit) := sla_status(value, limit) if is_number(value)

else := "fail"

checks contains {
	"id": sprintf("window/%s/ratchet/%s", [w.id, c.metric]),
	"kind": "ratchet",
	"status": status,
	"group": "all",
	"metric": c.metric,
	"source": w._source,
	"previous": p.baseline,
	"candidate": p.candidate,
	"p_value": p.p_value,
} if {
	some w in active_windows
	some c in input.comparisons
	c.group == "all"
	c.metric in w.metrics
	some p in input.previous.comparisons
	p.group == "all"
	p.metric == c.metric
	status := ratchet_status(p)
}

ratchet_status(p) := "fail" if {
	p.state == "ok"
	worsening(p) > 0
	significant(p)
} else := "pass" if {
	p.state == "ok"
} else := "fail"

checks contains {
	"id": sprintf("window/%s/ratchet", [w.id]),
	"kind": "ratchet",
	"status": "warn",
	"group": "all",
	"metric": "",
	"source": w._source,
	"summary": sprintf("no previous run inside migration window %s to ratchet against: this run becomes the reference", [w.id]),
} if {
	some w in active_windows
	not is_object(input.previous)
}

# Inside a window, and after it, the comparison must be against the baseline pinned before
# the window opened: comparing with a run from inside the window would launder the regression.
checks contains {
	"id": sprintf("window/%s/baseline", [w.id]),
	"kind": "window",
	"status": "fail",
	"group": "all",
	"metric": "",
	"source": w._source,
	"summary": sprintf("migration window %s pins baseline version %s, but the baseline is %v", [w.id, w.baseline_version, input.baseline.deployment_version]),
} if {
	some w in data.k6gate_config.migration_windows
	window_for_test(w)
	w.start_ns <= input.now_ns
	is_string(w.baseline_version)
	input.baseline.deployment_version != w.baseline_version
}

# Budget failures that only pass thanks to an active window are listed as allowed.
exceptions contains {
	"type": "allowed",
	"result": sprintf("budget/%s/%s", [c.group, c.metric]),
	"by": w.id,
	"owner": w.owner,
	"reason": w.reason,
	"expires": w.expires,
	"source": w._source,
} if {
	some w in active_windows
	some c in input.comparisons
	c.metric in w.metrics
	c.state == "ok"
	budgeted(c)
	budget := budget_for(c.metric)
	budget_status(c, budget.value) != "pass"
	budget_status(c, budget.value + window_extra(c.metric)) == "pass"
}

# ---------------------------------------------------------------------------------------
# Waivers: a one-off override of failures for a named test, metric and version.

# Their length (at most 30 days) is checked when the data is loaded, with the file and line.

waiver_for_run(v) if {
	v.test == input.test
	v.version == input.run.deployment_version
	object.get(v, "environment", input.environment) == input.environment
}

waiver_problem(v) := "expired" if {
	v.expires_ns <= input.now_ns
} else := "not yet valid" if {
	input.now_ns < v.created_ns
} else := "approved by its own requester" if {
	v.approved_by == v.requested_by
}

valid_waivers contains v if {
	some v in data.k6gate_config.waivers
	waiver_for_run(v)
	not waiver_problem(v)
}

exceptions contains {
	"type": "waived",
	"result": r.id,
	"by": v.id,
	"requested_by": v.requested_by,
	"approved_by": v.approved_by,
	"reason": v.justification,
	"expires": v.expires,
	"source": v._source,
} if {
	# `checks`, not `results`: the busy-machine result reads the waivers, and it is not
	# waivable anyway.
	some r in checks
	r.status != "pass"
	r.kind in waivable_kinds
	some v in valid_waivers
	v.metric == r.metric
}

# Waivers override SLA and budget results. Missing data, identity and migration-window
# results (ceiling, ratchet, expiry) are not waivable: fix the data or change the window.
waivable_kinds := {"sla", "budget"}

ignored contains {"what": v.id, "reason": sprintf("waiver %s ignored: %s", [v.id, waiver_problem(v)]), "source": v._source} if {
	some v in data.k6gate_config.waivers
	waiver_for_run(v)
	waiver_problem(v)
}

run_version := v if {
	v := input.run.deployment_version
	is_string(v)
} else := "unknown"

ignored contains {"what": v.id, "reason": sprintf("waiver %s ignored: it is for environment %s, this run is %s", [v.id, v.environment, input.environment]), "source": v._source} if {
	some v in data.k6gate_config.waivers
	v.test == input.test
	v.version == input.run.deployment_version
	is_string(v.environment)
	v.environment != input.environment
}

ignored contains {"what": v.id, "reason": sprintf("waiver %s ignored: it covers version %s, this run is %s", [v.id, v.version, run_version]), "source": v._source} if {
	some v in data.k6gate_config.waivers
	v.test == input.test
	v.version != input.run.deployment_version
}

ignored contains {"what": w.id, "reason": sprintf("migration window %s not open yet (starts %s)", [w.id, w.start]), "source": w._source} if {
	some w in data.k6gate_config.migration_windows
	window_for_test(w)
	input.now_ns < w.start_ns
}
