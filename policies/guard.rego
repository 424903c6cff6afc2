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

# ---- The live guard beside k6 (src/guard/live.rs asks every guard.live.interval_s) ----
#
# Input:
#   reading: {error_rate, p95_ms, in_flight, query_ms, rule_lag_s, rule_failures,
#            alert_delivery_s}: numbers, or null/absent when missing (no answer, no series;
#            alert_delivery_s only when the policy holds it to a limit)
#   state:   {lowerings (done so far), paused, since_last_action_s (null before the first),
#             scalable (k6 runs an externally-controlled scenario: lower and pause work),
#             warming (the test is younger than the readings' window)}
# Data: data.k6gate_guard_config.live = {rules (guard.live), source (file:line)}
#
# Output: `live` = {action: none | lower | pause | resume | stop, reason, breaches: [{reading,
# value, limit, wants}]}. The most severe breach wins; lowering past max_lowerings, or on a
# scenario k6 cannot scale, stops; a breach asking to lower waits out the cooldown after the
# last action (the lowered load gets its time to show, even after the last lowering allowed); a paused run resumes once nothing is breached; a target reading that is
# missing stops unless on_missing_data is continue (while paused the target has no traffic,
# and in the first window the rates may not exist yet: nothing to read).

live_config := object.get(object.get(data, "k6gate_guard_config", {}), "live", null)

live_rules := live_config.rules

severity := {"none": 0, "resume": 0, "lower": 1, "pause": 2, "stop": 3}

live_breaches contains b if {
	some section in ["target", "observability"]
	some name, levels in object.get(live_rules, section, {})
	value := object.get(input.reading, name, null)
	value != null
	some wants, limit in levels
	value > limit
	b := {"reading": name, "value": value, "limit": limit, "wants": wants}
}

live_breaches contains b if {
	live_rules.on_missing_data == "stop"
	not input.state.paused
	not input.state.warming
	some name, _ in live_rules.target
	object.get(input.reading, name, null) == null
	b := {"reading": name, "value": null, "limit": null, "wants": "stop"}
}

live_wanted := max({severity[b.wants] | some b in live_breaches}) if count(live_breaches) > 0

live_over := [sprintf("%s %v over %v (asks to %s)", [b.reading, b.value, b.limit, b.wants]) |
	some b in live_breaches
	severity[b.wants] == live_wanted
	b.value != null
]

live_missing := [sprintf("%s missing (asks to stop)", [b.reading]) |
	some b in live_breaches
	b.value == null
]

live_worst := sort(array.concat(live_over, live_missing))

live_why := concat("; ", live_worst)

cooling if {
	input.state.since_last_action_s != null
	input.state.since_last_action_s < live_rules.cooldown_s
}

live_action := {"action": "none", "reason": "no guard.live policy: nothing to guard by"} if {
	live_config == null
} else := {"action": "stop", "reason": live_why} if {
	live_wanted == 3
} else := {"action": "stop", "reason": reason} if {
	live_wanted == 2
	not input.state.scalable
	reason := sprintf("%s; k6's scenario cannot be paused live: stopped instead", [live_why])
} else := {"action": "none", "reason": reason} if {
	live_wanted == 2
	input.state.paused
	reason := sprintf("%s; already paused", [live_why])
} else := {"action": "pause", "reason": live_why} if {
	live_wanted == 2
} else := {"action": "stop", "reason": reason} if {
	live_wanted == 1
	not input.state.scalable
	reason := sprintf("%s; k6's scenario cannot be scaled live: stopped instead", [live_why])
} else := {"action": "none", "reason": reason} if {
	live_wanted == 1
	cooling
	reason := sprintf("%s; waiting: %vs since the last action, cooldown %vs", [live_why, input.state.since_last_action_s, live_rules.cooldown_s])
} else := {"action": "stop", "reason": reason} if {
	live_wanted == 1
	input.state.lowerings >= live_rules.max_lowerings
	reason := sprintf("%s; lowered %d time(s) already (max_lowerings %d, %s): stopped", [live_why, input.state.lowerings, live_rules.max_lowerings, live_config.source])
} else := {"action": "lower", "reason": live_why} if {
	live_wanted == 1
} else := {"action": "resume", "reason": "nothing breached: resuming"} if {
	input.state.paused
} else := {"action": "none", "reason": "within every limit"}

live := object.union(live_action, {"breaches": [b | some b in live_breaches]})
