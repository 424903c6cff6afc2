# Unit tests of policies/traces.rego (`k6gate policy test policies`): per-component SLAs and
# coverage floors, with waivers and migration windows applying to them. Each test gives its own
# data and input, shaped as src/policy/data.rs and src/traces/findings.rs build them.
package k6gate_traces_test

import data.k6gate
import rego.v1

now_ns := 1796083200000000000

day_ns := 86400000000000

src(line) := {"file": "policies/data/traces.yaml", "line": line}

rules := [{
	"test": "tiers",
	"components": {"api": {"p95_ms": 100}, "db": {"p95_ms": 50}},
	"coverage": {"db": 0.99},
	"_source": src(12),
}]

config(extra) := object.union(
	{
		"sla": {"defaults": {"p95_ms": 5000, "_source": src(1)}, "tests": []},
		"budgets": {"defaults": {"_source": src(2)}, "significance": {}, "tests": []},
		"migration_windows": [],
		"waivers": [],
		"traces": {"tests": rules},
	},
	extra,
)

component(samples, unknown, p95) := {
	"samples": samples,
	"unknown": unknown,
	"coverage": samples / (samples + unknown),
	"unknown_reasons": {"missing_leaf": unknown},
	"p50_ms": p95 / 2,
	"p95_ms": p95,
	"p99_ms": p95 * 1.2,
	"p95_ci_ms": null,
	"share": 0.3,
}

findings(db) := {
	"source": "test",
	"requests": 1000,
	"traced": 1000,
	"untraced": 0,
	"confidence": 0.95,
	"end_to_end": component(1000, 0, 120),
	"components": {"api": component(1000, 0, 40), "db": db},
	"comparison": [],
}

run := {
	"test_name": "tiers",
	"environment": "staging",
	"deployment_version": "v2",
	"complete": true,
	"issues": [],
}

in_with(traces) := {
	"test": "tiers",
	"environment": "staging",
	"now": "2026-12-01T00:00:00.000Z",
	"now_ns": now_ns,
	"phase": "steady-state",
	"no_baseline": true,
	"run": run,
	"baseline": run,
	"comparisons": [],
	"previous": null,
	"traces": traces,
}

results(traces, extra) := {r.id: r |
	some r in k6gate.results with input as in_with(traces) with data.k6gate_config as config(extra)
}

exceptions(traces, extra) := [e |
	some e in k6gate.exceptions with input as in_with(traces) with data.k6gate_config as config(extra)
]

test_a_db_within_its_sla_passes if {
	r := results(findings(component(1000, 0, 30)), {})
	r["traces/sla/db/p95_ms"].status == "pass"
	r["traces/sla/api/p95_ms"].status == "pass"
	r["traces/coverage/db"].status == "pass"
	r["traces/sla/db/p95_ms"].metric == "db.p95_ms"
}

test_a_slow_db_fails_its_sla if {
	r := results(findings(component(1000, 0, 80)), {})
	r["traces/sla/db/p95_ms"].status == "fail"
	r["traces/sla/db/p95_ms"].limit == 50
	contains(r["traces/sla/db/p95_ms"].summary, "db p95_ms 80 ms")
	r["traces/sla/api/p95_ms"].status == "pass"
}

test_coverage_below_its_floor_fails_before_the_sla_counts if {
	# 20 % of requests without a DB span, and what is known is fast.
	r := results(findings(component(800, 200, 10)), {})
	r["traces/coverage/db"].status == "fail"
	contains(r["traces/coverage/db"].summary, "db time unknown for 20 % of requests")
	r["traces/sla/db/p95_ms"].status == "fail"
	contains(r["traces/sla/db/p95_ms"].summary, "not judged")
}

test_a_component_without_spans_fails if {
	f := object.union(findings(component(1, 0, 1)), {"components": {"api": component(1000, 0, 40)}})
	r := results(json.remove(f, ["components/db"]), {})
	r["traces/coverage/db"].status == "fail"
	r["traces/sla/db/p95_ms"].status == "fail"
}

test_no_breakdown_fails_closed if {
	r := results(null, {})
	r["traces/missing"].status == "fail"
	contains(r["traces/missing"].summary, "db.p95_ms")
	not r["traces/sla/db/p95_ms"]
}

test_an_unavailable_backend_fails_with_its_reason_for_every_test if {
	unavailable := {"traces_unavailable": "Tempo http://t:3200 cannot be reached"}
	r := {x.id: x | some x in k6gate.results with input as object.union(in_with(null), unavailable)
		with data.k6gate_config as config({})}
	r["traces/unavailable"].status == "fail"
	r["traces/unavailable"].kind == "data"
	contains(r["traces/unavailable"].summary, "cannot be reached")
	not r["traces/missing"]
	other := {x.id | some x in k6gate.results with input as object.union(in_with(null), object.union(unavailable, {"test": "checkout"}))
		with data.k6gate_config as config({})}
	"traces/unavailable" in other
}

test_other_tests_are_not_concerned if {
	r := {x.id | some x in k6gate.results with input as object.union(in_with(null), {"test": "checkout"})
		with data.k6gate_config as config({})}
	not "traces/missing" in r
}

waiver := {
	"id": "W-DB",
	"test": "tiers",
	"metric": "db.p95_ms",
	"version": "v2",
	"justification": "index rebuild",
	"requested_by": "alice",
	"approved_by": "bob",
	"created": "2026-11-30T00:00:00Z",
	"expires": "2026-12-05T00:00:00Z",
	"created_ns": now_ns - day_ns,
	"expires_ns": now_ns + (4 * day_ns),
	"_source": src(30),
}

test_a_waiver_for_the_component_metric_is_honoured if {
	ex := exceptions(findings(component(1000, 0, 80)), {"waivers": [waiver]})
	some e in ex
	e.type == "waived"
	e.result == "traces/sla/db/p95_ms"
	e.by == "W-DB"
}

test_a_waiver_does_not_lift_a_coverage_floor if {
	ex := exceptions(findings(component(800, 200, 10)), {"waivers": [object.union(waiver, {"metric": "db.p95_ms"})]})
	not "traces/coverage/db" in {e.result | some e in ex}
}

window := {
	"id": "MW-DB",
	"test": "tiers",
	"metrics": ["db.p95_ms"],
	"extra_regression": 0,
	"ceiling": {"db.p95_ms": 90},
	"owner": "team-data",
	"reason": "moving to the new database",
	"start": "2026-11-20T00:00:00Z",
	"expires": "2026-12-15T00:00:00Z",
	"start_ns": now_ns - (10 * day_ns),
	"expires_ns": now_ns + (14 * day_ns),
	"_source": src(40),
}

test_a_migration_window_ceiling_allows_the_component if {
	r := results(findings(component(1000, 0, 80)), {"migration_windows": [window]})
	r["traces/sla/db/p95_ms"].status == "pass"
	r["traces/sla/db/p95_ms"].limit == 90
	some e in exceptions(findings(component(1000, 0, 80)), {"migration_windows": [window]})
	e.type == "allowed"
	e.result == "traces/sla/db/p95_ms"
}

test_over_the_window_ceiling_still_fails if {
	r := results(findings(component(1000, 0, 95)), {"migration_windows": [window]})
	r["traces/sla/db/p95_ms"].status == "fail"
}

with_change(change, changed) := object.union(findings(component(1000, 0, 42)), {"comparison": [{
	"component": "db",
	"baseline_p95_ms": 30,
	"candidate_p95_ms": 30 * (1 + change),
	"p95_change": change,
	"p_value": 0.001,
	"changed": changed,
	"text": "DB P95 +40 %",
}]})

budgets_p95 := {"budgets": {"defaults": {"p95_ms": 0.1, "_source": src(2)}, "significance": {}, "tests": []}}

test_a_significant_component_regression_over_budget_fails if {
	r := results(with_change(0.4, true), budgets_p95)
	r["traces/budget/db/p95_ms"].status == "fail"
	contains(r["traces/budget/db/p95_ms"].summary, "DB P95 +40 %")
	r["traces/sla/db/p95_ms"].status == "pass"
}

test_a_change_that_is_not_significant_passes if {
	r := results(with_change(0.4, false), budgets_p95)
	r["traces/budget/db/p95_ms"].status == "pass"
}
