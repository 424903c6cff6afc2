//! Unreviewed change points, announced once: a Grafana annotation and a webhook message, each
//! only when configured (`K6GATE_GRAFANA_URL`; policy data `notifications` and its webhook
//! variable). The state directory keeps which change points each one already announced
//! ([`LEDGER`]), so a nightly search does not repeat them every night; with a fresh state
//! directory (a CI job without a cache) they are announced again until reviewed, and the
//! command exits 1 for them either way. Failures are deliveries with a problem, never errors:
//! an announcement never decides anything.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Settings;
use crate::error::Service;
use crate::grafana::annotate;
use crate::net::Secret;
use crate::policy::data::Notifications;
use crate::run::outputs::Delivery;
use crate::trend::changepoints::{Found, Report};

/// The file under the state directory that lists what was announced where.
pub const LEDGER: &str = "changepoints-announced.json";
const FORMAT: &str = "k6gate.changepoints-announced/v1";

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Ledger {
    format: String,
    announced: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    /// `grafana` or `webhook`.
    sink: String,
    test: String,
    environment: String,
    metric: String,
    run: String,
}

fn entry(sink: &str, r: &Report, c: &Found) -> Entry {
    Entry {
        sink: sink.into(),
        test: r.test.clone(),
        environment: r.environment.clone(),
        metric: c.metric.name().into(),
        run: c.run_id.clone(),
    }
}

fn delivery(service: Service) -> Delivery {
    Delivery { service, done: Vec::new(), notes: Vec::new(), problem: None, fatal: false, stdout: Vec::new() }
}

/// Announces the report's unreviewed change points that were not announced before.
pub fn announce(s: &Settings, notifications: Option<&Notifications>, report: &Report) -> Vec<Delivery> {
    let alerts: Vec<&Found> = report.alerts().collect();
    if alerts.is_empty() {
        return Vec::new();
    }
    let path = s.state_dir().join(LEDGER);
    let mut out = Vec::new();
    let mut ledger = match load(&path) {
        Ok(l) => l,
        Err(why) => {
            // Without the ledger nothing would ever count as announced: say so, send nothing.
            let mut d = delivery(Service::Grafana);
            d.problem = Some(format!("change points not announced: {why}"));
            return vec![d];
        }
    };
    let new = |sink: &str, ledger: &Ledger| -> Vec<&Found> {
        alerts.iter().copied().filter(|c| !ledger.announced.contains(&entry(sink, report, c))).collect()
    };

    match s.grafana() {
        Ok(None) => {}
        Err(e) => {
            let mut d = delivery(Service::Grafana);
            d.problem = Some(format!("change points not annotated: {}", crate::error::chain(&e)));
            out.push(d);
        }
        Ok(Some(config)) => {
            let mut d = delivery(Service::Grafana);
            let queue = annotate::Queue::new(s.state_dir().join(annotate::QUEUE_DIR));
            for c in new("grafana", &ledger) {
                let a = annotate::change_point_annotation(
                    &report.test,
                    &report.environment,
                    c,
                    config.dashboard_uid.as_deref(),
                );
                match annotate::send_or_queue(&config, &queue, &a) {
                    Ok(outcome @ annotate::Outcome::Sent(_)) => {
                        d.done.push(format!("change point {} at run {}: {outcome}", c.metric, c.run_id));
                        ledger.announced.push(entry("grafana", report, c));
                    }
                    // Kept for `grafana flush`: announced as far as this command can.
                    Ok(outcome @ annotate::Outcome::Queued(..)) => {
                        d.notes.push(format!("change point {} at run {}: {outcome}", c.metric, c.run_id));
                        ledger.announced.push(entry("grafana", report, c));
                    }
                    Ok(refused) => d.problem = Some(refused.to_string()),
                    Err(e) => d.problem = Some(e.to_string()),
                }
            }
            out.push(d);
        }
    }

    if let Some(n) = notifications {
        let fresh = new("webhook", &ledger);
        if !fresh.is_empty() {
            let mut d = delivery(Service::Webhook);
            match s.env.get(&n.webhook_url_env).filter(|u| !u.trim().is_empty()) {
                None => {
                    d.problem = Some(format!(
                        "notifications are configured but ${} is not set: nothing sent",
                        n.webhook_url_env
                    ))
                }
                Some(url) => {
                    let body = crate::notify::change_point_message(Some(n), &report.test, &report.environment, &fresh);
                    match crate::notify::send(&Secret::new(url), &body) {
                        Ok(()) => {
                            d.done.push(format!("{} change point(s) sent to ${}", fresh.len(), n.webhook_url_env));
                            ledger.announced.extend(fresh.iter().map(|c| entry("webhook", report, c)));
                        }
                        Err(e) => d.problem = Some(e.to_string()),
                    }
                }
            }
            out.push(d);
        }
    }

    if let Err(why) = save(&path, &ledger) {
        let mut d = delivery(Service::Grafana);
        d.problem = Some(format!("they will be announced again: {why}"));
        out.push(d);
    }
    out
}

fn load(path: &Path) -> Result<Ledger, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let l: Ledger = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            if l.format != FORMAT {
                return Err(format!("{}: format {:?}, expected {FORMAT:?}", path.display(), l.format));
            }
            Ok(l)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(Ledger { format: FORMAT.into(), announced: Vec::new() })
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Written to a temporary file and renamed: a reader never sees half a ledger.
fn save(path: &Path, ledger: &Ledger) -> Result<(), String> {
    let text = serde_json::to_string_pretty(ledger).map_err(|e| e.to_string())?;
    let tmp = path.with_extension("json.tmp");
    let shown = |e: std::io::Error| format!("{}: {e}", path.display());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(shown)?;
    }
    std::fs::write(&tmp, text).map_err(shown)?;
    std::fs::rename(&tmp, path).map_err(shown)
}
