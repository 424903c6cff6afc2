//! Annotations as k6gate builds them: a run as a tagged region, a baseline with its own tags,
//! and the body Grafana's "Create Annotation" documents. Pure: no IO, no clock.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::escape::escape_html;
use crate::grafana::generate::{
    ANNOTATION_TAG, BASELINE_ANNOTATION_TAG, CANARY_ANNOTATION_TAG, CHANGE_POINT_ANNOTATION_TAG, RUN_ANNOTATION_TAG,
};
use crate::history::{BaselineChoice, Outcome as RunOutcome, RunRecord};
use crate::trend::changepoints::Found;

// ---------------------------------------------------------------------------------------------
// Annotations

/// One annotation as k6gate builds and queues it. [`Annotation::request_json`] turns it into
/// the body Grafana documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Annotation {
    /// Unix epoch milliseconds.
    pub time_ms: i64,
    /// Set for a region; Unix epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_end_ms: Option<i64>,
    pub tags: Vec<String>,
    /// Grafana shows it as sanitized HTML, so the builders escape what they put in.
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard_uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panel_id: Option<i64>,
}

impl Annotation {
    /// The `POST /api/annotations` body: `dashboardUID` and `panelId` when set, `time`,
    /// `timeEnd` for a region, `tags`, `text`. Times are epoch milliseconds, as documented.
    pub fn request_json(&self) -> Value {
        let mut body = Map::new();
        if let Some(uid) = &self.dashboard_uid {
            body.insert("dashboardUID".into(), Value::from(uid.as_str()));
        }
        if let Some(panel) = self.panel_id {
            body.insert("panelId".into(), Value::from(panel));
        }
        body.insert("time".into(), Value::from(self.time_ms));
        if let Some(end) = self.time_end_ms {
            body.insert("timeEnd".into(), Value::from(end));
        }
        body.insert("tags".into(), Value::from(self.tags.clone()));
        body.insert("text".into(), Value::from(self.text.as_str()));
        Value::Object(body)
    }
}

/// What a run annotation says about a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFacts {
    pub run_id: String,
    pub test: String,
    pub environment: String,
    pub deployment_version: Option<String>,
    pub outcome: RunOutcome,
    /// Unix epoch milliseconds.
    pub start_ms: i64,
    /// `None` when the run never finished; the annotation is then a point at the start.
    pub end_ms: Option<i64>,
    /// The report: linked when it is an http(s) URL, otherwise shown as text (a path).
    pub report_link: Option<String>,
}

impl RunFacts {
    pub fn from_record(record: &RunRecord, report_link: Option<String>) -> RunFacts {
        RunFacts {
            run_id: record.id.clone(),
            test: record.test.clone(),
            environment: record.environment.clone(),
            deployment_version: record.deployment_version.clone(),
            outcome: record.outcome,
            start_ms: ns_to_ms_floor(record.started_at_ns),
            end_ms: record.finished_at_ns.map(ns_to_ms_ceil),
            report_link,
        }
    }
}

/// The region from a run's start to its end, with the verdict, version and report link.
pub fn run_annotation(run: &RunFacts, dashboard_uid: Option<&str>) -> Annotation {
    let mut tags = vec![ANNOTATION_TAG.to_string(), RUN_ANNOTATION_TAG.to_string()];
    push_tag(&mut tags, "test", &run.test);
    push_tag(&mut tags, "env", &run.environment);
    push_tag(&mut tags, "version", run.deployment_version.as_deref().unwrap_or(""));
    push_tag(&mut tags, "verdict", run.outcome.as_str());
    push_tag(&mut tags, "run", &run.run_id);

    let mut text = format!(
        "k6gate <b>{}</b>: {} on {}",
        run.outcome.as_str().to_uppercase(),
        escape_html(&run.test),
        escape_html(&run.environment)
    );
    if let Some(version) = &run.deployment_version {
        text.push_str(&format!(", version {}", escape_html(version)));
    }
    text.push_str(&format!("<br />run {}", escape_html(&run.run_id)));
    if let Some(link) = &run.report_link {
        text.push_str(&format!(" · {}", report_html(link)));
    }
    region(run.start_ms, run.end_ms, tags, text, dashboard_uid)
}

/// What a baseline annotation says: the baseline run and why it is the baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineFacts {
    pub run_id: String,
    pub test: String,
    pub environment: String,
    pub deployment_version: Option<String>,
    /// The baseline run's start and end, Unix epoch milliseconds.
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    /// `pinned by alice at ...: <reason>` or `latest passing run on main`
    /// ([`BaselineChoice::reason`]).
    pub reason: String,
    pub pinned: bool,
}

impl BaselineFacts {
    pub fn from_choice(choice: &BaselineChoice) -> BaselineFacts {
        let run = &choice.run;
        BaselineFacts {
            run_id: run.id.clone(),
            test: run.test.clone(),
            environment: run.environment.clone(),
            deployment_version: run.deployment_version.clone(),
            start_ms: ns_to_ms_floor(run.started_at_ns),
            end_ms: run.finished_at_ns.map(ns_to_ms_ceil),
            reason: choice.reason.clone(),
            pinned: choice.pin.is_some(),
        }
    }
}

/// The baseline run's region, tagged `k6gate`, `baseline`, `test:`, `env:`, `version:`,
/// `run:` and `pinned` when a person chose it. Post it when the baseline changes (a pin, or a
/// newer passing run), not with every run, or the same region stacks up.
pub fn baseline_annotation(baseline: &BaselineFacts, dashboard_uid: Option<&str>) -> Annotation {
    let mut tags = vec![ANNOTATION_TAG.to_string(), BASELINE_ANNOTATION_TAG.to_string()];
    push_tag(&mut tags, "test", &baseline.test);
    push_tag(&mut tags, "env", &baseline.environment);
    push_tag(&mut tags, "version", baseline.deployment_version.as_deref().unwrap_or(""));
    push_tag(&mut tags, "run", &baseline.run_id);
    if baseline.pinned {
        tags.push("pinned".to_string());
    }

    let mut text =
        format!("k6gate <b>baseline</b>: {} on {}", escape_html(&baseline.test), escape_html(&baseline.environment));
    if let Some(version) = &baseline.deployment_version {
        text.push_str(&format!(", version {}", escape_html(version)));
    }
    text.push_str(&format!("<br />run {}: {}", escape_html(&baseline.run_id), escape_html(&baseline.reason)));
    region(baseline.start_ms, baseline.end_ms, tags, text, dashboard_uid)
}

/// A change point of `test` in `environment`'s history as a point at the start of its first
/// run, tagged `k6gate`, `change-point`, `test:`, `env:`, `metric:`, `run:` and `version:`
/// (Otava tags its change points `change-point`, `test:` and `metric:` too).
pub fn change_point_annotation(test: &str, environment: &str, cp: &Found, dashboard_uid: Option<&str>) -> Annotation {
    let mut tags = vec![ANNOTATION_TAG.to_string(), CHANGE_POINT_ANNOTATION_TAG.to_string()];
    push_tag(&mut tags, "test", test);
    push_tag(&mut tags, "env", environment);
    push_tag(&mut tags, "metric", cp.metric.name());
    push_tag(&mut tags, "run", &cp.run_id);
    push_tag(&mut tags, "version", cp.version.as_deref().unwrap_or(""));

    let change = cp.rel_change.map(|r| format!("{:+.1} %", r * 100.0)).unwrap_or_else(|| "changed".into());
    let mut text = format!(
        "k6gate <b>change point</b>: {} of {} on {} {change} ({:.4} → {:.4})<br />from run {}",
        cp.metric,
        escape_html(test),
        escape_html(environment),
        cp.mean_before,
        cp.mean_after,
        escape_html(&cp.run_id)
    );
    if let Some(version) = &cp.version {
        text.push_str(&format!(", version {}", escape_html(version)));
    }
    text.push_str(&format!(" · p = {:.4}", cp.p_value));
    region(ns_to_ms_floor(cp.started_at_ns), None, tags, text, dashboard_uid)
}

/// What a canary annotation says: which analysis, and (once decided) the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanaryFacts {
    /// What is being rolled out (`--name`).
    pub name: String,
    pub environment: String,
    pub version: Option<String>,
    /// The analysis's id under `canary serve` (the controller's), else `None`.
    pub id: Option<String>,
    /// The analysis's start, Unix epoch milliseconds.
    pub start_ms: i64,
    /// `None` at the start; the decision (`promote`, `rollback`, `inconclusive`, `error`),
    /// when it was made (epoch ms) and one line of numbers once decided.
    pub decided: Option<(String, i64, String)>,
    /// A link to the whole report (the Actions run, a dashboard).
    pub link: Option<String>,
}

/// A canary analysis: a point at its start (tagged `stage:start`), then a region from the
/// start to the decision (tagged `stage:decision` and `decision:<word>`); both tagged
/// `k6gate`, `canary`, `canary:<name>`, `env:`, `version:` and `id:`, so a dashboard shows
/// them by tag and a query finds one analysis's pair.
pub fn canary_annotation(c: &CanaryFacts, dashboard_uid: Option<&str>) -> Annotation {
    let mut tags = vec![ANNOTATION_TAG.to_string(), CANARY_ANNOTATION_TAG.to_string()];
    push_tag(&mut tags, "canary", &c.name);
    push_tag(&mut tags, "env", &c.environment);
    push_tag(&mut tags, "version", c.version.as_deref().unwrap_or(""));
    push_tag(&mut tags, "id", c.id.as_deref().unwrap_or(""));
    let what = format!(
        "{} on {}{}",
        escape_html(&c.name),
        escape_html(&c.environment),
        c.version.as_deref().map(|v| format!(", version {}", escape_html(v))).unwrap_or_default()
    );
    let (end, mut text) = match &c.decided {
        None => {
            push_tag(&mut tags, "stage", "start");
            (None, format!("k6gate canary <b>started</b>: {what}"))
        }
        Some((decision, end_ms, line)) => {
            push_tag(&mut tags, "stage", "decision");
            push_tag(&mut tags, "decision", decision);
            let text = format!(
                "k6gate canary <b>{}</b>: {what}<br />{}",
                escape_html(&decision.to_uppercase()),
                escape_html(line)
            );
            (Some(*end_ms), text)
        }
    };
    if let Some(link) = &c.link {
        text.push_str(&format!(" · {}", report_html(link)));
    }
    region(c.start_ms, end, tags, text, dashboard_uid)
}

fn region(start_ms: i64, end_ms: Option<i64>, tags: Vec<String>, text: String, uid: Option<&str>) -> Annotation {
    Annotation {
        time_ms: start_ms,
        // A region never ends before it starts; an empty one is a point.
        time_end_ms: end_ms.filter(|&end| end > start_ms),
        tags,
        text,
        dashboard_uid: uid.map(str::to_string),
        panel_id: None,
    }
}

/// `key:value`, which Grafana stores as a key/value tag pair; left out when there is no value.
fn push_tag(tags: &mut Vec<String>, key: &str, value: &str) {
    let value = value.trim();
    if !value.is_empty() {
        tags.push(format!("{key}:{value}"));
    }
}

fn report_html(link: &str) -> String {
    if link.starts_with("https://") || link.starts_with("http://") {
        format!("<a href=\"{}\">report</a>", escape_html(link))
    } else {
        format!("report: {}", escape_html(link))
    }
}

/// Unix ns to ms for a region's start: rounded down, so the region covers the run.
pub fn ns_to_ms_floor(ns: i64) -> i64 {
    ns.div_euclid(1_000_000)
}

/// Unix ns to ms for a region's end: rounded up, so the region covers the run.
pub fn ns_to_ms_ceil(ns: i64) -> i64 {
    ns.div_euclid(1_000_000) + i64::from(ns.rem_euclid(1_000_000) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_canary_is_a_tagged_point_at_its_start_then_a_region_to_its_decision() {
        let mut c = CanaryFacts {
            name: "shop".into(),
            environment: "production".into(),
            version: Some("v2<b>".into()),
            id: None,
            start_ms: 1_000,
            decided: None,
            link: None,
        };
        let start = canary_annotation(&c, Some("k6gate-deployments"));
        assert_eq!((start.time_ms, start.time_end_ms), (1_000, None));
        assert_eq!(start.tags, ["k6gate", "canary", "canary:shop", "env:production", "version:v2<b>", "stage:start"]);
        assert!(start.text.contains("v2&lt;b&gt;"), "{}", start.text);
        c.decided = Some(("rollback".into(), 61_000, "p50 +30 %".into()));
        c.id = Some("abc".into());
        let end = canary_annotation(&c, None);
        assert_eq!((end.time_ms, end.time_end_ms), (1_000, Some(61_000)));
        assert!(end.tags.ends_with(&["id:abc".to_string(), "stage:decision".into(), "decision:rollback".into()]));
        assert!(end.text.starts_with("k6gate canary <b>ROLLBACK</b>: shop on production"), "{}", end.text);
    }

    #[test]
    fn ms_rounding_covers_the_run() {
        assert_eq!(ns_to_ms_floor(1_999_999), 1);
        assert_eq!(ns_to_ms_ceil(1_000_001), 2);
        assert_eq!(ns_to_ms_ceil(2_000_000), 2);
        assert_eq!(ns_to_ms_floor(-1), -1);
    }
}
