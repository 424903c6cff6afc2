//! Alert-delivery latency as a guard reading (`alert_delivery_s`): the guard posts its own
//! watchdog alert (`K6gateGuardWatchdog`, a fresh `probe` label each time) to every
//! Alertmanager, as Prometheus does (a cluster gossips silences and what it notified, not
//! alerts), and measures until one of them shows it (`GET /api/v2/alerts` filtered by the
//! probe): from then on the cluster delivers it once. While no Alertmanager takes or shows the
//! probe, the reading is its age so far, so an alert path that is down shows a growing
//! latency, never the last good one. One probe at a time; a new one once the last is shown.
//!
//! The probes resolve themselves (`endsAt` a minute later); the generated stack groups them by
//! `alertname`, so they make one notification group, not one per probe.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::net::{ClientOptions, percent_encode};

/// The probe's alert name.
pub const ALERT: &str = "K6gateGuardWatchdog";
const TIMEOUT: Duration = Duration::from_secs(2);

/// The probe in flight and the last complete measurement.
#[derive(Debug)]
pub struct Watchdog {
    client: reqwest::Client,
    alertmanagers: Vec<String>,
    labels: Vec<(String, String)>,
    seq: u64,
    /// The probe, when it was first tried, whether an Alertmanager took it.
    pending: Option<(String, Instant, bool)>,
    last_s: Option<f64>,
}

impl Watchdog {
    /// `None` without Alertmanagers: nothing to measure.
    pub fn new(alertmanagers: &[String], labels: &[(String, String)]) -> Option<Watchdog> {
        if alertmanagers.is_empty() {
            return None;
        }
        let client = crate::net::client(&ClientOptions::with_timeout(TIMEOUT)).ok()?;
        Some(Watchdog {
            client,
            alertmanagers: alertmanagers.to_vec(),
            labels: labels.to_vec(),
            seq: 0,
            pending: None,
            last_s: None,
        })
    }

    /// The reading: the last probe's latency, or the pending one's age when it is older; posts
    /// the next probe when none is pending (and posts a pending one again while no
    /// Alertmanager has taken it).
    pub async fn read(&mut self, run: &str, wall_ns: i64) -> Option<f64> {
        if self.pending.is_none() {
            self.seq += 1;
            self.pending = Some((format!("{run}-{}", self.seq), Instant::now(), false));
        }
        if let Some((probe, since, posted)) = self.pending.clone() {
            let posted = posted || self.post(&probe, wall_ns).await;
            if posted && self.anywhere(&probe).await {
                self.last_s = Some(round_ms(since.elapsed()));
                self.pending = None;
            } else {
                self.pending = Some((probe, since, posted));
            }
        }
        let age = self.pending.as_ref().map(|(_, since, _)| round_ms(since.elapsed()));
        match (self.last_s, age) {
            (Some(l), Some(a)) => Some(l.max(a)),
            (l, a) => l.or(a),
        }
    }

    /// The last probe that reached every Alertmanager: its latency (s).
    pub fn last(&self) -> Option<f64> {
        self.last_s
    }

    async fn post(&self, probe: &str, wall_ns: i64) -> bool {
        let mut labels = serde_json::Map::new();
        labels.insert("alertname".into(), ALERT.into());
        labels.insert("severity".into(), "none".into());
        labels.insert("probe".into(), probe.into());
        for (k, v) in &self.labels {
            labels.insert(k.clone(), Value::String(v.clone()));
        }
        let body = json!([{
            "labels": labels,
            "annotations": {"summary": "the load-test guard's delivery probe"},
            "startsAt": crate::time::format_rfc3339_ms(wall_ns),
            "endsAt": crate::time::format_rfc3339_ms(wall_ns + 60_000_000_000),
        }])
        .to_string();
        let mut taken = false;
        for am in &self.alertmanagers {
            let url = format!("{}/api/v2/alerts", am.trim_end_matches('/'));
            let sent = self
                .client
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => taken = true,
                Ok(r) => tracing::debug!("guard watchdog: {url}: HTTP {}", r.status().as_u16()),
                Err(e) => tracing::debug!("guard watchdog: {url}: {}", crate::net::describe(&e)),
            }
        }
        taken
    }

    /// Whether some Alertmanager shows the probe.
    async fn anywhere(&self, probe: &str) -> bool {
        let filter = format!(
            "filter={}&filter={}",
            percent_encode(&format!("alertname=\"{ALERT}\"")),
            percent_encode(&format!("probe=\"{probe}\""))
        );
        for am in &self.alertmanagers {
            let url = format!("{}/api/v2/alerts?{filter}", am.trim_end_matches('/'));
            if let Ok(r) = self.client.get(&url).send().await {
                if r.status().is_success()
                    && r.json::<Value>().await.ok().and_then(|v| v.as_array().map(|a| !a.is_empty())).unwrap_or(false)
                {
                    return true;
                }
            }
        }
        false
    }
}

fn round_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}
