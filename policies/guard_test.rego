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
