//! `k6gate preflight`: before a load test, is the monitoring that will watch it healthy, is the
//! target healthy, and is the environment free? Each check is one HTTP request or a few,
//! through `net`, once (no retries: a slow or failing answer is what is being measured), and
//! one row with its numbers and its limit. Any failure refuses the test with the reasons and
//! a time to reschedule. Missing data is a failure, never a pass.
//!
//! The checks, in order: Prometheus answers the reference query within its SLA; every rule
//! group evaluated recently and every rule healthy (`/api/v1/rules`); each Alertmanager ready,
//! clustered with all the others and holding a fresh watchdog alert (the alerting path end to
//! end); Grafana's `/api/health`; the target's `up`, error rate and P95 from its own metrics
//! through Prometheus; and, when asked, the environment's lease.
//!
//! Durations are measured with a monotonic timer; the wall clock (`wall_ns`, for freshness) is
//! an input.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::config::PreflightRules;
use super::window::{self, Segment};
use crate::error::Error;
use crate::net::{ClientOptions, percent_encode};
use crate::render::Monitoring;
use crate::stack::WATCHDOG_ALERT;
use crate::time::{format_rfc3339_ms, parse_rfc3339_ns};

/// How long one request may take before it counts as no answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const NS_PER_S: f64 = 1e9;

/// The environment's lease as the store reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Lease {
    Free,
    Held {
        holder: String,
        until_ns: i64,
    },
    /// The store could not be read: fail closed.
    Unknown(String),
}

/// What to check.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub environment: &'a str,
    pub monitoring: &'a Monitoring,
    pub rules: &'a PreflightRules,
    /// `file:line` of the rules, for the report.
    pub rules_source: &'a str,
    /// Now, by the wall clock (Unix ns): evaluations and alerts are fresh against it.
    pub wall_ns: i64,
    /// The time the test would start at (Unix ns): the off-peak windows' `now`, and where the
    /// time to reschedule counts from. The wall clock but in tests.
    pub now_ns: i64,
    /// `None`: not checked here (`run` takes the lease itself, waiting for it).
    pub lease: Option<Lease>,
    /// The environment's off-peak windows, for the time to reschedule.
    pub windows: Option<&'a [Segment]>,
    /// The off-peak decision, shown as a check of its own.
    pub window: Option<&'a super::WindowDecision>,
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    /// What was measured, with its numbers.
    pub measured: String,
    /// What it is held to.
    pub limit: String,
    /// Why it failed (`None` when it passed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How long the check's requests took.
    pub took_ms: f64,
}

/// Every check, and what to do when one failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub environment: String,
    pub checked_at: String,
    pub rules: String,
    pub passed: bool,
    pub checks: Vec<Check>,
    /// When to try again, when refused: `reschedule_after_min` from now, at the next off-peak
    /// slot from then on, and not before a lease held by another run expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reschedule_at: Option<String>,
}

impl Report {
    /// The refusal, when a check failed.
    pub fn refusal(&self) -> Option<Error> {
        if self.passed {
            return None;
        }
        let failed: Vec<String> = self
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{}: {}", c.name, c.reason.as_deref().unwrap_or("failed")))
            .collect();
        Some(Error::Refused {
            reason: format!("preflight of {} refused the load test: {}", self.environment, failed.join("; ")),
            reschedule: match &self.reschedule_at {
                Some(t) => format!("reschedule at {t} or later"),
                None => "reschedule once the failing checks pass".into(),
            },
        })
    }
}

struct Answer {
    status: u16,
    body: Value,
    took: Duration,
}

/// One GET, once, as JSON.
async fn get_json(client: &reqwest::Client, url: &str) -> Result<Answer, String> {
    let start = Instant::now();
    let resp = client.get(url).send().await.map_err(|e| crate::net::describe(&e.without_url()))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| format!("HTTP {status}: {}", crate::net::describe(&e.without_url())))?;
    let took = start.elapsed();
    let body = serde_json::from_str(&text).map_err(|e| format!("HTTP {status}: not JSON ({e})"))?;
    Ok(Answer { status, body, took })
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn check(
    name: impl Into<String>,
    limit: impl Into<String>,
    took: Duration,
    outcome: Result<String, (String, String)>,
) -> Check {
    let (passed, measured, reason) = match outcome {
        Ok(m) => (true, m, None),
        Err((m, why)) => (false, m, Some(why)),
    };
    Check { name: name.into(), passed, measured, limit: limit.into(), reason, took_ms: ms(took) }
}

/// An instant query's float results, or why not.
pub(super) async fn query(
    client: &reqwest::Client,
    base: &str,
    promql: &str,
) -> Result<(Vec<(Value, f64)>, Duration), String> {
    let url = format!("{}/api/v1/query?query={}", base.trim_end_matches('/'), percent_encode(promql));
    let a = get_json(client, &url).await?;
    if a.body.get("status").and_then(Value::as_str) != Some("success") {
        let e = a.body.get("error").and_then(Value::as_str).unwrap_or("no error message");
        return Err(format!("HTTP {}: {e}", a.status));
    }
    // A stale answer from `k6gate stack proxy` (its warning) is no answer: the guard must not
    // judge a running test by data from before Prometheus failed.
    let warnings = a.body.get("warnings").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    if let Some(stale) = warnings.iter().filter_map(Value::as_str).find(|w| w.starts_with("k6gate proxy: stale answer"))
    {
        return Err(stale.to_string());
    }
    let results = a.body.pointer("/data/result").and_then(Value::as_array).ok_or("no data.result array")?;
    let floats = results.iter().filter_map(crate::prom::query::float_sample).collect();
    Ok((floats, a.took))
}

async fn prometheus_query(client: &reqwest::Client, req: &Request<'_>) -> Check {
    let sla = req.rules.query_sla_ms;
    let limit = format!("answers `{}` within {sla} ms", req.rules.reference_query);
    let name = "Prometheus query";
    match query(client, &req.monitoring.prometheus, &req.rules.reference_query).await {
        Err(e) => {
            check(name, limit, Duration::ZERO, Err(("no answer".into(), format!("{}: {e}", req.monitoring.prometheus))))
        }
        Ok((series, took)) => {
            let measured = format!("{:.0} ms, {} series", ms(took), series.len());
            let outcome = if series.is_empty() {
                Err((measured, "the reference query returned no series".into()))
            } else if ms(took) > sla {
                Err((measured.clone(), format!("answered in {:.0} ms, over its SLA of {sla} ms", ms(took))))
            } else {
                Ok(measured)
            };
            check(name, limit, took, outcome)
        }
    }
}

async fn rule_evaluation(client: &reqwest::Client, req: &Request<'_>) -> Check {
    let max_age = req.rules.rule_evaluation_max_age_s;
    let limit = format!("every group evaluated within {max_age} s (or 2 intervals), every rule healthy");
    let name = "rule evaluation";
    let url = format!("{}/api/v1/rules", req.monitoring.prometheus.trim_end_matches('/'));
    let a = match get_json(client, &url).await {
        Ok(a) if a.body.get("status").and_then(Value::as_str) == Some("success") => a,
        Ok(a) => return check(name, limit, a.took, Err(("no answer".into(), format!("{url}: HTTP {}", a.status)))),
        Err(e) => return check(name, limit, Duration::ZERO, Err(("no answer".into(), format!("{url}: {e}")))),
    };
    let groups = a.body.pointer("/data/groups").and_then(Value::as_array).cloned().unwrap_or_default();
    let (mut rules, mut oldest_s, mut problems) = (0usize, 0f64, Vec::new());
    for g in &groups {
        let group = g.get("name").and_then(Value::as_str).unwrap_or("?");
        let interval = g.get("interval").and_then(Value::as_f64).unwrap_or(0.0);
        let last = g.get("lastEvaluation").and_then(Value::as_str).and_then(|t| parse_rfc3339_ns(t.as_bytes()));
        match last {
            Some(t) if t > 0 => {
                let age = (req.wall_ns - t) as f64 / NS_PER_S;
                oldest_s = oldest_s.max(age);
                if age > max_age.max(2.0 * interval) {
                    problems.push(format!("group {group} last evaluated {age:.0} s ago"));
                }
            }
            _ => problems.push(format!("group {group} has never been evaluated")),
        }
        for r in g.get("rules").and_then(Value::as_array).into_iter().flatten() {
            rules += 1;
            let health = r.get("health").and_then(Value::as_str).unwrap_or("missing");
            if health != "ok" {
                let rule = r.get("name").and_then(Value::as_str).unwrap_or("?");
                let e =
                    r.get("lastError").and_then(Value::as_str).filter(|e| !e.is_empty()).unwrap_or("no error given");
                problems.push(format!("rule {rule} of group {group} is {health} ({e})"));
            }
        }
    }
    let measured = format!("{} groups, {rules} rules, oldest evaluation {oldest_s:.1} s ago", groups.len());
    let outcome = if groups.is_empty() {
        Err((measured, "no rule groups loaded: no alert (the watchdog included) can fire".into()))
    } else if !problems.is_empty() {
        Err((measured, problems.join("; ")))
    } else {
        Ok(measured)
    };
    check(name, limit, a.took, outcome)
}

async fn alertmanager(client: &reqwest::Client, req: &Request<'_>, url: &str) -> Check {
    let peers_wanted = req.monitoring.alertmanagers.len();
    let max_age = req.rules.watchdog_max_age_s;
    let limit = format!("cluster ready with {peers_wanted} peers, {WATCHDOG_ALERT} received within {max_age} s");
    let name = format!("Alertmanager {url}");
    let base = url.trim_end_matches('/');
    let status = match get_json(client, &format!("{base}/api/v2/status")).await {
        Ok(a) if a.status == 200 => a,
        Ok(a) => {
            return check(name, limit, a.took, Err(("no answer".into(), format!("/api/v2/status: HTTP {}", a.status))));
        }
        Err(e) => return check(name, limit, Duration::ZERO, Err(("no answer".into(), e))),
    };
    let cluster = status.body.pointer("/cluster/status").and_then(Value::as_str).unwrap_or("missing");
    let peers = status.body.pointer("/cluster/peers").and_then(Value::as_array).map_or(0, Vec::len);
    let filter = percent_encode(&format!("alertname=\"{WATCHDOG_ALERT}\""));
    let alerts = get_json(client, &format!("{base}/api/v2/alerts?active=true&filter={filter}")).await;
    let took = status.took + alerts.as_ref().map_or(Duration::ZERO, |a| a.took);
    let updated = match &alerts {
        Ok(a) if a.status == 200 => a
            .body
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.get("updatedAt").and_then(Value::as_str).and_then(|t| parse_rfc3339_ns(t.as_bytes())))
            .max()
            .ok_or_else(|| format!("no active {WATCHDOG_ALERT} alert: Prometheus's alerts do not reach it")),
        Ok(a) => Err(format!("/api/v2/alerts: HTTP {}", a.status)),
        Err(e) => Err(format!("/api/v2/alerts: {e}")),
    };
    let age = updated.as_ref().ok().map(|t| (req.wall_ns - t) as f64 / NS_PER_S);
    let measured = format!(
        "cluster {cluster}, {peers} peers, {WATCHDOG_ALERT} {}",
        age.map_or("missing".to_string(), |a| format!("{a:.1} s old"))
    );
    let mut problems = Vec::new();
    if cluster != "ready" {
        problems.push(format!("cluster status is {cluster}, not ready"));
    }
    if peers != peers_wanted {
        problems.push(format!("{peers} cluster peers, {peers_wanted} Alertmanagers declared"));
    }
    match (&updated, age) {
        (Err(e), _) => problems.push(e.clone()),
        (Ok(_), Some(a)) if a > max_age => problems.push(format!("{WATCHDOG_ALERT} last received {a:.0} s ago")),
        _ => {}
    }
    let outcome = if problems.is_empty() { Ok(measured) } else { Err((measured, problems.join("; "))) };
    check(name, limit, took, outcome)
}

async fn grafana(client: &reqwest::Client, req: &Request<'_>) -> Check {
    let url = format!("{}/api/health", req.monitoring.grafana.trim_end_matches('/'));
    let limit = "GET /api/health: 200, database ok";
    match get_json(client, &url).await {
        Err(e) => check("Grafana", limit, Duration::ZERO, Err(("no answer".into(), format!("{url}: {e}")))),
        Ok(a) => {
            let db = a.body.get("database").and_then(Value::as_str).unwrap_or("missing");
            let measured = format!("HTTP {}, database {db}, {:.0} ms", a.status, ms(a.took));
            let outcome = if a.status == 200 && db == "ok" {
                Ok(measured)
            } else {
                Err((measured, format!("{url} answered HTTP {} with database {db}", a.status)))
            };
            check("Grafana", limit, a.took, outcome)
        }
    }
}

/// The target's health from its own metrics: scraped (`up`), then error rate and P95 over the
/// window, each its own row.
async fn target(client: &reqwest::Client, req: &Request<'_>) -> Vec<Check> {
    let t = &req.rules.target;
    let job = &req.monitoring.target_job;
    let base = &req.monitoring.prometheus;
    let sel = format!("job=\"{job}\"");
    let mut out = Vec::new();
    let up = query(client, base, &format!("up{{{sel}}}")).await;
    let up_check = match &up {
        Err(e) => Err(("no answer".to_string(), format!("Prometheus {base}: {e}"))),
        Ok((s, _)) if s.is_empty() => Err(("no series".into(), format!("Prometheus scrapes no job {job:?}"))),
        Ok((s, _)) => {
            let down = s.iter().filter(|(_, v)| *v != 1.0).count();
            let m = format!("{} of {} instances up", s.len() - down, s.len());
            if down == 0 { Ok(m) } else { Err((m, format!("{down} instance(s) of job {job} are down"))) }
        }
    };
    let took = up.as_ref().map_or(Duration::ZERO, |(_, d)| *d);
    out.push(check(format!("target {job} scraped"), "every instance up", took, up_check));

    let w = &t.window;
    let requests = query(client, base, &format!("sum(increase({}{{{sel}}}[{w}]))", t.requests_metric)).await;
    let errors =
        query(client, base, &format!("sum(increase({}{{{sel},status=~\"5..\"}}[{w}]))", t.requests_metric)).await;
    let limit =
        format!("5xx share over {w} at most {:.2} %, at least {} requests", t.max_error_rate * 100.0, t.min_requests);
    let took = [&requests, &errors].iter().filter_map(|r| r.as_ref().ok()).map(|(_, d)| *d).sum();
    let total = requests.as_ref().ok().and_then(|(s, _)| s.first().map(|x| x.1));
    let row = match (&requests, &errors, total) {
        (Err(e), _, _) | (_, Err(e), _) => Err(("no answer".to_string(), format!("Prometheus {base}: {e}"))),
        (_, _, None) => Err(("no data".into(), format!("no {} series for job {job}", t.requests_metric))),
        (_, _, Some(n)) if n.is_nan() || n < t.min_requests => Err((
            format!("{n:.0} requests"),
            format!(
                "{n:.0} requests in {w}, fewer than {}: too little traffic to tell the target is healthy",
                t.min_requests
            ),
        )),
        (_, Ok((e, _)), Some(n)) => {
            let failed = e.first().map_or(0.0, |x| x.1);
            let rate = failed / n;
            let m = format!("{:.2} % of {n:.0} requests", rate * 100.0);
            if rate <= t.max_error_rate {
                Ok(m)
            } else {
                Err((
                    m,
                    format!(
                        "{:.2} % of its requests failed in {w}, over {:.2} %",
                        rate * 100.0,
                        t.max_error_rate * 100.0
                    ),
                ))
            }
        }
    };
    out.push(check(format!("target {job} error rate"), limit, took, row));

    let p95 = query(
        client,
        base,
        &format!("histogram_quantile(0.95, sum by (le) (rate({}_bucket{{{sel}}}[{w}])))", t.duration_metric),
    )
    .await;
    let limit = format!("P95 over {w} at most {} ms", t.max_p95_ms);
    let took = p95.as_ref().map_or(Duration::ZERO, |(_, d)| *d);
    let row = match &p95 {
        Err(e) => Err(("no answer".to_string(), format!("Prometheus {base}: {e}"))),
        Ok((s, _)) => match s.first().map(|x| x.1 * 1000.0) {
            Some(v) if v.is_finite() && v <= t.max_p95_ms => Ok(format!("P95 {v:.1} ms")),
            Some(v) if v.is_finite() => {
                Err((format!("P95 {v:.1} ms"), format!("P95 {v:.1} ms over {w}, above {} ms", t.max_p95_ms)))
            }
            _ => Err((
                "no data".into(),
                format!("no {}_bucket samples with traffic for job {job} in {w}", t.duration_metric),
            )),
        },
    };
    out.push(check(format!("target {job} latency"), limit, took, row));
    out
}

fn lease(req: &Request<'_>) -> Option<Check> {
    let limit = "no other run holds the environment";
    let outcome = match req.lease.as_ref()? {
        Lease::Free => Ok("free".to_string()),
        Lease::Held { holder, until_ns } => Err((
            format!("held until {}", format_rfc3339_ms(*until_ns)),
            format!("{holder} holds {} until {} unless it renews", req.environment, format_rfc3339_ms(*until_ns)),
        )),
        Lease::Unknown(e) => Err(("unknown".into(), format!("the lease cannot be read: {e}"))),
    };
    Some(check("environment lease", limit, Duration::ZERO, outcome))
}

/// Runs every check (all of them, even after a failure: the report shows everything wrong).
pub fn run(req: &Request<'_>) -> Result<Report, Error> {
    let client = crate::net::client(&ClientOptions::with_timeout(REQUEST_TIMEOUT))
        .map_err(|e| Error::service(crate::error::Service::Prometheus, "building the HTTP client", e))?;
    let checks = crate::net::block_on(async {
        let mut checks = vec![prometheus_query(&client, req).await, rule_evaluation(&client, req).await];
        for url in &req.monitoring.alertmanagers {
            checks.push(alertmanager(&client, req, url).await);
        }
        checks.push(grafana(&client, req).await);
        checks.extend(target(&client, req).await);
        checks
    })
    .map_err(|e| Error::service(crate::error::Service::Prometheus, "running the preflight checks", e))?;
    let mut checks = checks;
    checks.extend(lease(req));
    if let Some(w) = req.window {
        let measured = if w.restricted { "restricted" } else { "no windows" };
        let outcome = if w.allowed { Ok(measured.to_string()) } else { Err((measured.to_string(), w.reason.clone())) };
        checks.push(check("off-peak window", "inside the environment's windows (UTC)", Duration::ZERO, outcome));
    }
    let passed = checks.iter().all(|c| c.passed);
    let reschedule_at = (!passed).then(|| format_rfc3339_ms(reschedule(req)));
    Ok(Report {
        environment: req.environment.to_string(),
        checked_at: format_rfc3339_ms(req.wall_ns),
        rules: req.rules_source.to_string(),
        passed,
        checks,
        reschedule_at,
    })
}

/// `reschedule_after_min` from now, no earlier than a held lease's expiry, moved to the next
/// off-peak slot from then on when the environment has windows.
fn reschedule(req: &Request<'_>) -> i64 {
    let mut t = req.now_ns + i64::from(req.rules.reschedule_after_min) * 60_000_000_000;
    if let Some(Lease::Held { until_ns, .. }) = &req.lease {
        t = t.max(*until_ns);
    }
    match req.windows {
        Some(segments) => window::next_start(segments, t).unwrap_or(t),
        None => t,
    }
}

/// The report as a table (the CLI prints it).
pub fn table(report: &Report) -> String {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::ASCII_MARKDOWN);
    t.set_header(["check", "result", "measured", "limit"]);
    for c in &report.checks {
        let result = if c.passed { "pass".to_string() } else { format!("FAIL: {}", c.reason.as_deref().unwrap_or("")) };
        t.add_row([c.name.as_str(), result.as_str(), c.measured.as_str(), c.limit.as_str()]);
    }
    let verdict = if report.passed {
        format!("preflight of {} passed at {} ({})", report.environment, report.checked_at, report.rules)
    } else {
        let at = report.reschedule_at.as_deref().unwrap_or("once the failing checks pass");
        format!(
            "preflight of {} REFUSED at {} ({}); reschedule at {at}",
            report.environment, report.checked_at, report.rules
        )
    };
    format!("{t}\n{verdict}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> PreflightRules {
        crate::guard::GuardConfig::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"))
            .unwrap()
            .preflight
            .unwrap()
            .0
    }

    #[test]
    fn nothing_answering_refuses_every_check_with_a_reason_and_a_time() {
        // Port 9 on localhost: nothing listens, every request is refused at once.
        let m = Monitoring {
            prometheus: "http://127.0.0.1:9".into(),
            alertmanagers: vec!["http://127.0.0.1:9".into()],
            grafana: "http://127.0.0.1:9".into(),
            target_job: "shop".into(),
            proxy: None,
            keep_share: crate::samples::KeepShare::DEFAULT,
        };
        let r = rules();
        let wall = parse_rfc3339_ns(b"2026-12-09T12:00:00Z").unwrap();
        let held = Lease::Held { holder: "run r1 of test checkout by ci".into(), until_ns: wall + 3_600_000_000_000 };
        let req = Request {
            environment: "staging",
            monitoring: &m,
            rules: &r,
            rules_source: "policies/data/guard.yaml:19",
            wall_ns: wall,
            now_ns: wall,
            lease: Some(held),
            windows: None,
            window: None,
        };
        let report = run(&req).unwrap();
        assert!(!report.passed);
        assert!(report.checks.iter().all(|c| !c.passed && c.reason.is_some()), "{report:#?}");
        assert_eq!(report.checks.len(), 8, "{report:#?}");
        // The lease outlasts the 30 minutes: reschedule when it expires.
        assert_eq!(report.reschedule_at.as_deref(), Some("2026-12-09T13:00:00.000Z"));
        let e = report.refusal().unwrap().to_string();
        assert!(
            e.starts_with("preflight of staging refused the load test: Prometheus query: http://127.0.0.1:9"),
            "{e}"
        );
        assert!(e.ends_with("reschedule at 2026-12-09T13:00:00.000Z or later; nothing was started"), "{e}");
        let table = table(&report);
        let row = table.lines().find(|l| l.starts_with("| environment lease")).unwrap_or_default();
        assert!(row.contains("| FAIL: run r1 of test checkout by ci holds staging"), "{table}");
    }

    #[test]
    fn the_time_to_reschedule_moves_to_the_next_off_peak_slot() {
        let m = Monitoring {
            prometheus: String::new(),
            alertmanagers: vec![],
            grafana: String::new(),
            target_job: String::new(),
            proxy: None,
            keep_share: crate::samples::KeepShare::DEFAULT,
        };
        let r = rules();
        let nights = window::segments(&[0, 1, 2, 3, 4], 20 * 60, 6 * 60);
        let wall = parse_rfc3339_ns(b"2026-12-09T12:00:00Z").unwrap();
        let req = Request {
            environment: "prod-sim",
            monitoring: &m,
            rules: &r,
            rules_source: "",
            wall_ns: wall,
            now_ns: wall,
            lease: None,
            windows: Some(&nights),
            window: None,
        };
        assert_eq!(format_rfc3339_ms(reschedule(&req)), "2026-12-09T20:00:00.000Z");
        let late = Request { now_ns: parse_rfc3339_ns(b"2026-12-09T21:00:00Z").unwrap(), ..req };
        assert_eq!(format_rfc3339_ms(reschedule(&late)), "2026-12-09T21:30:00.000Z", "inside the slot: 30 min on");
    }
}
