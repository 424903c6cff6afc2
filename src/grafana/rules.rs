//! The alerts on a running k6 test, defined once and rendered twice: as Grafana-managed alert
//! rules (file provisioning) and as a Prometheus/Mimir rule group with the recording rules the
//! alerts read, plus the promtool unit tests that fire and clear every alert.
//!
//! One definition per alert keeps the two deployments from drifting: an [`AlertRule`] says
//! what it watches in terms of the recorded series (`query`), when it fires (`> threshold` for
//! `for_`) and what it says. Prometheus evaluates that query on the recording rules; Grafana
//! gets the same query with every recorded series replaced by its definition ([`inline`]), so
//! Grafana alerts work against a Prometheus or Mimir that has not loaded the recording rules.
//!
//! Everything here is text: no IO, no clock.

use serde_json::{Value, json};

/// Name of the rule group, in Prometheus and in Grafana.
pub const RULE_GROUP: &str = "k6gate";
/// How often the group is evaluated, in Prometheus and in Grafana.
pub const EVALUATION_INTERVAL: &str = "30s";

/// The labels that identify one test run: k6gate tags every k6 sample with them. Each
/// recording rule keeps exactly these, so an alert names the run it is about.
const BY_TEST: &str = "deployment_version, environment, git_commit, test_name, testid";

/// P95 of `http_req_duration` per run over the last minute (k6 native histogram).
pub const P95_BY_TEST: &str = "k6gate:http_req_duration_seconds:p95_by_test";
/// Share of HTTP requests with `expected_response="false"` per run over the last minute.
pub const ERROR_RATIO_BY_TEST: &str = "k6gate:http_error_ratio:by_test";
/// HTTP requests per second per run over the last minute.
pub const REQ_RATE_BY_TEST: &str = "k6gate:http_reqs:rate1m_by_test";
/// Active VUs per run, from samples of the last minute only (see [`recordings`]).
pub const VUS_BY_TEST: &str = "k6gate:vus:sum_by_test";

/// The 30-day growth of the stores per store, from the last `history stats --publish` of the
/// last 2 days (publish daily), the cache (a copy of the remote store) left out.
pub const STORAGE_GROWTH_BY_STORE: &str = "k6gate:storage_growth_30d_bytes:sum_by_store";
/// How far back the storage alert looks for the last published stats.
const STORAGE_LOOKBACK: &str = "2d";

/// A Prometheus recording rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    pub record: &'static str,
    pub expr: String,
}

/// The recording rules. None reads another, so [`inline`] needs a single pass.
pub fn recordings() -> Vec<Recording> {
    let reqs = format!("sum by ({BY_TEST}) (rate(k6_http_reqs_total[1m]))");
    vec![
        Recording {
            record: P95_BY_TEST,
            expr: format!("histogram_quantile(0.95, sum by ({BY_TEST}) (rate(k6_http_req_duration_seconds[1m])))"),
        },
        Recording {
            record: ERROR_RATIO_BY_TEST,
            // Without a failed request the numerator has no series; `or total * 0` turns
            // that into an explicit 0 instead of a gap.
            expr: format!(
                "(sum by ({BY_TEST}) (rate(k6_http_reqs_total{{expected_response=\"false\"}}[1m])) or {reqs} * 0) / {reqs}"
            ),
        },
        Recording { record: REQ_RATE_BY_TEST, expr: reqs.clone() },
        Recording {
            record: VUS_BY_TEST,
            // k6 writes no stale markers by default, so a plain `k6_vus` stays visible for the
            // 5 min lookback after a test ends. `last_over_time(..[1m])` only sees samples of
            // the last minute: a finished test stops counting as running after one minute.
            expr: format!("sum by ({BY_TEST}) (last_over_time(k6_vus[1m]))"),
        },
        Recording {
            record: STORAGE_GROWTH_BY_STORE,
            expr: format!(
                "sum by (store) (last_over_time(k6gate_storage_growth_30d_bytes{{tier!=\"cache\"}}[{STORAGE_LOOKBACK}]))"
            ),
        },
    ]
}

/// How an alert's value reads in its annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Ratio,
    Count,
}

impl Unit {
    /// The template function (same name in Prometheus and Grafana) that formats a value.
    fn humanize(self) -> &'static str {
        match self {
            Unit::Seconds => "humanizeDuration",
            Unit::Ratio => "humanizePercentage",
            Unit::Count => "humanize",
        }
    }

    fn format(self, v: f64) -> String {
        match self {
            Unit::Seconds => format!("{}s", number(v)),
            Unit::Ratio => format!("{}%", number(v * 100.0)),
            Unit::Count => number(v),
        }
    }
}

/// One alert, the single source of both renderings.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    /// Prometheus `alert:` name and Grafana `title`.
    pub name: &'static str,
    /// Grafana rule uid (at most 40 characters).
    pub uid: &'static str,
    /// PromQL over the recorded series; one result per run, the value the threshold is on.
    pub query: String,
    /// The alert fires while `query > threshold` has held for `for_`.
    pub threshold: f64,
    pub unit: Unit,
    pub for_: &'static str,
    /// `severity` label.
    pub severity: &'static str,
    /// Annotation templates; placeholders: `{test}`, `{run}`, `{environment}`, `{version}`,
    /// `{value}`, `{threshold}`, `{for}`.
    pub summary: &'static str,
    pub description: &'static str,
    /// The dashboard panel the Grafana rule is attached to.
    pub panel: Attached,
    /// How far back Grafana queries (relative time range), in seconds: the query's windows.
    pub range_s: u32,
}

/// The panel a Grafana alert rule is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attached {
    /// A panel of the live dashboard (`k6gate-live`).
    Live(u32),
    /// A panel of the results-over-deployments dashboard (`k6gate-deployments`).
    Deployments(u32),
}

impl Attached {
    pub fn dashboard_uid(self) -> &'static str {
        match self {
            Attached::Live(_) => super::generate::LIVE_UID,
            Attached::Deployments(_) => super::generate::DEPLOYMENTS_UID,
        }
    }

    pub fn panel_id(self) -> u32 {
        match self {
            Attached::Live(id) | Attached::Deployments(id) => id,
        }
    }
}

/// The alerts, in file order.
pub fn alerts() -> Vec<AlertRule> {
    vec![
        AlertRule {
            name: "K6gateP95LatencyHigh",
            uid: "k6gate-p95-latency-high",
            query: P95_BY_TEST.to_owned(),
            threshold: 1.0,
            unit: Unit::Seconds,
            for_: "1m",
            severity: "warning",
            summary: "P95 latency {value} above {threshold} in k6 test {test}",
            description: "Run {run} of {test} in {environment} (version {version}): the 95th percentile of \
                          http_req_duration over the last minute has stayed above {threshold} for {for}.",
            panel: Attached::Live(super::generate::live_panels::P95),
            range_s: 600,
        },
        AlertRule {
            name: "K6gateErrorRateHigh",
            uid: "k6gate-error-rate-high",
            query: ERROR_RATIO_BY_TEST.to_owned(),
            threshold: 0.01,
            unit: Unit::Ratio,
            for_: "1m",
            severity: "critical",
            summary: "Error rate {value} above {threshold} in k6 test {test}",
            description: "Run {run} of {test} in {environment} (version {version}): more than {threshold} of \
                          the HTTP requests of the last minute got an unexpected response, for {for}.",
            panel: Attached::Live(super::generate::live_panels::ERROR_RATE),
            range_s: 600,
        },
        AlertRule {
            name: "K6gateNoDataFromRunningTest",
            uid: "k6gate-no-data-from-running-test",
            // VUs are active but no request completed in the last minute (or none was ever
            // written). `unless` keeps the VU count as the value.
            query: format!("{VUS_BY_TEST} unless on ({BY_TEST}) ({REQ_RATE_BY_TEST} > 0)"),
            threshold: 0.0,
            unit: Unit::Count,
            for_: "2m",
            severity: "warning",
            summary: "k6 test {test} has {value} active VUs but reports no requests",
            description: "Run {run} of {test} in {environment} (version {version}) has had active VUs but no \
                          completed HTTP request for {for}: the target may hang, or requests time out.",
            panel: Attached::Live(super::generate::live_panels::REQUEST_RATE),
            range_s: 600,
        },
        AlertRule {
            name: "K6gateStorageGrowthOverBudget",
            uid: "k6gate-storage-growth-over-budget",
            // Growth over budget as a ratio: 1.3 = 30 % over. Both series come from
            // `k6gate history stats --publish`; the budget is the policy's
            // (retention.growth_budget_bytes_30d), published beside the growth, so a budget
            // changed by PR applies at the next publish without regenerating this rule.
            query: format!(
                "{STORAGE_GROWTH_BY_STORE} / on (store) last_over_time(k6gate_storage_growth_budget_bytes[{STORAGE_LOOKBACK}])"
            ),
            threshold: 1.0,
            unit: Unit::Ratio,
            for_: "1h",
            severity: "warning",
            summary: "k6gate storage grew {value} of its 30-day budget in {store}",
            description: "The history, run directories and archive of {store} grew by more than \
                          retention.growth_budget_bytes_30d in the last 30 days ({value} of it), for {for}. \
                          Runbook: runbooks/managing-k6-metrics-volume.md.",
            panel: Attached::Deployments(super::generate::deployments_panels::STORAGE),
            range_s: 3 * 86_400,
        },
    ]
}

impl AlertRule {
    /// The Prometheus alert expression: the query on the recorded series, compared.
    pub fn prometheus_expr(&self) -> String {
        compare(&self.query, self.threshold)
    }

    /// The Grafana query (refId A): the same query with the recorded series inlined. The
    /// comparison is Grafana's threshold expression (refId C).
    pub fn grafana_query(&self) -> String {
        inline(&self.query)
    }

    fn text(&self, template: &str, labels: impl Fn(&str) -> String, value: &str) -> String {
        template
            .replace("{test}", &labels("test_name"))
            .replace("{run}", &labels("testid"))
            .replace("{environment}", &labels("environment"))
            .replace("{version}", &labels("deployment_version"))
            .replace("{value}", value)
            .replace("{threshold}", &self.unit.format(self.threshold))
            .replace("{for}", self.for_)
            .replace("{store}", &labels("store"))
    }

    fn annotations(&self, value: &str) -> Value {
        let labels = |l: &str| format!("{{{{ $labels.{l} }}}}");
        json!({
            "summary": self.text(self.summary, labels, value),
            "description": self.text(self.description, labels, value),
        })
    }

    /// Annotations as Prometheus renders them for a concrete alert (for promtool tests).
    fn rendered_annotations(&self, labels: &[(&str, &str)], value: &str) -> Value {
        let label = |l: &str| labels.iter().find(|(k, _)| *k == l).map(|(_, v)| (*v).to_owned()).unwrap_or_default();
        json!({
            "summary": self.text(self.summary, label, value),
            "description": self.text(self.description, label, value),
        })
    }
}

/// `expr > threshold`, parenthesised unless `expr` is a bare series name.
fn compare(expr: &str, threshold: f64) -> String {
    let bare = expr.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if bare { format!("{expr} > {}", number(threshold)) } else { format!("({expr}) > {}", number(threshold)) }
}

/// A number as PromQL and the annotations write it: `1`, `0.01`.
fn number(v: f64) -> String {
    format!("{v}")
}

/// Replaces every recorded series in `expr` with its definition, in parentheses (none when
/// `expr` is just the series).
pub fn inline(expr: &str) -> String {
    let recs = recordings();
    match recs.iter().find(|r| r.record == expr) {
        Some(r) => r.expr.clone(),
        None => recs.iter().fold(expr.to_owned(), |e, r| e.replace(r.record, &format!("({})", r.expr))),
    }
}

/// The Prometheus/Mimir rule file: one group, recording rules first so the alerts of the same
/// evaluation read fresh values.
pub fn prometheus_rule_file() -> Value {
    let mut rules: Vec<Value> =
        recordings().into_iter().map(|r| json!({ "record": r.record, "expr": r.expr })).collect();
    for a in alerts() {
        rules.push(json!({
            "alert": a.name,
            "expr": a.prometheus_expr(),
            "for": a.for_,
            "labels": { "severity": a.severity },
            "annotations": a.annotations(&format!("{{{{ $value | {} }}}}", a.unit.humanize())),
        }));
    }
    json!({ "groups": [{ "name": RULE_GROUP, "interval": EVALUATION_INTERVAL, "rules": rules }] })
}

/// Grafana alert provisioning (`provisioning/alerting/*.yaml`): the same alerts as Grafana
/// rules querying `datasource_uid`, each attached to its dashboard panel ([`Attached`]).
pub fn grafana_alert_provisioning(datasource_uid: &str, folder: &str) -> Value {
    let expr_ds = json!({ "type": "__expr__", "uid": "__expr__" });
    let rules: Vec<Value> = alerts()
        .into_iter()
        .map(|a| {
            json!({
                "uid": a.uid,
                "title": a.name,
                "condition": "C",
                "data": [
                    {
                        "refId": "A",
                        // Long enough for the windows of the query.
                        "relativeTimeRange": { "from": a.range_s, "to": 0 },
                        "datasourceUid": datasource_uid,
                        "model": {
                            "datasource": { "type": "prometheus", "uid": datasource_uid },
                            "editorMode": "code",
                            "expr": a.grafana_query(),
                            "instant": true,
                            "intervalMs": 1000,
                            "legendFormat": "__auto",
                            "maxDataPoints": 43200,
                            "range": false,
                            "refId": "A",
                        },
                    },
                    {
                        "refId": "B",
                        "datasourceUid": "__expr__",
                        "model": {
                            "datasource": expr_ds,
                            "expression": "A",
                            "reducer": "last",
                            "refId": "B",
                            "settings": { "mode": "dropNN" },
                            "type": "reduce",
                        },
                    },
                    {
                        "refId": "C",
                        "datasourceUid": "__expr__",
                        "model": {
                            "conditions": [{ "evaluator": { "params": [a.threshold], "type": "gt" } }],
                            "datasource": expr_ds,
                            "expression": "B",
                            "refId": "C",
                            "type": "threshold",
                        },
                    },
                ],
                "dashboardUid": a.panel.dashboard_uid(),
                "panelId": a.panel.panel_id(),
                // No test running means nothing to alert on.
                "noDataState": "OK",
                "execErrState": "Error",
                "for": a.for_,
                "labels": { "severity": a.severity },
                "annotations": a.annotations(&format!("{{{{ $values.B.Value | {} }}}}", a.unit.humanize())),
                "isPaused": false,
            })
        })
        .collect();
    json!({
        "apiVersion": 1,
        "groups": [{
            "orgId": 1,
            "name": RULE_GROUP,
            "folder": folder,
            "interval": EVALUATION_INTERVAL,
            "rules": rules,
        }],
    })
}

/// The run every promtool test series belongs to.
const RUN: [(&str, &str); 5] = [
    ("deployment_version", "v1.2.3"),
    ("environment", "staging"),
    ("git_commit", "abc1234"),
    ("test_name", "checkout"),
    ("testid", "run-1"),
];

/// `metric{run labels, extra}`.
fn series(metric: &str, extra: &[(&str, &str)]) -> String {
    let labels: Vec<String> = RUN.iter().chain(extra).map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{metric}{{{}}}", labels.join(", "))
}

fn input(metric: &str, extra: &[(&str, &str)], values: &str) -> Value {
    json!({ "series": series(metric, extra), "values": values })
}

/// The run labels as an object (expected labels of recorded series and alerts).
fn run_labels(extra: &[(&str, &str)]) -> Value {
    Value::Object(RUN.iter().chain(extra).map(|(k, v)| ((*k).to_owned(), json!(v))).collect())
}

fn alert_check(a: &AlertRule, eval_time: &str, firing_value: Option<&str>) -> Value {
    let exp: Vec<Value> = firing_value
        .map(|v| {
            json!({
                "exp_labels": run_labels(&[("severity", a.severity)]),
                "exp_annotations": a.rendered_annotations(&RUN, v),
            })
        })
        .into_iter()
        .collect();
    json!({ "alertname": a.name, "eval_time": eval_time, "exp_alerts": exp })
}

fn find(name: &str) -> Option<AlertRule> {
    alerts().into_iter().find(|a| a.name == name)
}

/// promtool unit tests (`promtool test rules`) for [`prometheus_rule_file`] named `rule_file`.
///
/// Every alert is shown to fire on a run that breaks it and to stay quiet on one that does
/// not. The error-ratio and no-data tests start from raw k6 series, so they cover the
/// recording rules too, and check that the inlined Grafana query gives the same value.
///
/// The P95 test cannot: k6 writes `http_req_duration` as a native histogram, and promtool
/// 2.42's `input_series` notation has no way to write one (`{{schema:..}}` is a parse error
/// there). So the P95 alert reads the recorded series (`k6gate:http_req_duration_seconds:
/// p95_by_test`) and its tests feed that series directly; the recording rule itself is only
/// checked by `promtool check rules`.
pub fn promtool_tests(rule_file: &str) -> Value {
    let mut tests = Vec::new();
    let ok = [("expected_response", "true"), ("method", "GET"), ("name", "GET /items"), ("status", "200")];
    let failed = [("expected_response", "false"), ("method", "GET"), ("name", "GET /items"), ("status", "500")];
    let stage = [("test_stage", "sustained")];

    if let Some(a) = find("K6gateP95LatencyHigh") {
        tests.push(json!({
            "name": "P95 above 1s for a minute fires; below 1s or not yet a minute does not",
            "interval": "30s",
            "input_series": [input(P95_BY_TEST, &[], "1.5x10")],
            "alert_rule_test": [
                alert_check(&a, "30s", None),
                alert_check(&a, "2m", Some("1.5s")),
            ],
        }));
        tests.push(json!({
            "name": "P95 below 1s does not fire",
            "interval": "30s",
            "input_series": [input(P95_BY_TEST, &[], "0.8x10")],
            "alert_rule_test": [alert_check(&a, "5m", None)],
        }));
    }
    if let Some(a) = find("K6gateErrorRateHigh") {
        tests.push(json!({
            "name": "25% failed requests fires, from raw k6 counters",
            "interval": "30s",
            // 90 good and 30 failed requests every 30 s: 3/s and 1/s, a ratio of exactly 0.25.
            "input_series": [
                input("k6_http_reqs_total", &[ok.as_slice(), &stage].concat(), "0+90x10"),
                input("k6_http_reqs_total", &[failed.as_slice(), &stage].concat(), "0+30x10"),
            ],
            "promql_expr_test": [
                { "expr": REQ_RATE_BY_TEST, "eval_time": "2m",
                  "exp_samples": [{ "labels": series(REQ_RATE_BY_TEST, &[]), "value": 4 }] },
                { "expr": ERROR_RATIO_BY_TEST, "eval_time": "2m",
                  "exp_samples": [{ "labels": series(ERROR_RATIO_BY_TEST, &[]), "value": 0.25 }] },
                // Grafana's query gives the same value.
                { "expr": a.grafana_query(), "eval_time": "2m",
                  "exp_samples": [{ "labels": series("", &[]), "value": 0.25 }] },
            ],
            "alert_rule_test": [
                alert_check(&a, "1m", None),
                alert_check(&a, "3m", Some("25%")),
            ],
        }));
        tests.push(json!({
            "name": "no failed request: the ratio is 0 and the alert does not fire",
            "interval": "30s",
            "input_series": [input("k6_http_reqs_total", &[ok.as_slice(), &stage].concat(), "0+90x10")],
            "promql_expr_test": [
                { "expr": ERROR_RATIO_BY_TEST, "eval_time": "2m",
                  "exp_samples": [{ "labels": series(ERROR_RATIO_BY_TEST, &[]), "value": 0 }] },
            ],
            "alert_rule_test": [alert_check(&a, "5m", None)],
        }));
    }
    if let Some(a) = find("K6gateNoDataFromRunningTest") {
        tests.push(json!({
            "name": "VUs active but requests stop: fires after 2m",
            "interval": "30s",
            // Requests grow for 2 min, then the counter stays flat while 10 VUs keep running.
            "input_series": [
                input("k6_vus", &[], "10x12"),
                input("k6_http_reqs_total", &[ok.as_slice(), &stage].concat(), "0+60x4 240x8"),
            ],
            "promql_expr_test": [
                { "expr": a.grafana_query(), "eval_time": "5m",
                  "exp_samples": [{ "labels": series("", &[]), "value": 10 }] },
            ],
            "alert_rule_test": [
                alert_check(&a, "2m", None),
                alert_check(&a, "4m", None),
                alert_check(&a, "5m", Some("10")),
            ],
        }));
        tests.push(json!({
            "name": "VUs active and no request ever written: fires",
            "interval": "30s",
            "input_series": [input("k6_vus", &[], "5x12")],
            "alert_rule_test": [alert_check(&a, "3m", Some("5"))],
        }));
        tests.push(json!({
            "name": "requests flowing: does not fire",
            "interval": "30s",
            "input_series": [
                input("k6_vus", &[], "10x12"),
                input("k6_http_reqs_total", &[ok.as_slice(), &stage].concat(), "0+60x12"),
            ],
            "alert_rule_test": [alert_check(&a, "5m", None)],
        }));
        tests.push(json!({
            "name": "test ended without stale markers: does not fire",
            "interval": "30s",
            // k6 stops writing after 2 min; without stale markers the last samples linger.
            "input_series": [
                input("k6_vus", &[], "10x4 _x8"),
                input("k6_http_reqs_total", &[ok.as_slice(), &stage].concat(), "0+60x4 _x8"),
            ],
            "alert_rule_test": [alert_check(&a, "3m", None), alert_check(&a, "6m", None)],
        }));
    }
    if let Some(a) = find("K6gateStorageGrowthOverBudget") {
        let store = [("store", "s3://k6gate/history")];
        let growth = |tier: &str, values: &str| {
            json!({ "series": format!("k6gate_storage_growth_30d_bytes{{store=\"{}\", tier=\"{tier}\"}}", store[0].1),
                    "values": values })
        };
        let budget = json!({ "series": format!("k6gate_storage_growth_budget_bytes{{store=\"{}\"}}", store[0].1),
                             "values": "10000000000 _x47" });
        let check = |eval_time: &str, value: Option<&str>| {
            let exp: Vec<Value> = value
                .map(|v| {
                    json!({
                        "exp_labels": { "severity": a.severity, "store": store[0].1 },
                        "exp_annotations": a.rendered_annotations(&store, v),
                    })
                })
                .into_iter()
                .collect();
            json!({ "alertname": a.name, "eval_time": eval_time, "exp_alerts": exp })
        };
        tests.push(json!({
            "name": "storage: 11 GB of growth on a 10 GB budget, published once a day, fires after an hour",
            "interval": "1h",
            // One publish at 0h (remote 8 GB + archive 3 GB), the next at 24h; the cache's
            // 5 GB is a copy and does not count.
            "input_series": [
                growth("remote", "8000000000 _x23 8000000000 _x23"),
                growth("archive", "3000000000 _x23 3000000000 _x23"),
                growth("cache", "5000000000 _x23 5000000000 _x23"),
                budget,
            ],
            "promql_expr_test": [
                { "expr": STORAGE_GROWTH_BY_STORE, "eval_time": "12h",
                  "exp_samples": [{ "labels": format!("{STORAGE_GROWTH_BY_STORE}{{store=\"{}\"}}", store[0].1),
                                    "value": 11_000_000_000_u64 }] },
                { "expr": a.grafana_query(), "eval_time": "12h",
                  "exp_samples": [{ "labels": format!("{{store=\"{}\"}}", store[0].1), "value": 1.1 }] },
            ],
            "alert_rule_test": [check("0m", None), check("2h", Some("110%")), check("30h", Some("110%"))],
        }));
        tests.push(json!({
            "name": "storage: 9 GB of growth on a 10 GB budget does not fire (the 5 GB cache does not count)",
            "interval": "1h",
            "input_series": [
                growth("remote", "6000000000 _x23 6000000000 _x23"),
                growth("archive", "3000000000 _x23 3000000000 _x23"),
                growth("cache", "5000000000 _x23 5000000000 _x23"),
                json!({ "series": format!("k6gate_storage_growth_budget_bytes{{store=\"{}\"}}", store[0].1),
                        "values": "10000000000 _x23 10000000000 _x23" }),
            ],
            "alert_rule_test": [check("2h", None), check("30h", None)],
        }));
        tests.push(json!({
            "name": "storage: growth without a budget in the policy does not fire",
            "interval": "1h",
            "input_series": [growth("remote", "80000000000 _x23")],
            "alert_rule_test": [check("2h", None)],
        }));
    }
    json!({
        "rule_files": [rule_file],
        "evaluation_interval": EVALUATION_INTERVAL,
        "tests": tests,
    })
}
