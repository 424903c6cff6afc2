//! The guard's own critical conditions as alerts, replicated with a fallback (issue 14).
//!
//! When the guard stops k6, or loses its view of the target (Prometheus no longer answers), it
//! tells the on-call: the alert goes to every Alertmanager of the environment
//! (`monitoring.alertmanagers`) through their v2 API (`POST /api/v2/alerts`, a JSON array of
//! `{labels, annotations, startsAt}`), as Prometheus itself sends, and their cluster delivers it
//! once. If none of them accepts it, it goes straight to the notification webhook that policy
//! data names (`notifications.webhook_url_env`, a Slack-compatible `{text}` message). The
//! record ([`AlertDelivery`]) says which path delivered it, or, when none did, why each failed:
//! an alert nobody took is never reported as sent.
//!
//! Hand-written: an Alertmanager client is one POST of a documented JSON shape; the crates that
//! wrap Alertmanager's API are unmaintained or pull in an OpenAPI-generated client.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::net::{ClientOptions, RetryPolicy, Secret};
use crate::policy::guarded::AlertDelivery;

/// How long one Alertmanager may take to accept an alert.
const AM_TIMEOUT: Duration = Duration::from_secs(2);

/// The fallback webhook gets two tries, 300 ms apart, within 5 s: the guard waits for it.
const FALLBACK_RETRY: RetryPolicy = RetryPolicy {
    attempts: 2,
    backoff: Duration::from_millis(300),
    max_backoff: Duration::from_secs(1),
    budget: Duration::from_secs(5),
};

/// Where the guard's critical alerts go.
#[derive(Debug, Clone, Default)]
pub struct Alerting {
    /// Base URLs of the environment's Alertmanagers (one cluster).
    pub alertmanagers: Vec<String>,
    /// The notification webhook, when policy data names one and it is set.
    pub fallback: Option<Secret>,
    /// Labels every alert carries besides `alertname` and `severity` (`environment`, `test`).
    pub labels: BTreeMap<String, String>,
}

/// One critical condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Critical {
    /// The alert's name: `K6gateGuardStoppedK6`, `K6gateObservabilityLost`.
    pub name: String,
    pub summary: String,
}

impl Critical {
    pub fn stopped_k6(reason: &str) -> Critical {
        Critical { name: "K6gateGuardStoppedK6".into(), summary: format!("the load-test guard stopped k6: {reason}") }
    }

    pub fn observability_lost(what: &str) -> Critical {
        Critical {
            name: "K6gateObservabilityLost".into(),
            summary: format!("the load-test guard lost its view of the target: {what}"),
        }
    }
}

/// The body of `POST /api/v2/alerts`: one alert, firing since `at` (RFC 3339). Pure.
pub fn alertmanager_body(a: &Alerting, c: &Critical, at: &str) -> Value {
    let mut labels: BTreeMap<&str, &str> = a.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    labels.insert("alertname", &c.name);
    labels.insert("severity", "critical");
    labels.insert("source", "k6gate-guard");
    json!([{ "labels": labels, "annotations": { "summary": c.summary }, "startsAt": at }])
}

/// The fallback webhook's message (Slack-compatible `text`, the labels as fields). Pure.
pub fn webhook_body(a: &Alerting, c: &Critical, at: &str) -> Value {
    let context: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    json!({
        "text": format!(
            "🚨 [critical] {}: {} ({}; sent straight to this webhook: no Alertmanager could be reached)",
            c.name,
            c.summary,
            if context.is_empty() { at.to_string() } else { format!("{}, {at}", context.join(", ")) }
        ),
        "alertname": c.name,
        "severity": "critical",
        "labels": a.labels,
        "startsAt": at,
    })
}

/// Sends `c` (firing since `at`, RFC 3339) to every Alertmanager, else to the fallback webhook;
/// which path delivered it. Blocking (its own runtime): the guard's thread waits at most
/// about 2 s per Alertmanager plus 5 s for the webhook.
pub fn deliver(a: &Alerting, c: &Critical, at: &str) -> AlertDelivery {
    let start = Instant::now();
    let mut d = AlertDelivery {
        alert: c.name.clone(),
        at: at.to_string(),
        summary: c.summary.clone(),
        path: "none".into(),
        accepted_by: Vec::new(),
        errors: Vec::new(),
        took_ms: 0.0,
    };
    let ms = |t: Instant| (t.elapsed().as_secs_f64() * 1e4).round() / 10.0;
    match crate::net::client(&ClientOptions::with_timeout(AM_TIMEOUT)) {
        Ok(client) => {
            let body = alertmanager_body(a, c, at).to_string();
            let posts = a.alertmanagers.iter().map(|am| {
                let (client, body) = (client.clone(), body.clone());
                async move { (am.clone(), post(&client, am, body).await) }
            });
            match crate::net::block_on(futures::future::join_all(posts)) {
                Ok(results) => {
                    for (am, r) in results {
                        match r {
                            Ok(()) => d.accepted_by.push(am),
                            Err(e) => d.errors.push(format!("Alertmanager {am}: {e}")),
                        }
                    }
                }
                Err(e) => d.errors.push(format!("Alertmanagers: {e}")),
            }
        }
        Err(e) => d.errors.push(format!("Alertmanagers: building the HTTP client: {e}")),
    }
    if a.alertmanagers.is_empty() {
        d.errors.push("no Alertmanager configured (monitoring.alertmanagers)".into());
    }
    if !d.accepted_by.is_empty() {
        d.path = "alertmanager".into();
        d.took_ms = ms(start);
        return d;
    }
    match &a.fallback {
        Some(url) => match crate::notify::send_with(url, &webhook_body(a, c, at), &FALLBACK_RETRY) {
            Ok(()) => d.path = "webhook".into(),
            Err(e) => d.errors.push(format!("fallback webhook: {e}")),
        },
        None => d.errors.push(
            "no fallback webhook: policy data names none (notifications.webhook_url_env) or its variable is unset"
                .into(),
        ),
    }
    d.took_ms = ms(start);
    d
}

async fn post(client: &reqwest::Client, base: &str, body: String) -> Result<(), String> {
    let url = format!("{}/api/v2/alerts", base.trim_end_matches('/'));
    let r = client
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| crate::net::describe(&e))?;
    let status = r.status();
    if status.is_success() {
        return Ok(());
    }
    let text: String = r.text().await.unwrap_or_default().chars().take(200).collect();
    Err(format!("HTTP {}: {}", status.as_u16(), text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alertmanager_body_is_one_critical_alert_with_the_runs_labels() {
        let a = Alerting {
            labels: [("environment".to_string(), "prod-sim".to_string())].into_iter().collect(),
            ..Alerting::default()
        };
        let c = Critical::stopped_k6("error_rate 0.7 over 0.6 (asks to stop)");
        let body = alertmanager_body(&a, &c, "2026-12-06T22:00:00.000Z");
        assert_eq!(
            body,
            json!([{"labels": {"alertname": "K6gateGuardStoppedK6", "severity": "critical", "source": "k6gate-guard",
                "environment": "prod-sim"},
                "annotations": {"summary": "the load-test guard stopped k6: error_rate 0.7 over 0.6 (asks to stop)"},
                "startsAt": "2026-12-06T22:00:00.000Z"}])
        );
        let text = webhook_body(&a, &c, "2026-12-06T22:00:00.000Z")["text"].as_str().unwrap_or_default().to_string();
        assert!(text.starts_with("🚨 [critical] K6gateGuardStoppedK6: the load-test guard stopped k6"), "{text}");
        assert!(text.contains("environment=prod-sim, 2026-12-06T22:00:00.000Z"), "{text}");
    }
}
