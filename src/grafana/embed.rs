//! Addresses of one dashboard panel framed on one run: Grafana's `d-solo` URL,
//! `/d-solo/<uid>/<slug>?orgId=1&from=<ms>&to=<ms>&panelId=<id>&var-<name>=<value>...`,
//! for an iframe in a report or a link in a pull request.
//!
//! Grafana serves it only with `[security] allow_embedding = true` and to a viewer who is
//! signed in (or with anonymous access); this module builds the address and nothing else.
//! It does no IO.

use crate::net::{percent_encode, without_userinfo};
use crate::summary::RunSummary;
use crate::time::parse_rfc3339_ns;

/// Grafana's default organization.
pub const ORG_ID: u32 = 1;

/// Time shown before a run's first sample and after its last, so its edges are visible.
pub const RUN_PADDING_MS: i64 = 30_000;

/// The panel a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panel<'a> {
    /// The Grafana root, with its sub-path if any; a trailing slash is ignored.
    pub grafana_url: &'a str,
    pub dashboard_uid: &'a str,
    /// The dashboard's slug. Grafana finds the dashboard by its uid and ignores the slug;
    /// empty leaves it out (`/d-solo/<uid>`).
    pub slug: &'a str,
    pub panel_id: u32,
}

/// The `d-solo` URL of a panel from `from_ms` to `to_ms` (epoch milliseconds), with each
/// `(name, value)` as `var-<name>=<value>`, in the order given. Path segments, names and
/// values are percent-encoded; a `user:password@` in `grafana_url` is left out.
pub fn embed_url(
    grafana_url: &str,
    dashboard_uid: &str,
    slug: &str,
    panel_id: u32,
    from_ms: i64,
    to_ms: i64,
    vars: &[(&str, &str)],
) -> String {
    address(grafana_url, dashboard_uid, slug, Some(panel_id), (from_ms, to_ms), vars)
}

/// The whole dashboard (`/d/<uid>`) from `from_ms` to `to_ms` with these variables: the link
/// of something that is not a run (a canary analysis).
pub fn dashboard_url(
    grafana_url: &str,
    dashboard_uid: &str,
    from_ms: i64,
    to_ms: i64,
    vars: &[(&str, &str)],
) -> String {
    address(grafana_url, dashboard_uid, "", None, (from_ms, to_ms), vars)
}

/// `/d-solo/<uid>` with a panel, `/d/<uid>` (the whole dashboard) without.
fn address(
    grafana_url: &str,
    dashboard_uid: &str,
    slug: &str,
    panel_id: Option<u32>,
    (from_ms, to_ms): (i64, i64),
    vars: &[(&str, &str)],
) -> String {
    let root = without_userinfo(grafana_url.trim_end_matches('/'));
    let kind = if panel_id.is_some() { "d-solo" } else { "d" };
    let mut url = format!("{root}/{kind}/{}", percent_encode(dashboard_uid));
    if !slug.is_empty() {
        url.push('/');
        url.push_str(&percent_encode(slug));
    }
    url.push_str(&format!("?orgId={ORG_ID}&from={from_ms}&to={to_ms}"));
    if let Some(id) = panel_id {
        url.push_str(&format!("&panelId={id}"));
    }
    for (name, value) in vars {
        url.push_str(&format!("&var-{}={}", percent_encode(name), percent_encode(value)));
    }
    url
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmbedError {
    #[error("run {run_id}: the summary has no {which} time, so there is no time range to show")]
    MissingTime { run_id: String, which: &'static str },
    #[error("run {run_id}: the summary's {which} time {value:?} is not an RFC 3339 timestamp")]
    BadTime { run_id: String, which: &'static str, value: String },
}

/// The variables that select one run: `test`, `environment`, `version` and `run`, each left
/// out when the summary does not know it.
pub fn run_vars(summary: &RunSummary, run_id: &str) -> Vec<(&'static str, String)> {
    let meta = &summary.metadata;
    let mut vars = Vec::new();
    if let Some(test) = &meta.test_name {
        vars.push(("test", test.clone()));
    }
    if let Some(environment) = &meta.environment {
        vars.push(("environment", environment.clone()));
    }
    if let Some(version) = &meta.deployment_version {
        vars.push(("version", version.clone()));
    }
    vars.push(("run", run_id.to_string()));
    vars
}

/// The panel over the run's time range ([`RUN_PADDING_MS`] either side, the start rounded down
/// and the end up to the millisecond) with [`run_vars`].
pub fn run_embed_url(panel: &Panel<'_>, summary: &RunSummary, run_id: &str) -> Result<String, EmbedError> {
    run_address(panel.grafana_url, panel.dashboard_uid, panel.slug, Some(panel.panel_id), summary, run_id)
}

/// The whole dashboard (`/d/<uid>`) over the same range and variables: the debug link in PR
/// comments, check runs and notifications.
pub fn run_dashboard_url(
    grafana_url: &str,
    dashboard_uid: &str,
    summary: &RunSummary,
    run_id: &str,
) -> Result<String, EmbedError> {
    run_address(grafana_url, dashboard_uid, "", None, summary, run_id)
}

fn run_address(
    grafana_url: &str,
    dashboard_uid: &str,
    slug: &str,
    panel_id: Option<u32>,
    summary: &RunSummary,
    run_id: &str,
) -> Result<String, EmbedError> {
    let start_ns = time_ns(summary.metadata.start.as_deref(), "start", run_id)?;
    let end_ns = time_ns(summary.metadata.end.as_deref(), "end", run_id)?;
    let from_ms = start_ns.div_euclid(1_000_000).saturating_sub(RUN_PADDING_MS);
    let end_ms = end_ns.div_euclid(1_000_000) + i64::from(end_ns.rem_euclid(1_000_000) != 0);
    let to_ms = end_ms.max(from_ms).saturating_add(RUN_PADDING_MS);
    let vars = run_vars(summary, run_id);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(name, value)| (*name, value.as_str())).collect();
    Ok(address(grafana_url, dashboard_uid, slug, panel_id, (from_ms, to_ms), &vars))
}

fn time_ns(value: Option<&str>, which: &'static str, run_id: &str) -> Result<i64, EmbedError> {
    let value = value.ok_or_else(|| EmbedError::MissingTime { run_id: run_id.to_string(), which })?;
    parse_rfc3339_ns(value.as_bytes()).ok_or_else(|| EmbedError::BadTime {
        run_id: run_id.to_string(),
        which,
        value: value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_grafana_url_never_reach_a_link() {
        let url = embed_url("https://svc:s3cret@grafana.example/g/", "k6gate-live", "", 2, 1, 2, &[]);
        assert_eq!(url, "https://grafana.example/g/d-solo/k6gate-live?orgId=1&from=1&to=2&panelId=2");
        let whole = address("https://svc:s3cret@grafana.example", "k6gate-live", "", None, (1, 2), &[("run", "r 1")]);
        assert_eq!(whole, "https://grafana.example/d/k6gate-live?orgId=1&from=1&to=2&var-run=r%201");
    }

    #[test]
    fn encodes_reserved_and_non_ascii() {
        assert_eq!(percent_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(percent_encode("v1.2.3+build/5"), "v1.2.3%2Bbuild%2F5");
        assert_eq!(percent_encode("a b&c=d?#%"), "a%20b%26c%3Dd%3F%23%25");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }
}
