# Unit tests of policies/guard.rego (`k6gate policy test policies`). Each test gives its own
# windows, so the shipped ones can change without breaking them.
package k6gate_guard_test

import rego.v1

# Monday 20:00 to Tuesday 06:00 UTC, and allow_override as given.
config(allow) := {"windows": {"staging": {
	"allow_override": allow,
	"segments": [{"start": 1200, "end": 1800}],
	"source": "policies/data/guard.yaml:3",
}}}

at(minute) := {"ns": 0, "time": "2026-12-07T00:00:00Z", "week_minute": minute}

decide(env, minute, allow, asked) := w if {
	w := data.k6gate_guard.window with data.k6gate_guard_config as config(allow)
		with input as {"environment": env, "now": at(minute), "override_requested": asked}
}

test_inside_a_window_is_allowed if {
	w := decide("staging", 1200, false, false)
	w.allowed
	w.restricted
	not w.overridden
}

test_the_window_end_is_excluded if {
	not decide("staging", 1800, false, false).allowed
	decide("staging", 1799, false, false).allowed
}

test_outside_is_refused_without_an_override if {
	w := decide("staging", 600, false, true)
	not w.allowed
	contains(w.reason, "the policy allows no override")
}

test_an_override_needs_the_policy_and_the_request if {
	decide("staging", 600, true, true).overridden
	not decide("staging", 600, true, false).allowed
	contains(decide("staging", 600, true, false).reason, "the run did not ask for one")
}

test_an_environment_without_windows_is_open if {
	w := decide("dev", 600, false, false)
	w.allowed
	not w.restricted
}

# ---- The live guard ----

live_cfg := {"windows": {}, "live": {"source": "policies/data/guard.yaml:40", "rules": {
	"target": {"error_rate": {"lower": 0.05, "stop": 0.25}, "p95_ms": {"lower": 500}},
	"observability": {"query_ms": {"pause": 1000, "stop": 5000}, "alert_delivery_s": {"pause": 30, "stop": 120}},
	"max_lowerings": 2,
	"cooldown_s": 10,
	"on_missing_data": "stop",
}}}

healthy := {"error_rate": 0.0, "p95_ms": 20, "in_flight": 3, "query_ms": 5, "rule_lag_s": 1, "rule_failures": 0}

fresh := {"lowerings": 0, "paused": false, "since_last_action_s": null, "scalable": true, "warming": false}

guard(reading, state) := d if {
	d := data.k6gate_guard.live with data.k6gate_guard_config as live_cfg
		with input as {"reading": reading, "state": state}
}

test_healthy_readings_leave_k6_alone if {
	d := guard(healthy, fresh)
	d.action == "none"
	count(d.breaches) == 0
}

test_an_error_rate_over_the_lower_limit_lowers_the_load if {
	d := guard(object.union(healthy, {"error_rate": 0.1}), fresh)
	d.action == "lower"
	contains(d.reason, "error_rate 0.1 over 0.05 (asks to lower)")
}

test_slow_alert_delivery_pauses_then_stops if {
	guard(object.union(healthy, {"alert_delivery_s": 0.2}), fresh).action == "none"
	d := guard(object.union(healthy, {"alert_delivery_s": 45}), fresh)
	d.action == "pause"
	contains(d.reason, "alert_delivery_s 45 over 30 (asks to pause)")
	guard(object.union(healthy, {"alert_delivery_s": 200}), fresh).action == "stop"
}

test_the_most_severe_breach_wins if {
	d := guard(object.union(healthy, {"error_rate": 0.5, "p95_ms": 900}), fresh)
	d.action == "stop"
	contains(d.reason, "error_rate 0.5 over 0.25")
}

test_lowering_past_the_maximum_stops if {
	d := guard(object.union(healthy, {"error_rate": 0.1}), object.union(fresh, {"lowerings": 2, "since_last_action_s": 30}))
	d.action == "stop"
	contains(d.reason, "max_lowerings 2")
}

test_the_last_lowering_allowed_gets_its_cooldown_before_a_stop if {
	after_last := object.union(fresh, {"lowerings": 2, "since_last_action_s": 3})
	guard(object.union(healthy, {"error_rate": 0.1}), after_last).action == "none"
}

test_a_breach_waits_out_the_cooldown_but_a_stop_does_not if {
	cool := object.union(fresh, {"lowerings": 1, "since_last_action_s": 3})
	guard(object.union(healthy, {"error_rate": 0.1}), cool).action == "none"
	guard(object.union(healthy, {"error_rate": 0.3}), cool).action == "stop"
}

test_a_scenario_k6_cannot_scale_is_stopped_instead if {
	d := guard(object.union(healthy, {"p95_ms": 600}), object.union(fresh, {"scalable": false}))
	d.action == "stop"
	contains(d.reason, "cannot be scaled live")
}

test_a_slow_prometheus_pauses_and_the_run_resumes_when_it_recovers if {
	guard(object.union(healthy, {"query_ms": 1500}), fresh).action == "pause"
	paused := object.union(fresh, {"paused": true})
	guard(object.union(healthy, {"query_ms": 1500}), paused).action == "none"
	guard(healthy, paused).action == "resume"
}

test_missing_target_data_stops_fail_closed if {
	d := guard(object.union(healthy, {"error_rate": null}), fresh)
	d.action == "stop"
	contains(d.reason, "error_rate missing")
}

test_missing_target_data_while_paused_is_expected if {
	d := guard(object.union(healthy, {"error_rate": null, "p95_ms": null}), object.union(fresh, {"paused": true}))
	d.action == "resume"
}

test_missing_target_data_in_the_first_window_is_not_yet_a_fault if {
	guard(object.union(healthy, {"error_rate": null}), object.union(fresh, {"warming": true})).action == "none"
	guard(object.union(healthy, {"error_rate": 0.3}), object.union(fresh, {"warming": true})).action == "stop"
}
