# k6gate's adequacy rules: is this test representative of production?
#
# Input (built by k6gate, src/adequacy/judge.rs):
#   environment: the environment the run loaded
#   declared:    its `production:` block (environments/<env>.yaml): users, data_rows, data_bytes,
#                cache_after_deploy (cold|warm), connections, third_party_calls [names],
#                saturation_scenario (bool); an absent size is null
#   measured:    what k6gate measured, null where it could not: users (k6's peak VUs),
#                connections (the target's peak open connections scraped while k6 ran, else
#                k6's peak VUs: one keep-alive connection each; k6_peak_vus and
#                target_connections beside it, text.connections.source says which), data_rows and data_bytes (the
#                target's shop_db_rows/shop_db_bytes), cache_at_start (cold|warm, from
#                shop_cache_entries before the run), cache_hit_rate (hits over reads during the
#                run), third_party_calls {name: calls during the
#                run} (null: the target does not count them), saturation_scenario (true:
#                this run's or a recent saturation run's steps reached the knee; false: none
#                did; null: the history could not be read)
#   text:        {aspect: {declared, measured}}: the numbers as a reader writes them (10K, 1 GB)
#   why:         {aspect: reason}: why a measurement is missing
# Data: data.k6gate_adequacy_config (policies/data/adequacy.yaml, section `adequacy`):
#   min_scale:   a measured size at or above this share of the declared one is representative
#   severity:    {default, environments: {env: warn|fail}}: what a finding is where
#
# Output: `findings`, one per declared aspect: {aspect, status (pass|warn|fail), unknown,
# declared, measured, scale, message}. A missing measurement is never representative.
package k6gate_adequacy

import rego.v1

config := object.get(data, "k6gate_adequacy_config", {})

min_scale := object.get(config, "min_scale", 0.5)

severities := object.get(config, "severity", {})

severity := object.get(object.get(severities, "environments", {}), input.environment, object.get(severities, "default", "warn"))

nouns := {"users": "users", "connections": "connections", "data_rows": "rows", "data_bytes": ""}

text(aspect, side) := object.get(object.get(object.get(input, "text", {}), aspect, {}), side, "?")

why(aspect) := object.get(object.get(input, "why", {}), aspect, "not measured")

finding(aspect, status, unknown, scale, message) := {
	"aspect": aspect,
	"status": status,
	"unknown": unknown,
	"declared": object.get(input.declared, aspect, null),
	"measured": object.get(input.measured, aspect, null),
	"scale": scale,
	"message": message,
}

sized(aspect, scale) := sprintf("%s of %s %s (scale %s%s)", [text(aspect, "measured"), text(aspect, "declared"), nouns[aspect], format_scale(scale), source(aspect)]) if {
	aspect in {"users", "connections"}
}

# Where a measurement came from, when there was a choice (connections: the target's peak or
# k6's VUs): "; peak open at the target, k6: 10 VUs".
source(aspect) := sprintf("; %s", [s]) if {
	s := object.get(object.get(object.get(input, "text", {}), aspect, {}), "source", null)
	is_string(s)
} else := ""

sized(aspect, scale) := sprintf("database %s %s vs %s in production (scale %s)", [text(aspect, "measured"), nouns[aspect], text(aspect, "declared"), format_scale(scale)]) if {
	aspect in {"data_rows", "data_bytes"}
}

# Two significant digits are enough to read a scale.
format_scale(s) := sprintf("%v", [round(s * 100) / 100]) if s >= 0.1

format_scale(s) := sprintf("%v", [round(s * 1000) / 1000]) if {
	s < 0.1
	s >= 0.01
}

format_scale(s) := sprintf("%v", [round(s * 100000) / 100000]) if s < 0.01

# Sizes: users, connections, rows, bytes.
findings contains f if {
	some aspect, _ in nouns
	d := object.get(input.declared, aspect, null)
	d != null
	m := object.get(input.measured, aspect, null)
	m == null
	f := finding(aspect, severity, true, null, sprintf("%s unknown (production: %s): %s", [aspect, text(aspect, "declared"), why(aspect)]))
}

findings contains f if {
	some aspect, _ in nouns
	d := object.get(input.declared, aspect, null)
	d != null
	m := object.get(input.measured, aspect, null)
	m != null
	scale := m / d
	status := object.get({true: "pass"}, scale >= min_scale, severity)
	f := finding(aspect, status, false, scale, sized(aspect, scale))
}

# The cache after a deploy.
cache_message := {
	["cold", "cold"]: "cache cold at the start, as production's is after a deploy",
	["cold", "warm"]: "cache warm while production is cold after a deploy",
	["warm", "warm"]: "cache warm at the start, as production's is after a deploy",
	["warm", "cold"]: "cache cold at the start while production's is warm after a deploy: pessimistic, not unrepresentative",
}

findings contains f if {
	input.measured.cache_at_start == null
	f := finding("cache", severity, true, null, sprintf("cache state unknown (production: %s after a deploy): %s", [input.declared.cache_after_deploy, why("cache")]))
}

findings contains f if {
	m := input.measured.cache_at_start
	m != null
	d := input.declared.cache_after_deploy
	status := object.get({true: severity}, [d, m] == ["cold", "warm"], "pass")
	message := concat("", [cache_message[[d, m]], hit_rate_note])
	f := object.union(finding("cache", status, false, null, message), {"declared": d, "measured": m})
}

# The hit rate during the run, when the target counts hits and misses.
hit_rate_note := sprintf(" (hit rate %v %% during the run)", [round(r * 100)]) if {
	r := object.get(input.measured, "cache_hit_rate", null)
	r != null
} else := ""

# Third parties production calls.
findings contains f if {
	some name in input.declared.third_party_calls
	input.measured.third_party_calls == null
	f := object.union(
		finding(concat(":", ["third_party", name]), severity, true, null, sprintf("calls to %s unknown: %s", [name, why("third_party_calls")])),
		{"declared": name, "measured": null},
	)
}

findings contains f if {
	some name in input.declared.third_party_calls
	is_object(input.measured.third_party_calls)
	calls := object.get(input.measured.third_party_calls, name, 0)
	status := object.get({true: "pass"}, calls > 0, severity)
	message := object.get(
		{true: sprintf("%v calls to %s during the run", [calls, name])},
		calls > 0,
		sprintf("no calls to %s during the run, while production makes them", [name]),
	)
	f := object.union(finding(concat(":", ["third_party", name]), status, false, null, message), {"declared": name, "measured": calls})
}

# A saturation scenario, when production's capacity must be shown.
findings contains f if {
	input.declared.saturation_scenario == true
	input.measured.saturation_scenario == null
	f := finding("saturation_scenario", severity, true, null, sprintf("saturation scenario unknown: %s", [why("saturation_scenario")]))
}

findings contains f if {
	input.declared.saturation_scenario == true
	m := input.measured.saturation_scenario
	m != null
	status := object.get({true: "pass"}, m, severity)
	message := object.get(
		{true: sprintf("a saturation scenario reached the knee: %s", [text("saturation_scenario", "measured")])},
		m,
		sprintf("no saturation scenario reached the knee, so production's capacity is not shown: %s", [why("saturation_scenario")]),
	)
	f := finding("saturation_scenario", status, false, null, message)
}
