//! Notifications: a blocked deployment is announced on a Slack-compatible webhook with the
//! numbers and the debug links; when the same service is blocked `after` times within
//! `within_days` days (policy data `notifications.escalation`), the message takes the
//! escalation route and mentions the owning team's lead.
//!
//! Webhook URLs are secrets: policy data names the environment variables that hold them.

use std::time::Duration;

use serde_json::{Value, json};

use crate::github::report::{Links, title};
use crate::policy::data::Notifications;
use crate::policy::verdict::{Status, Verdict};

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

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("webhook answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("webhook unreachable: {0}")]
    Transport(String),
}

/// Posts `body` with up to three attempts (5xx and transport errors are retried). The URL
/// never appears in errors: webhook URLs carry their secret in the path.
pub fn send(url: &str, body: &Value) -> Result<(), NotifyError> {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut wait = Duration::from_millis(500);
    let mut last = NotifyError::Transport("not attempted".into());
    for attempt in 1..=3 {
        let mut pause = wait;
        match agent.post(url).send_json(body) {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(mut r) => {
                let status = r.status().as_u16();
                // Slack answers 429 with Retry-After; never wait more than 10 s for it.
                pause = crate::net::retry_after(r.headers()).map_or(wait, |d| d.min(Duration::from_secs(10)));
                let text = r.body_mut().read_to_string().unwrap_or_default().chars().take(200).collect();
                last = NotifyError::Status { status, body: text };
                if status < 500 && status != 429 {
                    return Err(last);
                }
            }
            Err(e) => {
                let bad_url = matches!(e, ureq::Error::BadUri(_) | ureq::Error::Http(_));
                last = NotifyError::Transport(e.to_string().replace(url, "<webhook>"));
                if bad_url {
                    return Err(last);
                }
            }
        }
        if attempt < 3 {
            std::thread::sleep(pause);
            wait *= 2;
        }
    }
    Err(last)
}
