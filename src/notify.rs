//! Notifications: a blocked deployment is announced on a Slack-compatible webhook with the
//! numbers and the debug links (and so is an unreviewed change point in a test's history);
//! when the same service is blocked `after` times within
//! `within_days` days (policy data `notifications.escalation`), the message takes the
//! escalation route and mentions the owning team's lead.
//!
//! Webhook URLs are secrets ([`Secret`]): policy data names the environment variables that
//! hold them, and no message, error or log line shows one. Sending goes through the shared
//! HTTP stack (`crate::net`); this module never prints.

use std::time::Duration;

use serde_json::{Value, json};

use crate::net::retry::retryable_transport;
use crate::net::{Attempt, ClientOptions, RetryPolicy, Secret, TokioClock, retryable_status};
use crate::policy::data::Notifications;
use crate::policy::verdict::{Status, Verdict};
use crate::report::Links;
use crate::report::title::title;
use crate::trend::changepoints::Found;

/// Where one notification goes and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The environment variable holding the webhook URL.
    pub url_env: String,
    pub escalated: bool,
    /// Blocks of this service within the escalation window, this one included.
    pub blocked_recently: usize,
    pub mention: Option<String>,
    pub team: Option<String>,
}

/// Escapes the three characters Slack's mrkdwn gives meaning to (`<` opens a link or mention).
fn slack(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `blocked_recently` counts this run too.
pub fn plan(n: &Notifications, test: &str, blocked_recently: usize) -> Plan {
    let owner = n.owners.get(test);
    let escalation = n.escalation.as_ref().filter(|e| blocked_recently >= e.after as usize);
    Plan {
        url_env: escalation.map_or(n.webhook_url_env.clone(), |e| e.webhook_url_env.clone()),
        escalated: escalation.is_some(),
        blocked_recently,
        mention: escalation.and(owner).map(|o| o.lead.clone()),
        team: owner.map(|o| o.team.clone()),
    }
}

/// The Slack-compatible message: `text` (fallback and mention) and `blocks`.
pub fn message(plan: &Plan, v: &Verdict, links: &Links, within_days: Option<u32>) -> Value {
    let head = slack(&format!("🚫 Deployment blocked: {} ({}) — {}", v.test, v.environment, title(v)));
    let mut text = head.clone();
    if plan.escalated {
        text = format!(
            "{}{} blocked {} times in {} days. {head}",
            plan.mention.as_deref().map(|m| format!("{m} ")).unwrap_or_default(),
            slack(&plan.team.as_deref().map_or_else(|| v.test.clone(), |t| format!("{} ({t})", v.test))),
            plan.blocked_recently,
            within_days.unwrap_or_default()
        );
    }
    let failing: Vec<String> = v
        .results
        .iter()
        .filter(|r| r.status == Status::Fail)
        .take(8)
        .map(|r| format!("• {}", slack(&r.message)))
        .collect();
    let mut link_items = Vec::new();
    if let Some(u) = &links.actions_run {
        link_items.push(format!("<{u}|run report>"));
    }
    if let Some(u) = &links.grafana {
        link_items.push(format!("<{u}|Grafana dashboard for the run>"));
    }
    if let Some(u) = &links.serve {
        link_items.push(format!("<{u}|comparison in k6gate serve>"));
    }
    let mut blocks = vec![
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } }),
        json!({ "type": "section", "fields": [
            { "type": "mrkdwn", "text": format!("*Candidate*\n{}", slack(v.candidate.deployment_version.as_deref().unwrap_or("?"))) },
            { "type": "mrkdwn", "text": format!("*Baseline*\n{}", slack(v.baseline.deployment_version.as_deref().unwrap_or("?"))) },
        ]}),
    ];
    if !failing.is_empty() {
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": failing.join("\n") } }));
    }
    if !link_items.is_empty() || links.run_id.is_some() {
        let mut ctx = link_items.join(" · ");
        if let Some(id) = &links.run_id {
            ctx = if ctx.is_empty() { format!("run `{id}`") } else { format!("{ctx} · run `{id}`") };
        }
        blocks.push(json!({ "type": "context", "elements": [ { "type": "mrkdwn", "text": ctx } ] }));
    }
    json!({ "text": text, "blocks": blocks })
}

/// The change points of `test` in `environment` that alert (`k6gate history changepoints`,
/// `k6gate nightly`), as a Slack-compatible message: one line per change point, with the
/// owning team when policy data names one, and what to do about them.
pub fn change_point_message(n: Option<&Notifications>, test: &str, environment: &str, alerts: &[&Found]) -> Value {
    let team = n.and_then(|n| n.owners.get(test)).map(|o| format!(" ({})", o.team)).unwrap_or_default();
    let text = slack(&format!(
        "📈 {} unreviewed change point{} in {test}{team} on {environment}",
        alerts.len(),
        if alerts.len() == 1 { "" } else { "s" }
    ));
    let lines: Vec<String> = alerts
        .iter()
        .take(10)
        .map(|c| {
            let change = c.rel_change.map(|r| format!("{:+.1} %", r * 100.0)).unwrap_or_else(|| "changed".into());
            slack(&format!(
                "• {} {change} ({:.4} → {:.4}) from run {}{}, p = {:.4}, {} runs since",
                c.metric,
                c.mean_before,
                c.mean_after,
                c.run_id,
                c.version.as_deref().map(|v| format!(" (version {v})")).unwrap_or_default(),
                c.p_value,
                c.runs_since
            ))
        })
        .collect();
    let todo = "Look at the runs around it, then accept it (the new normal) or dismiss it in \
                `policies/data/changepoints.yaml` by pull request (runbooks/change-point-alert.md).";
    json!({
        "text": text,
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": text } },
            { "type": "section", "text": { "type": "mrkdwn", "text": lines.join("\n") } },
            { "type": "context", "elements": [ { "type": "mrkdwn", "text": todo } ] },
        ],
    })
}

/// What a canary message says: plain values, so that this module knows the message and
/// `canary` knows the analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanaryNote {
    /// What is rolled out (`--name`), its environment and version.
    pub name: String,
    pub environment: String,
    pub version: Option<String>,
    /// `promote`, `rollback`, `inconclusive` or `error`.
    pub decision: String,
    /// One line: the decision, when, and each population's traffic.
    pub headline: String,
    /// The rules' reasons (or the error).
    pub reasons: Vec<String>,
    /// The numbers: one line per check (metric, route, stable, canary, change, p).
    pub numbers: Vec<String>,
    /// The Grafana dashboard over the analysis, and the Actions run.
    pub grafana: Option<String>,
    pub actions_run: Option<String>,
}

/// A canary decision as a Slack-compatible message: the headline, the reasons, the numbers
/// and the links, routed like a blocked deployment (`plan`: the owning team, no escalation).
pub fn canary_message(plan: &Plan, c: &CanaryNote) -> Value {
    let icon = match c.decision.as_str() {
        "promote" => "✅",
        "rollback" => "⏪",
        _ => "⚠️",
    };
    let team = plan.team.as_deref().map(|t| format!(" ({t})")).unwrap_or_default();
    let version = c.version.as_deref().map(|v| format!(", version {v}")).unwrap_or_default();
    let text = slack(&format!(
        "{icon} Canary {}: {}{team} on {}{version} — {}",
        c.decision.to_uppercase(),
        c.name,
        c.environment,
        c.headline
    ));
    let mut blocks = vec![json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })];
    if !c.reasons.is_empty() {
        let reasons: Vec<String> = c.reasons.iter().take(8).map(|r| format!("• {}", slack(r))).collect();
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": reasons.join("\n") } }));
    }
    if !c.numbers.is_empty() {
        let rows: Vec<String> = c.numbers.iter().take(20).map(|r| slack(r)).collect();
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": format!("```\n{}\n```", rows.join("\n")) } }));
    }
    let mut links = Vec::new();
    if let Some(u) = &c.grafana {
        links.push(format!("<{u}|Grafana dashboard for the analysis>"));
    }
    if let Some(u) = &c.actions_run {
        links.push(format!("<{u}|workflow run>"));
    }
    if !links.is_empty() {
        blocks.push(json!({ "type": "context", "elements": [ { "type": "mrkdwn", "text": links.join(" · ") } ] }));
    }
    json!({ "text": text, "blocks": blocks })
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("webhook answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("webhook unreachable: {0}")]
    Transport(String),
    #[error(transparent)]
    Net(#[from] crate::net::NetError),
}

/// Three attempts, 500 ms then 1 s apart; Slack's `Retry-After` on 429 honoured up to 10 s.
pub const RETRY: RetryPolicy = RetryPolicy {
    attempts: 3,
    backoff: Duration::from_millis(500),
    max_backoff: Duration::from_secs(10),
    budget: Duration::from_secs(60),
};

/// Posts `body` as JSON with [`RETRY`] (5xx, 429 and network errors are retried). The URL
/// is a [`Secret`] and never appears in errors: webhook URLs carry their secret in the path.
pub fn send(url: &Secret, body: &Value) -> Result<(), NotifyError> {
    send_with(url, body, &RETRY)
}

/// [`send`] with another retry policy.
pub fn send_with(url: &Secret, body: &Value, retry: &RetryPolicy) -> Result<(), NotifyError> {
    let client = crate::net::client(&ClientOptions::with_timeout(Duration::from_secs(10)))?;
    let payload = body.to_string();
    let outcome = crate::net::block_on(retry.run(&TokioClock, |_, _| attempt(&client, url, &payload)))?;
    outcome.map(|_| ()).map_err(|failed| failed.into_error())
}

async fn attempt(client: &reqwest::Client, url: &Secret, payload: &str) -> Result<(), Attempt<NotifyError>> {
    // reqwest quotes the URL in its messages; it is the secret, so it goes first.
    let hide = |e: reqwest::Error| NotifyError::Transport(url.scrub(&crate::net::describe(&e.without_url())));
    let sent = client
        .post(url.expose())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(payload.to_string())
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) if retryable_transport(&e) => return Err(Attempt::Retry { error: hide(e), retry_after: None }),
        Err(e) => return Err(Attempt::Final(hide(e))),
    };
    let status = response.status().as_u16();
    if response.status().is_success() {
        return Ok(());
    }
    let retry_after = crate::net::retry_after(response.headers());
    let text: String = response.text().await.unwrap_or_default().chars().take(200).collect();
    let error = NotifyError::Status { status, body: url.scrub(&text) };
    if retryable_status(status) { Err(Attempt::Retry { error, retry_after }) } else { Err(Attempt::Final(error)) }
}
