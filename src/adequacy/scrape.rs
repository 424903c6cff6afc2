//! `GET <base_url>/metrics`: the target's own series, read once before and once after the run.

use std::time::Duration;

use super::AdequacyError;
use crate::net::ClientOptions;

/// The target's exposition text. Short timeouts: the target is up (the run checked it) and
/// `/metrics` is cheap; a target without it answers 404 and its facts stay unknown.
pub fn metrics(base_url: &str) -> Result<String, AdequacyError> {
    let url = format!("{}/metrics", base_url.trim_end_matches('/'));
    let client = crate::net::client(&ClientOptions::with_timeout(Duration::from_secs(10)))?;
    let fail = |message: String| AdequacyError::Scrape { url: url.clone(), message };
    crate::net::block_on(async {
        let response = client.get(&url).send().await.map_err(|e| fail(crate::net::describe(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(fail(format!("answered {status}")));
        }
        response.text().await.map_err(|e| fail(crate::net::describe(&e)))
    })?
}
