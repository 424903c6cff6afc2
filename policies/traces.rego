# Per-component SLAs and coverage floors, from the run's trace breakdown (issue 15).
#
# In package k6gate: these are checks like every other rule, so waivers (a waiver's metric
# names the component's, `db.p95_ms`) and migration windows (a window listing `db.p95_ms` with
# a ceiling for it) apply to them the same way.
#
# Input: `input.traces` (src/traces/findings.rs), or null when the run has no breakdown:
#   {source, requests, traced, untraced, confidence, end_to_end, comparison,
#    components: {name: {samples, unknown, coverage, unknown_reasons, p50_ms, p95_ms, p99_ms,
#                        p95_ci_ms, share}}}
# Data: data.k6gate_config.traces.tests (policies/data/traces.yaml): per test (optionally per
# environment) `components: {db: {p95_ms: 50}}` and `coverage: {db: 0.99}`.
#
# A coverage floor comes first: below it, the component's time is unknown for too many
# requests, the run fails, and its limits are not judged (a quantile of the requests whose
# time is known says nothing about the others). No breakdown, or a component without known
# samples, fails: never a pass on missing spans.
package k6gate

import rego.v1

trace_rules := object.get(object.get(data.k6gate_config, "traces", {}), "tests", [])

trace_applies(e) if {
	e.test == input.test
	object.get(e, "environment", input.environment) == input.environment
}

trace_findings := t if {
	t := object.get(input, "traces", null)
	is_object(t)
}

# [component, metric] pairs with a limit for this run, and components with a floor.
trace_limited contains [component, metric] if {
	some e in trace_rules
	trace_applies(e)
	some component, limits in object.get(e, "components", {})
	some metric, value in limits
	is_number(value)
}

trace_floored contains component if {
	some e in trace_rules
	trace_applies(e)
	some component, floor in object.get(e, "coverage", {})
	is_number(floor)
}

# The entry naming the environment wins over one without; then the later entry.
trace_limit(component, metric) := best if {
	entries := [[count({1 | e.environment}), i] |
		some i, e in trace_rules
		trace_applies(e)
		is_number(e.components[component][metric])
	]
	count(entries) > 0
	top := max({x[0] | some x in entries})
	picked := max({x[1] | some x in entries; x[0] == top})
	best := {"value": trace_rules[picked].components[component][metric], "source": trace_rules[picked]._source}
}

trace_floor(component) := best if {
	entries := [[count({1 | e.environment}), i] |
		some i, e in trace_rules
		trace_applies(e)
		is_number(e.coverage[component])
	]
	count(entries) > 0
	top := max({x[0] | some x in entries})
	picked := max({x[1] | some x in entries; x[0] == top})
	best := {"value": trace_rules[picked].coverage[component], "source": trace_rules[picked]._source}
}

pct(x) := round(x * 1000) / 10

# ---- No breakdown: the per-component rules cannot be judged ----

checks contains {
	"id": "traces/missing",
	"kind": "data",
	"status": "fail",
	"group": "all",
	"metric": "",
	"summary": sprintf("the policy sets per-component limits for %s (%s), but the run has no trace breakdown: configure the environment's trace backend (`traces:`) or give the breakdown (`evaluate --traces`)", [input.test, concat(", ", sorted_trace_names)]),
} if {
	count(trace_limited) + count(trace_floored) > 0
	not trace_findings
	not trace_unavailable
}

# ---- A configured trace backend gave no breakdown (`run` with the environment's `traces:`) ----
#
# Missing data, like a missing breakdown above: the run fails, with the reason, whether or not
# the policy sets per-component limits (the environment asked for the breakdown). A waiver
# cannot override it (kind `data`).
trace_unavailable := why if {
	why := object.get(input, "traces_unavailable", null)
	is_string(why)
}

checks contains {
	"id": "traces/unavailable",
	"kind": "data",
	"status": "fail",
	"group": "all",
	"metric": "",
	"summary": sprintf("no trace breakdown: %s", [trace_unavailable]),
} if {
	trace_unavailable
}

sorted_trace_names := sort({n |
	some [c, m] in trace_limited
	n := sprintf("%s.%s", [c, m])
} | {n |
	some c in trace_floored
	n := sprintf("%s.coverage", [c])
})

# ---- Coverage floors ----

trace_coverage(component) := c.coverage if {
	c := trace_findings.components[component]
	c.samples + c.unknown > 0
} else := 0

below_floor(component) if {
	component in trace_floored
	trace_coverage(component) < trace_floor(component).value
}

reasons_text(component) := concat(", ", [sprintf("%s %d", [k, n]) |
	some k, n in object.get(object.get(trace_findings.components, component, {}), "unknown_reasons", {})
])

checks contains {
	"id": sprintf("traces/coverage/%s", [component]),
	"kind": "data",
	"status": status,
	"group": "all",
	"metric": sprintf("%s.coverage", [component]),
	"limit": floor.value,
	"source": floor.source,
	"summary": summary,
} if {
	trace_findings
	some component in trace_floored
	floor := trace_floor(component)
	[status, summary] := coverage_verdict(component, floor.value)
}

coverage_verdict(component, floor) := ["fail", s] if {
	not trace_findings.components[component]
	s := sprintf("%s time unknown for every request: the run's traces hold no %s span (coverage floor %v %%)", [component, component, pct(floor)])
} else := ["fail", s] if {
	below_floor(component)
	c := trace_findings.components[component]
	s := sprintf("%s time unknown for %v %% of requests (%d of %d; %s): coverage %v %% is below the floor of %v %%, so %s's limits are not judged", [component, pct(1 - c.coverage), c.unknown, c.samples + c.unknown, reasons_text(component), pct(c.coverage), pct(floor), component])
} else := ["pass", s] if {
	c := trace_findings.components[component]
	s := sprintf("%s time known for %v %% of requests (%d of %d; floor %v %%)", [component, pct(c.coverage), c.samples, c.samples + c.unknown, pct(floor)])
}

# ---- Per-component SLAs ----

# An open migration window that lists the component's metric and gives it a ceiling: the
# ceiling is the limit while it is open (the SLA's failure is listed as allowed).
trace_window_ceiling(name) := min({w.ceiling[name] |
	some w in active_windows
	name in w.metrics
	is_number(w.ceiling[name])
})

trace_effective_limit(component, metric) := trace_window_ceiling(sprintf("%s.%s", [component, metric])) if {
	is_number(trace_window_ceiling(sprintf("%s.%s", [component, metric])))
} else := trace_limit(component, metric).value

trace_value(component, metric) := v if {
	v := trace_findings.components[component][metric]
	is_number(v)
}

checks contains {
	"id": sprintf("traces/sla/%s/%s", [component, metric]),
	"kind": "sla",
	"status": status,
	"group": "all",
	"metric": sprintf("%s.%s", [component, metric]),
	"limit": limit,
	"source": trace_limit(component, metric).source,
	"summary": summary,
} if {
	trace_findings
	some [component, metric] in trace_limited
	limit := trace_effective_limit(component, metric)
	[status, summary] := component_sla(component, metric, limit)
}

component_sla(component, metric, limit) := ["fail", s] if {
	below_floor(component)
	s := sprintf("%s %s not judged: %s's time is unknown for %v %% of requests, below its coverage floor", [component, metric, component, pct(1 - trace_coverage(component))])
} else := ["fail", s] if {
	not trace_value(component, metric)
	s := sprintf("no %s %s to check against its limit of %v ms: no request has a known %s time", [component, metric, limit, component])
} else := [sla_status(v, limit), s] if {
	v := trace_value(component, metric)
	c := trace_findings.components[component]
	s := sprintf("%s %s %v ms (%d requests with its time known) against a limit of %v ms", [component, metric, round(v * 10) / 10, c.samples, limit])
}

exceptions contains {
	"type": "allowed",
	"result": sprintf("traces/sla/%s/%s", [component, metric]),
	"by": w.id,
	"owner": w.owner,
	"reason": w.reason,
	"expires": w.expires,
	"source": w._source,
} if {
	trace_findings
	some [component, metric] in trace_limited
	name := sprintf("%s.%s", [component, metric])
	some w in active_windows
	name in w.metrics
	is_number(w.ceiling[name])
	not below_floor(component)
	v := trace_value(component, metric)
	sla_status(v, trace_limit(component, metric).value) == "fail"
	sla_status(v, trace_effective_limit(component, metric)) == "pass"
}

# ---- The breakdown against the baseline's ----
#
# With a baseline breakdown (`traces --baseline-k6-output/--baseline-otlp`), a component with
# a P95 limit whose self time changed significantly (Mann-Whitney at the breakdown's level)
# and whose P95 grew by more than the P95 budget (budgets.defaults.p95_ms, a relative change)
# fails, as a budget: "db P95 +40 %". A waiver for the component's metric applies to it too.
checks contains {
	"id": sprintf("traces/budget/%s/p95_ms", [c.component]),
	"kind": "budget",
	"status": status,
	"group": "all",
	"metric": sprintf("%s.p95_ms", [c.component]),
	"budget": budget.value,
	"source": budget.source,
	"summary": sprintf("%s (baseline %v ms, this run %v ms; budget +%v %%)", [c.text, round(c.baseline_p95_ms * 10) / 10, round(c.candidate_p95_ms * 10) / 10, pct(budget.value)]),
} if {
	trace_findings
	some c in object.get(trace_findings, "comparison", [])
	[c.component, "p95_ms"] in trace_limited
	is_number(c.p95_change)
	budget := budget_for("p95_ms")
	status := trace_change_status(c, budget.value)
}

trace_change_status(c, allowed) := "fail" if {
	c.changed == true
	c.p95_change > allowed
} else := "pass"
