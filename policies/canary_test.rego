# Unit tests of policies/canary.rego (`k6gate policy test policies`). Each test gives its
# own canary data and input, so that the shipped numbers can change without breaking them.
package k6gate_canary_test

import rego.v1

config := {
	"min_requests": 100,
	"pass_score": 75,
	"metrics": {
		"latency_p50": {"max_increase": 0.15, "critical": true, "weight": 1},
		"latency_p95": {"max_increase": 0.25, "critical": false, "weight": 1},
		"error_rate": {"max_increase": 0.01, "critical": true, "weight": 1},
	},
}

traffic(canary) := {"canary": {"requests": canary}, "stable": {"requests": 5000}}

metric(name, change, p) := {
	"metric": name, "route": "POST /api/checkout", "state": "ok",
	"change": change, "p_value": p, "why": null,
}

healthy := [metric("latency_p50", 0.01, 0.5), metric("latency_p95", 0.02, 0.7), metric("error_rate", 0, 1)]

final := {"index": 8, "planned": 8, "final": true, "level": 0.04}

interim := {"index": 5, "planned": 8, "final": false, "level": 0.0025}

decide(look, canary, metrics) := d if {
	d := data.k6gate_canary.decision.decision with data.k6gate_canary_config as config
		with input as {"look": look, "traffic": traffic(canary), "metrics": metrics}
}

test_healthy_promotes_at_the_end if {
	decide(final, 400, healthy) == "promote"
}

test_healthy_continues_before_the_end if {
	decide(interim, 200, healthy) == "continue"
}

test_a_clear_critical_failure_rolls_back_early if {
	decide(interim, 200, [metric("latency_p50", 0.3, 0.001)]) == "rollback"
}

test_a_failure_above_the_interim_level_waits if {
	decide(interim, 200, [metric("latency_p50", 0.3, 0.01)]) == "continue"
}

test_significant_but_allowed_passes if {
	decide(final, 400, [metric("latency_p50", 0.05, 0.0001)]) == "promote"
}

test_too_little_canary_traffic_is_inconclusive if {
	decide(final, 4, healthy) == "inconclusive"
	decide(final, 4, [metric("latency_p50", 0.5, 0.000001)]) == "inconclusive"
}

test_a_population_without_any_request_is_named if {
	t := {"canary": {"requests": 0, "windows_with_traffic": 0}, "stable": {"requests": 5000, "windows_with_traffic": 8}}
	d := data.k6gate_canary.decision with data.k6gate_canary_config as config
		with input as {"look": final, "traffic": t, "metrics": healthy}
	d.decision == "inconclusive"
	d.reasons == ["canary: no requests in any of the 8 windows (no series matches its selector?), 100 required"]
}

test_missing_data_is_inconclusive if {
	decide(final, 400, [object.union(metric("latency_p50", 0, 1), {"state": "no_data"})]) == "inconclusive"
}

test_a_metric_without_a_rule_is_inconclusive if {
	decide(final, 400, array.concat(healthy, [metric("latency_p99", 0, 1)])) == "inconclusive"
}

test_nothing_to_compare_is_inconclusive if {
	decide(final, 400, []) == "inconclusive"
}

test_errors_beside_a_stable_without_errors_roll_back if {
	decide(final, 400, [metric("error_rate", 0.02, 0.000001)]) == "rollback"
}

# Saturation where available: judged with a max_increase, else only reported; a signal
# without data does not count either way.
saturation_config := object.union(config, {"saturation": {
	"cpu": {"max_increase": 0.5, "critical": true, "weight": 1},
	"pool": {"weight": 1},
}})

saturation(name, change, p) := {
	"metric": sprintf("saturation_%s", [name]), "route": "all", "state": "ok",
	"change": change, "p_value": p, "why": null,
}

decide_saturated(metrics) := d if {
	d := data.k6gate_canary.decision with data.k6gate_canary_config as saturation_config
		with input as {"look": final, "traffic": traffic(400), "metrics": metrics}
}

test_a_critical_saturation_failure_rolls_back if {
	d := decide_saturated(array.concat(healthy, [saturation("cpu", 0.905, 0.001)]))
	d.decision == "rollback"
	count(d.reasons) == 1
	startswith(d.reasons[0], "critical: saturation_cpu of all: +90.5 % beyond the allowed +50 % (p = ")
}

test_a_reported_saturation_never_decides if {
	d := decide_saturated(array.concat(healthy, [saturation("pool", 2.995, 0.0001), saturation("cpu", 0.1, 0.5)]))
	d.decision == "promote"
	d.reasons == ["every check passed (4), score 100"]
	some c in data.k6gate_canary.checks with data.k6gate_canary_config as saturation_config
		with input as {"look": final, "traffic": traffic(400), "metrics": [saturation("pool", 2.995, 0.0001)]}
	c.status == "report"
	startswith(c.message, "saturation_pool: +299.5 % (reported, not judged; p = ")
}

test_saturation_without_data_is_not_missing if {
	unavailable := object.union(saturation("cpu", 0, 1), {"state": "no_data", "change": null, "why": "0 canary windows"})
	decide_saturated(array.concat(healthy, [unavailable])).decision == "promote"
}
