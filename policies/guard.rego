# k6gate's load-test guard rules: may a load test start against this environment now?
#
# Input (built by k6gate, src/guard/policy.rs; the clock is read by the CLI, never here):
#   environment:        the environment to load
#   now:                {ns, time (RFC 3339, UTC), week_minute (minutes since Monday 00:00 UTC)}
#   override_requested: the run asked to start outside the windows (`run --ignore-window`)
# Data: data.k6gate_guard_config (policies/data/guard.yaml, section `guard`):
#   windows[env]: {allow_override, segments: [{start, end}] (minutes of the week, UTC), source}
#
# Output: `window` = {allowed, restricted, overridden, reason}. An environment without
# windows may be loaded at any time; one with windows only inside them, unless its policy
# allows an override and the run asked for one.
package k6gate_guard

import rego.v1

windows := object.get(object.get(data, "k6gate_guard_config", {}), "windows", {})

restricted if windows[input.environment]

open if {
	some s in windows[input.environment].segments
	s.start <= input.now.week_minute
	input.now.week_minute < s["end"]
}

override if {
	input.override_requested == true
	windows[input.environment].allow_override == true
}

window := {"allowed": true, "restricted": false, "overridden": false, "reason": reason} if {
	not restricted
	reason := sprintf("%s has no off-peak windows: it may be loaded at any time", [input.environment])
} else := {"allowed": true, "restricted": true, "overridden": false, "reason": reason} if {
	open
	reason := sprintf("%s is inside an off-peak window (%s)", [input.now.time, windows[input.environment].source])
} else := {"allowed": true, "restricted": true, "overridden": true, "reason": reason} if {
	override
	reason := sprintf(
		"%s is outside the off-peak windows of %s (%s); started anyway: the policy allows an override and the run asked for it",
		[input.now.time, input.environment, windows[input.environment].source],
	)
} else := {"allowed": false, "restricted": true, "overridden": false, "reason": reason} if {
	not_allowed := "the policy allows no override"
	why := object.get({true: "the policy allows an override, but the run did not ask for one"}, windows[input.environment].allow_override, not_allowed)
	reason := sprintf(
		"%s is outside the off-peak windows of %s (%s; UTC); %s",
		[input.now.time, input.environment, windows[input.environment].source, why],
	)
}
