# Unit tests for policies/k6gate.rego. Run with `k6gate policy test policies`.
#
# Every test builds its own input and policy data inline (`with input as ...` and
# `with data.k6gate_config as ...`), shaped the way k6gate builds them (src/policy/verdict.rs
# `input`, src/policy/data.rs `load`), so the tests do not depend on the shipped YAML values.
package k6gate_test

import data.k6gate
import rego.v1

# ---------------------------------------------------------------------------------------
# Fixtures

day_ns := 86400000000000

# 2026-12-01T00:00:00Z
now_ns := 1796083200000000000

src(file, line) := {"file": file, "line": line}

# What data.rs produces from policies/data with no tests, windows or waivers.
base_config := {
	"sla": {
		"defaults": {"p95_ms": 500, "error_rate": 0.01, "_source": src("policies/data/slas.yaml", 7)},
		"tests": [],
	},
	"budgets": {
		"defaults": {
			"p95_ms": 0.10,
			"p99_ms": 0.10,
			"error_rate": 0.005,
			"requests_per_s": 0.10,
			"_source": src("policies/data/budgets.yaml", 11),
		},
		"significance": {"alpha": 0.01, "noise_floor": 0.05, "confidence": 0.95},
		"tests": [],
	},
	"migration_windows": [],
	"waivers": [],
}

config_with_sla_tests(entries) := object.union(base_config, {"sla": {"tests": entries}})

config_with_budget_tests(entries) := object.union(base_config, {"budgets": {"tests": entries}})

config_with_windows(windows) := object.union(base_config, {"migration_windows": windows})

config_with_waivers(waivers) := object.union(base_config, {"waivers": waivers})

identity(version) := {
	"source": sprintf("runs/%s.json", [version]),
	"test_name": "checkout",
	"environment": "staging",
	"deployment_version": version,
	"git_commit": null,
	"start": null,
	"complete": true,
	"issues": [],
	"trimmed_s": 30,
}

candidate_run := identity("v1.1.0")

baseline_run := identity("v1.0.0")

# An input as verdict.rs builds it; `previous` is null when there is no previous run.
mk_input(comparisons) := {
	"test": "checkout",
	"environment": "staging",
	"now": "2026-12-01T00:00:00.000Z",
	"now_ns": now_ns,
	"phase": "steady-state",
	"run": candidate_run,
	"baseline": baseline_run,
	"comparisons": comparisons,
	"previous": null,
}

mk_input_prev(comparisons, previous_comparisons) := object.union(
	mk_input(comparisons),
	{"previous": {"baseline": identity("v1.0.5"), "comparisons": previous_comparisons}},
)

# A sound comparison (state ok). ci is the Hodges-Lehmann interval: relative for latency
# and throughput, absolute for the error rate.
ok_cmp(group, metric, baseline, candidate, p, lo, hi) := {
	"group": group,
	"metric": metric,
	"state": "ok",
	"baseline": baseline,
	"candidate": candidate,
	"abs_change": candidate - baseline,
	"rel_change": (candidate / baseline) - 1,
	"p_value": p,
	"effect": (lo + hi) / 2,
	"ci_low": lo,
	"ci_high": hi,
	"baseline_samples": 120,
	"candidate_samples": 120,
}

# A comparison that could not be made; the numbers are null as serde writes them.
bad_cmp(group, metric, state, baseline, candidate) := {
	"group": group,
	"metric": metric,
	"state": state,
	"reason": sprintf("%s (test fixture)", [state]),
	"baseline": baseline,
	"candidate": candidate,
	"abs_change": null,
	"rel_change": null,
	"p_value": null,
	"effect": null,
	"ci_low": null,
	"ci_high": null,
	"baseline_samples": 0,
	"candidate_samples": 0,
}

# p95 of "all": +5 %, well within budget and SLA.
p95_fine := ok_cmp("all", "p95_ms", 300, 315, 0.3, -0.01, 0.08)

# p95 of "all": +20 %, significant and clear of the noise floor, under the 500 ms SLA.
p95_regressed := ok_cmp("all", "p95_ms", 300, 360, 0.001, 0.15, 0.25)

# p95 of "all": over the 500 ms SLA but within budget (+4 %).
p95_over_sla := ok_cmp("all", "p95_ms", 500, 520, 0.3, -0.01, 0.08)

window(start_ns, expires_ns) := {
	"id": "MW-1",
	"test": "checkout",
	"environments": ["staging"],
	"metrics": ["p95_ms", "p99_ms"],
	"extra_regression": 0.25,
	"ceiling": {"p95_ms": 450},
	"owner": "team-payments",
	"reason": "moving the cart to the new database",
	"start": "window-start",
	"expires": "window-expires",
	"start_ns": start_ns,
	"expires_ns": expires_ns,
	"_source": src("policies/data/migration-windows.yaml", 12),
}

open_window := window(now_ns - (5 * day_ns), now_ns + (10 * day_ns))

waiver(overrides) := object.union(
	{
		"id": "W-1",
		"test": "checkout",
		"metric": "p95_ms",
		"version": "v1.1.0",
		"justification": "known slow path until the cache fix in v1.1.1",
		"requested_by": "alice",
		"approved_by": "bob",
		"created": "waiver-created",
		"expires": "waiver-expires",
		"created_ns": now_ns - (2 * day_ns),
		"expires_ns": now_ns + (5 * day_ns),
		"_source": src("policies/data/waivers.yaml", 12),
	},
	overrides,
)

# The result with this id (undefined when there is none).
res(rs, id) := r if {
	some r in rs
	r.id == id
}

has_result(rs, id) if {
	some r in rs
	r.id == id
}

status_of(rs, id) := res(rs, id).status

ignored_with(ig, what, fragment) if {
	some i in ig
	i.what == what
	contains(i.reason, fragment)
}

# ---------------------------------------------------------------------------------------
# SLAs

test_sla_all_pass if {
	rs := k6gate.results with input as mk_input([p95_fine]) with data.k6gate_config as base_config
	r := res(rs, "sla/all/p95_ms")
	r.status == "pass"
	r.limit == 500
	r.source == src("policies/data/slas.yaml", 7)
}

test_sla_all_fail if {
	rs := k6gate.results with input as mk_input([p95_over_sla]) with data.k6gate_config as base_config
	r := res(rs, "sla/all/p95_ms")
	r.status == "fail"
	r.limit == 500
}

test_sla_test_entry_overrides_defaults if {
	entry := {"test": "checkout", "p95_ms": 300, "_source": src("slas.yaml", 20)}
	cfg := config_with_sla_tests([entry])
	rs := k6gate.results with input as mk_input([p95_fine]) with data.k6gate_config as cfg
	r := res(rs, "sla/all/p95_ms")
	r.status == "fail" # 315 ms against 300 ms, though the 500 ms default would pass
	r.limit == 300
	r.source == src("slas.yaml", 20)
}

test_sla_entry_for_other_test_not_applied if {
	entry := {"test": "search", "p95_ms": 100, "_source": src("slas.yaml", 20)}
	cfg := config_with_sla_tests([entry])
	rs := k6gate.results with input as mk_input([p95_fine]) with data.k6gate_config as cfg
	r := res(rs, "sla/all/p95_ms")
	r.status == "pass"
	r.limit == 500
}

test_sla_environment_entry_beats_test_entry if {
	# The environment-specific entry comes first, so list order cannot be what picks it.
	env_entry := {"test": "checkout", "environment": "staging", "p95_ms": 450, "_source": src("slas.yaml", 20)}
	test_entry := {"test": "checkout", "p95_ms": 300, "_source": src("slas.yaml", 25)}
	cfg := config_with_sla_tests([env_entry, test_entry])
	rs := k6gate.results with input as mk_input([ok_cmp("all", "p95_ms", 380, 400, 0.3, -0.01, 0.08)])
		with data.k6gate_config as cfg
	r := res(rs, "sla/all/p95_ms")
	r.status == "pass"
	r.limit == 450
	r.source == src("slas.yaml", 20)
}

test_sla_entry_for_other_environment_not_applied if {
	entry := {"test": "checkout", "environment": "prod-sim", "p95_ms": 100, "_source": src("slas.yaml", 20)}
	cfg := config_with_sla_tests([entry])
	rs := k6gate.results with input as mk_input([p95_fine]) with data.k6gate_config as cfg
	res(rs, "sla/all/p95_ms").limit == 500
}

test_sla_group_entry_applies_only_to_its_group if {
	entry := {"test": "checkout", "group": "POST checkout", "p95_ms": 200, "_source": src("slas.yaml", 20)}
	cfg := config_with_sla_tests([entry])
	comparisons := [
		ok_cmp("all", "p95_ms", 240, 250, 0.3, -0.01, 0.08),
		ok_cmp("POST checkout", "p95_ms", 240, 250, 0.3, -0.01, 0.08),
		ok_cmp("GET cart", "p95_ms", 240, 250, 0.3, -0.01, 0.08),
	]
	rs := k6gate.results with input as mk_input(comparisons) with data.k6gate_config as cfg
	group := res(rs, "sla/POST checkout/p95_ms")
	group.status == "fail"
	group.limit == 200
	whole := res(rs, "sla/all/p95_ms")
	whole.status == "pass"
	whole.limit == 500
	not has_result(rs, "sla/GET cart/p95_ms") # no group entry, and defaults cover "all" only
}

test_sla_missing_candidate_fails if {
	c := bad_cmp("all", "p95_ms", "missing-in-candidate", 300, null)
	rs := k6gate.results with input as mk_input([c]) with data.k6gate_config as base_config
	r := res(rs, "sla/all/p95_ms")
	r.status == "fail"
	contains(r.summary, "missing-in-candidate")
}

# ---------------------------------------------------------------------------------------
# Regression budgets

test_budget_within_passes if {
	rs := k6gate.results with input as mk_input([p95_fine]) with data.k6gate_config as base_config
	r := res(rs, "budget/all/p95_ms")
	r.status == "pass"
	r.budget == 0.10
}

test_budget_over_and_significant_fails if {
	rs := k6gate.results with input as mk_input([p95_regressed]) with data.k6gate_config as base_config
	status_of(rs, "budget/all/p95_ms") == "fail"
}

test_budget_over_but_not_significant_warns if {
	# +20 %, but p = 0.2 and the interval reaches below zero: noise.
	c := ok_cmp("all", "p95_ms", 300, 360, 0.2, -0.02, 0.30)
	rs := k6gate.results with input as mk_input([c]) with data.k6gate_config as base_config
	status_of(rs, "budget/all/p95_ms") == "warn"
}

test_budget_over_significant_but_within_noise_floor_warns if {
	# p < alpha, but ci_low 0.03 does not clear the 0.05 noise floor.
	c := ok_cmp("all", "p95_ms", 300, 360, 0.001, 0.03, 0.30)
	rs := k6gate.results with input as mk_input([c]) with data.k6gate_config as base_config
	status_of(rs, "budget/all/p95_ms") == "warn"
}

test_error_rate_budget_is_absolute_within if {
	# 0.1 % -> 0.4 %: +300 % relative, but only +0.3 pp absolute, under the 0.5 pp budget.
	c := ok_cmp("all", "error_rate", 0.001, 0.004, 0.0001, 0.002, 0.004)
	rs := k6gate.results with input as mk_input([c]) with data.k6gate_config as base_config
	r := res(rs, "budget/all/error_rate")
	r.status == "pass"
	r.budget == 0.005
}

test_error_rate_budget_is_absolute_over_fails if {
	# 0.1 % -> 0.9 %: +0.8 pp, significant, interval clear of zero.
	c := ok_cmp("all", "error_rate", 0.001, 0.009, 0.0001, 0.006, 0.010)
	rs := k6gate.results with input as mk_input([c]) with data.k6gate_config as base_config
	status_of(rs, "budget/all/error_rate") == "fail"
	status_of(rs, "sla/all/error_rate") == "pass" # 0.9 % < 1 %
}

test_throughput_significant_drop_fails if {
	# 100 -> 80 req/s: -20 %, ci_high -0.15 < -noise_floor.
	c := ok_cmp("all", "requests_per_s", 100, 80, 0.001, -0.25, -0.15)
	rs := k6gate.results with input as mk_input([c]) with data.k6gate_config as base_config
	status_of(rs, "budget/all/requests_per_s") == "fail"
}

test_throughput_increase_passes if {
	c := ok_cmp("all", "requests_per_s", 100, 130, 0.001, 0.25, 0.35)
	rs := k6gate.results with input as mk_input([c]) with data.k6gate_config as base_config
	status_of(rs, "budget/all/requests_per_s") == "pass"
}

test_budget_per_test_override if {
	entry := {"test": "checkout", "p95_ms": 0.30, "_source": src("budgets.yaml", 20)}
	other := {"test": "search", "p95_ms": 0.01, "_source": src("budgets.yaml", 25)}
	cfg := config_with_budget_tests([entry, other])
	rs := k6gate.results with input as mk_input([p95_regressed]) with data.k6gate_config as cfg
	r := res(rs, "budget/all/p95_ms")
	r.status == "pass" # +20 % within the test's 30 %
	r.budget == 0.30
	r.source == src("budgets.yaml", 20)
}

test_insufficient_data_fails_closed if {
	c := bad_cmp("all", "p95_ms", "insufficient-data", 300, 320)
	rs := k6gate.results with input as mk_input([c]) with data.k6gate_config as base_config
	r := res(rs, "budget/all/p95_ms")
	r.status == "fail"
	contains(r.summary, "insufficient-data")
}

test_missing_in_baseline_on_group_warns if {
	c := bad_cmp("POST checkout", "p95_ms", "missing-in-baseline", null, 120)
	rs := k6gate.results with input as mk_input([c]) with data.k6gate_config as base_config
	status_of(rs, "budget/POST checkout/p95_ms") == "warn"
}

test_missing_in_baseline_on_all_fails if {
	c := bad_cmp("all", "p95_ms", "missing-in-baseline", null, 120)
	rs := k6gate.results with input as mk_input([c]) with data.k6gate_config as base_config
	status_of(rs, "budget/all/p95_ms") == "fail"
}

# ---------------------------------------------------------------------------------------
# Whole-run guards

test_incomplete_run_fails if {
	inp := object.union(
		mk_input([p95_fine]),
		{"run": {"complete": false, "issues": ["run aborted by threshold", "no end time"]}},
	)
	rs := k6gate.results with input as inp with data.k6gate_config as base_config
	r := res(rs, "run-incomplete")
	r.status == "fail"
	r.summary == "run aborted by threshold; no end time"
	not has_result(rs, "baseline-incomplete")
}

test_identity_mismatch_fails if {
	inp := object.union(mk_input([p95_fine]), {"run": {"test_name": "search"}})
	rs := k6gate.results with input as inp with data.k6gate_config as base_config
	status_of(rs, "identity/candidate/test") == "fail"
	not has_result(rs, "identity/baseline/test")
	not has_result(rs, "identity/candidate/environment")
}

test_identity_match_has_no_identity_results if {
	rs := k6gate.results with input as mk_input([p95_fine]) with data.k6gate_config as base_config
	count([r | some r in rs; r.kind == "data"]) == 0
}

# ---------------------------------------------------------------------------------------
# Migration windows

# Previous run inside the window: the candidate is no worse than it.
prev_steady := [ok_cmp("all", "p95_ms", 355, 360, 0.4, -0.02, 0.04)]

test_window_extra_allowance_turns_fail_into_pass if {
	# Without the window the +20 % regression fails ...
	status_of(k6gate.results, "budget/all/p95_ms") == "fail" with input as mk_input_prev([p95_regressed], prev_steady)
		with data.k6gate_config as base_config

	# ... with it the budget is 10 % + 25 % and it passes, listed as an allowed exception.
	cfg := config_with_windows([open_window])
	inp := mk_input_prev([p95_regressed], prev_steady)
	rs := k6gate.results with input as inp with data.k6gate_config as cfg
	ex := k6gate.exceptions with input as inp with data.k6gate_config as cfg
	r := res(rs, "budget/all/p95_ms")
	r.status == "pass"
	r.budget == 0.35
	status_of(rs, "window/MW-1/ceiling/all/p95_ms") == "pass"
	status_of(rs, "window/MW-1/ratchet/p95_ms") == "pass"
	some e in ex
	e.type == "allowed"
	e.result == "budget/all/p95_ms"
	e.by == "MW-1"
	e.owner == "team-payments"
	e.expires == "window-expires"
}

test_window_ceiling_exceeded_fails if {
	# +17.5 % is within the window's 35 %, but 470 ms is over the 450 ms ceiling.
	c := ok_cmp("all", "p95_ms", 400, 470, 0.001, 0.12, 0.22)
	prev := [ok_cmp("all", "p95_ms", 470, 470, 0.9, -0.02, 0.02)]
	cfg := config_with_windows([open_window])
	rs := k6gate.results with input as mk_input_prev([c], prev) with data.k6gate_config as cfg
	status_of(rs, "budget/all/p95_ms") == "pass"
	r := res(rs, "window/MW-1/ceiling/all/p95_ms")
	r.status == "fail"
	r.limit == 450
}

test_window_ratchet_broken_fails if {
	# Against the previous run inside the window p95 rose 300 -> 360 ms: +20 %, significant
	# and clear of the noise floor.
	prev := [ok_cmp("all", "p95_ms", 300, 360, 0.001, 0.12, 0.25)]
	cfg := config_with_windows([open_window])
	rs := k6gate.results with input as mk_input_prev([p95_regressed], prev) with data.k6gate_config as cfg
	r := res(rs, "window/MW-1/ratchet/p95_ms")
	r.status == "fail"
	r.kind == "ratchet"
	r.previous == 300
	r.candidate == 360
}

test_window_ratchet_error_rate_significant_rise_fails if {
	# A window over error_rate; against the previous run the error rate rose 0.5 % -> 2.5 %
	# (+2 pp), p < 0.001, interval [+1.5 pp, +2.5 pp] clear of zero. The budget check calls
	# that significant (error_rate: ci_low > 0), so the ratchet must fail.
	w := object.union(open_window, {"metrics": ["error_rate"], "extra_regression": 0.03, "ceiling": {}})
	c := ok_cmp("all", "error_rate", 0.001, 0.025, 0.0001, 0.02, 0.028)
	prev := [ok_cmp("all", "error_rate", 0.005, 0.025, 0.0001, 0.015, 0.025)]
	cfg := config_with_windows([w])
	rs := k6gate.results with input as mk_input_prev([c], prev) with data.k6gate_config as cfg
	status_of(rs, "window/MW-1/ratchet/error_rate") == "fail"
}

test_window_no_previous_run_warns if {
	# verdict.rs sends `"previous": null` when there is no previous run inside the window.
	cfg := config_with_windows([open_window])
	rs := k6gate.results with input as mk_input([p95_regressed]) with data.k6gate_config as cfg
	r := res(rs, "window/MW-1/ratchet")
	r.status == "warn"
	r.kind == "ratchet"
}

test_window_no_previous_key_warns if {
	# The same with the key absent altogether.
	cfg := config_with_windows([open_window])
	inp := object.remove(mk_input([p95_regressed]), {"previous"})
	rs := k6gate.results with input as inp with data.k6gate_config as cfg
	status_of(rs, "window/MW-1/ratchet") == "warn"
}

test_window_expired_fails_loudly if {
	w := window(now_ns - (20 * day_ns), now_ns - day_ns)
	cfg := config_with_windows([w])
	inp := mk_input_prev([p95_regressed], prev_steady)
	rs := k6gate.results with input as inp with data.k6gate_config as cfg
	ex := k6gate.exceptions with input as inp with data.k6gate_config as cfg
	r := res(rs, "window/MW-1/expired")
	r.status == "fail"
	contains(r.summary, "expired")
	status_of(rs, "budget/all/p95_ms") == "fail" # back to the plain budget
	count(ex) == 0
}

test_window_not_yet_open_is_ignored if {
	w := window(now_ns + day_ns, now_ns + (20 * day_ns))
	cfg := config_with_windows([w])
	inp := mk_input_prev([p95_regressed], prev_steady)
	rs := k6gate.results with input as inp with data.k6gate_config as cfg
	ig := k6gate.ignored with input as inp with data.k6gate_config as cfg
	ignored_with(ig, "MW-1", "not open yet")
	status_of(rs, "budget/all/p95_ms") == "fail" # no extra allowance yet
	count([r | some r in rs; r.kind in {"window", "ratchet"}]) == 0
}

test_window_for_other_environment_not_applied if {
	w := object.union(open_window, {"environments": ["prod-sim"]})
	cfg := config_with_windows([w])
	rs := k6gate.results with input as mk_input_prev([p95_regressed], prev_steady) with data.k6gate_config as cfg
	status_of(rs, "budget/all/p95_ms") == "fail"
}

# ---------------------------------------------------------------------------------------
# Waivers

test_waiver_valid_waives_failing_result if {
	cfg := config_with_waivers([waiver({})])
	inp := mk_input([p95_over_sla])
	ex := k6gate.exceptions with input as inp with data.k6gate_config as cfg
	ig := k6gate.ignored with input as inp with data.k6gate_config as cfg
	some e in ex
	e.type == "waived"
	e.result == "sla/all/p95_ms"
	e.by == "W-1"
	e.requested_by == "alice"
	e.approved_by == "bob"
	e.reason == "known slow path until the cache fix in v1.1.1"
	count(ex) == 1 # the budget result passed: nothing else to waive
	count(ig) == 0
}

test_waiver_expired_is_ignored if {
	w := waiver({"created_ns": now_ns - (10 * day_ns), "expires_ns": now_ns - day_ns})
	cfg := config_with_waivers([w])
	inp := mk_input([p95_over_sla])
	ex := k6gate.exceptions with input as inp with data.k6gate_config as cfg
	ig := k6gate.ignored with input as inp with data.k6gate_config as cfg
	ignored_with(ig, "W-1", "expired")
	count(ex) == 0
}

test_waiver_expiring_now_is_expired if {
	w := waiver({"expires_ns": now_ns})
	cfg := config_with_waivers([w])
	inp := mk_input([p95_over_sla])
	ex := k6gate.exceptions with input as inp with data.k6gate_config as cfg
	ig := k6gate.ignored with input as inp with data.k6gate_config as cfg
	ignored_with(ig, "W-1", "expired")
	count(ex) == 0
}

test_waiver_not_yet_valid_is_ignored if {
	w := waiver({"created_ns": now_ns + day_ns, "expires_ns": now_ns + (3 * day_ns)})
	cfg := config_with_waivers([w])
	inp := mk_input([p95_over_sla])
	ex := k6gate.exceptions with input as inp with data.k6gate_config as cfg
	ig := k6gate.ignored with input as inp with data.k6gate_config as cfg
	ignored_with(ig, "W-1", "not yet valid")
	count(ex) == 0
}

test_waiver_for_other_version_is_ignored if {
	w := waiver({"version": "v1.0.9"})
	cfg := config_with_waivers([w])
	inp := mk_input([p95_over_sla])
	ex := k6gate.exceptions with input as inp with data.k6gate_config as cfg
	ig := k6gate.ignored with input as inp with data.k6gate_config as cfg
	ignored_with(ig, "W-1", "covers version v1.0.9, this run is v1.1.0")
	count(ex) == 0
}

test_waiver_approved_by_requester_is_ignored if {
	w := waiver({"approved_by": "alice"})
	cfg := config_with_waivers([w])
	inp := mk_input([p95_over_sla])
	ex := k6gate.exceptions with input as inp with data.k6gate_config as cfg
	ig := k6gate.ignored with input as inp with data.k6gate_config as cfg
	ignored_with(ig, "W-1", "approved by its own requester")
	count(ex) == 0
}

test_waiver_for_other_metric_does_not_waive if {
	w := waiver({"metric": "p99_ms"})
	cfg := config_with_waivers([w])
	ex := k6gate.exceptions with input as mk_input([p95_over_sla]) with data.k6gate_config as cfg
	count(ex) == 0
}

# ---------------------------------------------------------------------------------------
# Significance settings as data.rs writes them: `budgets.significance` is serialized from
# an Option struct without skip_serializing_if, so a YAML section giving only `confidence`
# becomes {"alpha": null, "noise_floor": null, "confidence": 0.9}. The documented defaults
# (alpha 0.01, noise floor 0.05) must still apply.

test_budget_partial_significance_uses_defaults if {
	cfg := object.union(base_config, {"budgets": {"significance": {"alpha": null, "noise_floor": null, "confidence": 0.9}}})
	rs := k6gate.results with input as mk_input([p95_regressed]) with data.k6gate_config as cfg
	status_of(rs, "budget/all/p95_ms") == "fail"
}

test_window_requires_its_pinned_baseline if {
	w := object.union(window_mw1_for_pin, {"baseline_version": "v1.0.0"})
	res := k6gate.results with input as object.union(pin_input, {"baseline": {"complete": true, "issues": [], "deployment_version": "v1.0.3"}})
		with data.k6gate_config as object.union(pin_config, {"migration_windows": [w]})
	some r in res
	r.id == "window/MW-PIN/baseline"
	r.status == "fail"
}

test_window_with_its_pinned_baseline_has_no_baseline_failure if {
	w := object.union(window_mw1_for_pin, {"baseline_version": "v1.0.0"})
	res := k6gate.results with input as object.union(pin_input, {"baseline": {"complete": true, "issues": [], "deployment_version": "v1.0.0"}})
		with data.k6gate_config as object.union(pin_config, {"migration_windows": [w]})
	not any_id(res, "window/MW-PIN/baseline")
}

any_id(res, id) if {
	some r in res
	r.id == id
}

window_mw1_for_pin := {
	"id": "MW-PIN", "test": "checkout", "metrics": ["p95_ms"], "extra_regression": 0.25, "ceiling": {},
	"owner": "team", "reason": "migration", "start": "2026-11-20", "expires": "2026-12-20",
	"start_ns": 1795392000000000000, "expires_ns": 1797724800000000000,
	"_source": {"file": "w.yaml", "line": 1},
}

pin_input := {
	"test": "checkout", "environment": "ci", "now": "2026-12-01T00:00:00.000Z", "now_ns": 1796083200000000000,
	"phase": "steady-state", "run": {"complete": true, "issues": [], "deployment_version": "v1.1.0"},
	"comparisons": [], "previous": null,
}

pin_config := {
	"sla": {"defaults": {"p95_ms": 500, "_source": {"file": "s.yaml", "line": 1}}, "tests": []},
	"budgets": {"defaults": {"p95_ms": 0.1, "_source": {"file": "b.yaml", "line": 1}}, "significance": {}, "tests": []},
	"migration_windows": [], "waivers": [],
}
