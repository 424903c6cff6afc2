# k6gate's canary rules (`k6gate canary`): promote, roll back, or say it cannot tell.
#
# Input (built by k6gate, src/canary/policy.rs):
#   look:    {index, planned, final, level}: this look (one per interval), and the
#            significance level spent on it (alpha spending over the looks, README
#            "Canary analysis"): a p-value counts only below `level`.
#   traffic: {canary, stable}: {requests, errors, per_s, windows_with_traffic}
#   metrics: one entry per metric and route: {metric, route, state ("ok" | "no_data"),
#            stable, canary, change, change_low, change_high, p_value, why}. `change` is a
#            ratio - 1 for latency and saturation, a difference of ratios for errors.
#            Saturation signals are `saturation_<name>` over route "all".
# Data: data.k6gate_canary_config (policies/data/canary.yaml).
#
# Output: `checks` (one per metric and route) and `decision`:
#   {decision: "promote" | "rollback" | "inconclusive" | "continue", reasons: [...]}.
# Too little traffic, a metric without data or without a rule is never a promote.
package k6gate_canary

import rego.v1

cfg := data.k6gate_canary_config

# A result's rule: canary.metrics[metric], or canary.saturation[name] for `saturation_<name>`
# (judged only with a max_increase; else reported, and never missing: "where available").
saturation(m) if startswith(m.metric, "saturation_")

rule_of(m) := object.get(cfg.metrics, m.metric, {}) if not saturation(m)

rule_of(m) := object.get(object.get(cfg, "saturation", {}), trim_prefix(m.metric, "saturation_"), {}) if saturation(m)

rule(m) := r if {
	r := rule_of(m)
	r != {}
}

# Worse beyond the allowed change, and significant at this look's level.
failed(m) if {
	m.state == "ok"
	m.p_value < input.look.level
	m.change > rule(m).max_increase
}

status(m) := "no_policy" if {
	not rule(m)
} else := "unavailable" if {
	saturation(m)
	m.state != "ok"
} else := "report" if {
	saturation(m)
	not rule(m).max_increase
} else := "no_data" if {
	m.state != "ok"
} else := "fail" if {
	failed(m)
} else := "pass"

checks contains c if {
	some m in input.metrics
	c := {
		"id": sprintf("%s/%s", [m.metric, m.route]),
		"metric": m.metric,
		"route": m.route,
		"status": status(m),
		"critical": object.get(rule_of(m), "critical", false),
		"weight": object.get(rule_of(m), "weight", 1),
		"message": message(m, status(m)),
	}
}

message(m, "fail") := sprintf("%s of %s: %s beyond the allowed %s (p = %.4f < level %.4f)", [
	m.metric, m.route, shown(m, m.change), shown(m, rule(m).max_increase), m.p_value, input.look.level,
])

message(m, "pass") := sprintf("%s of %s: %s (allowed %s; p = %.4f, level %.4f)", [
	m.metric, m.route, shown(m, m.change), shown(m, rule(m).max_increase), m.p_value, input.look.level,
])

message(m, "no_data") := sprintf("%s of %s: no data (%s)", [m.metric, m.route, object.get(m, "why", "")])

message(m, "no_policy") := sprintf("%s of %s: no rule in canary.metrics", [m.metric, m.route])

message(m, "unavailable") := sprintf("%s: not available (%s)", [m.metric, object.get(m, "why", "")])

message(m, "report") := sprintf("%s: %s (reported, not judged; p = %.4f)", [m.metric, shown(m, m.change), m.p_value])

shown(m, v) := sprintf("%s%.1f pp", [sign(v), v * 100]) if m.metric == "error_rate"

else := sprintf("%s%.1f %%", [sign(v), v * 100])

sign(v) := "+" if v >= 0

else := ""

low_traffic contains low_traffic_message(pop) if {
	some pop in ["canary", "stable"]
	input.traffic[pop].requests < cfg.min_requests
}

# A population without a request in any window: most likely no series matches its selector.
low_traffic_message(pop) := sprintf("%s: no requests in any of the %d windows (no series matches its selector?), %d required", [pop, input.look.index, cfg.min_requests]) if {
	input.traffic[pop].windows_with_traffic == 0
} else := sprintf("%s served %d requests, fewer than the %d required", [pop, round(input.traffic[pop].requests), cfg.min_requests])

critical_failures contains c if {
	some c in checks
	c.status == "fail"
	c.critical
}

missing contains c if {
	some c in checks
	c.status in {"no_data", "no_policy"}
}

# The checks that count: saturation that is only reported or not available does not.
judged contains c if {
	some c in checks
	not c.status in {"report", "unavailable"}
}

total_weight := sum([c.weight | some c in judged])

failed_weight := sum([c.weight | some c in checks; c.status == "fail"])

score := 100 * (total_weight - failed_weight) / total_weight if total_weight > 0

else := 0

verdict := "rollback" if {
	count(low_traffic) == 0
	count(critical_failures) > 0
} else := "continue" if {
	not input.look.final
} else := "inconclusive" if {
	count(low_traffic) > 0
} else := "inconclusive" if {
	count(judged) == 0
} else := "rollback" if {
	score < cfg.pass_score
} else := "inconclusive" if {
	count(missing) > 0
} else := "promote"

reasons contains r if {
	verdict == "rollback"
	some c in critical_failures
	r := sprintf("critical: %s", [c.message])
}

reasons contains r if {
	verdict == "rollback"
	count(critical_failures) == 0
	r := sprintf("score %.0f below %v: %s", [score, cfg.pass_score, concat("; ", sort([c.message | some c in checks; c.status == "fail"]))])
}

reasons contains r if {
	verdict == "inconclusive"
	some r in low_traffic
}

reasons contains r if {
	verdict == "inconclusive"
	count(low_traffic) == 0
	some c in missing
	r := c.message
}

reasons contains "no metric to compare" if {
	verdict == "inconclusive"
	count(judged) == 0
}

reasons contains r if {
	verdict == "promote"
	r := sprintf("every check passed (%d), score %.0f", [count(judged), score])
}

decision := {"decision": verdict, "reasons": sort([r | some r in reasons]), "score": score}
