# Unit tests of policies/adequacy.rego (`k6gate policy test policies`). Each test gives its own
# configuration, so the shipped one can change without breaking them.
package k6gate_adequacy_test

import rego.v1

config := {"min_scale": 0.5, "severity": {"default": "warn", "environments": {"prod-sim": "fail"}}}

declared := {
	"users": 100000, "data_rows": 1000000, "data_bytes": null, "cache_after_deploy": "cold",
	"connections": 200, "third_party_calls": ["payment"], "saturation_scenario": false,
}

small := {
	"users": 10, "connections": 10, "data_rows": 10000, "data_bytes": null, "cache_at_start": "warm",
	"third_party_calls": {"payment": 0}, "saturation_scenario": null,
}

text := {
	"users": {"declared": "100K", "measured": "10"},
	"connections": {"declared": "200", "measured": "10"},
	"data_rows": {"declared": "1M", "measured": "10K"},
}

judge(env, measured) := out if {
	fs := data.k6gate_adequacy.findings with data.k6gate_adequacy_config as config
		with input as {"environment": env, "declared": declared, "measured": measured, "text": text, "why": {}}
	out := {f.aspect: f | some f in fs}
}

test_a_small_warm_test_is_not_representative_and_fails_prod_sim if {
	f := judge("prod-sim", small)
	f.users.status == "fail"
	f.data_rows.status == "fail"
	f.data_rows.message == "database 10K rows vs 1M in production (scale 0.01)"
	f.connections.message == "10 of 200 connections (scale 0.05)"
	f.cache.status == "fail"
	f.cache.message == "cache warm while production is cold after a deploy"
	f["third_party:payment"].status == "fail"
}

test_the_same_run_only_warns_elsewhere if {
	f := judge("staging", small)
	f.users.status == "warn"
	f.cache.status == "warn"
}

test_a_representative_run_passes if {
	f := judge("prod-sim", object.union(small, {
		"users": 60000, "connections": 200, "data_rows": 1000000, "cache_at_start": "cold",
		"third_party_calls": {"payment": 42},
	}))
	every a in ["users", "connections", "data_rows", "cache", "third_party:payment"] {
		f[a].status == "pass"
	}
	f.data_rows.scale == 1
	f["third_party:payment"].message == "42 calls to payment during the run"
}

test_the_hit_rate_is_told_when_measured if {
	f := judge("prod-sim", object.union(small, {"cache_hit_rate": 0.984}))
	f.cache.message == "cache warm while production is cold after a deploy (hit rate 98 % during the run)"
}

test_unknown_is_never_representative if {
	unknown := {k: null | some k, _ in small}
	f := judge("prod-sim", unknown)
	every a in ["users", "connections", "data_rows", "cache", "third_party:payment"] {
		f[a].status == "fail"
		f[a].unknown
	}
	not f.data_bytes
	not f.saturation_scenario
}

test_a_declared_saturation_scenario_is_checked if {
	fs := data.k6gate_adequacy.findings with data.k6gate_adequacy_config as config
		with input as {"environment": "dev", "declared": object.union(declared, {"saturation_scenario": true}), "measured": small, "text": text, "why": {"saturation_scenario": "no step-load yet"}}
	f := {x.aspect: x | some x in fs}
	f.saturation_scenario.status == "warn"
	f.saturation_scenario.unknown
	contains(f.saturation_scenario.message, "no step-load yet")
}

test_a_measured_saturation_scenario_says_which_run_showed_it if {
	sat := object.union(declared, {"saturation_scenario": true})
	shown := {"saturation_scenario": {"measured": "run r1 (saturation): capacity 84.0 req/s, knee 4.7 VUs reached"}}
	yes := {x.aspect: x | some x in data.k6gate_adequacy.findings with data.k6gate_adequacy_config as config
		with input as {"environment": "prod-sim", "declared": sat, "measured": object.union(small, {"saturation_scenario": true}), "text": object.union(text, shown)}}
	yes.saturation_scenario.status == "pass"
	yes.saturation_scenario.message == "a saturation scenario reached the knee: run r1 (saturation): capacity 84.0 req/s, knee 4.7 VUs reached"
	no := {x.aspect: x | some x in data.k6gate_adequacy.findings with data.k6gate_adequacy_config as config
		with input as {"environment": "prod-sim", "declared": sat, "measured": object.union(small, {"saturation_scenario": false}), "text": text, "why": {"saturation_scenario": "no run reached it"}}}
	no.saturation_scenario.status == "fail"
	not no.saturation_scenario.unknown
	no.saturation_scenario.message == "no saturation scenario reached the knee, so production's capacity is not shown: no run reached it"
}

test_the_connections_say_where_they_were_measured if {
	src := {"connections": {"declared": "200", "measured": "100", "source": "peak open at the target, k6: 10 VUs"}}
	fs := data.k6gate_adequacy.findings with data.k6gate_adequacy_config as config
		with input as {"environment": "prod-sim", "declared": declared, "measured": object.union(small, {"connections": 100}), "text": object.union(text, src)}
	f := {x.aspect: x | some x in fs}
	f.connections.message == "100 of 200 connections (scale 0.5; peak open at the target, k6: 10 VUs)"
}

test_the_scale_bound_is_inclusive if {
	f := judge("prod-sim", object.union(small, {"connections": 100}))
	f.connections.status == "pass"
	f.users.status == "fail"
}
