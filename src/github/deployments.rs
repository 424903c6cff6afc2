//! Deployment statuses: the decision on a GitHub deployment, where the Environments page and
//! the pull request's deployment box show it. `POST /repos/{owner}/{repo}/deployments/
//! {deployment_id}/statuses` ("Create a deployment status", REST API 2022-11-28): `state`
//! (one of `error`, `failure`, `inactive`, `in_progress`, `queued`, `pending`, `success`),
//! `description` (at most 140 characters), `log_url`; GitHub answers `201` with the status.
//!
//! Fails closed like [`super::report`]: any API error is an `Err`.

use serde_json::{Value, json};

use super::actions::Context;
use super::api::{Api, ApiError};
use crate::report::title::clip;

/// The states k6gate sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentState {
    /// The analysis is running.
    InProgress,
    Success,
    /// The deployment was judged and must not go on (a rollback, or no decision).
    Failure,
    /// Nothing could be judged (the data source failed).
    Error,
}

impl DeploymentState {
    pub fn name(self) -> &'static str {
        match self {
            DeploymentState::InProgress => "in_progress",
            DeploymentState::Success => "success",
            DeploymentState::Failure => "failure",
            DeploymentState::Error => "error",
        }
    }
}

/// One status of a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentStatus {
    pub state: DeploymentState,
    /// Clipped to GitHub's 140 characters.
    pub description: String,
    /// The full output: a Grafana dashboard or the Actions run.
    pub log_url: Option<String>,
}

/// GitHub's limit on `description`.
pub const DESCRIPTION_LIMIT: usize = 140;

impl DeploymentStatus {
    /// The request body, as documented.
    pub fn request_json(&self) -> Value {
        let mut body =
            json!({ "state": self.state.name(), "description": clip(&self.description, DESCRIPTION_LIMIT - 1) });
        if let (Some(url), Some(o)) = (&self.log_url, body.as_object_mut()) {
            o.insert("log_url".into(), json!(url));
        }
        body
    }
}

/// Creates the status on deployment `id` of the context's repository; the new status's id.
pub fn post_status(api: &Api, ctx: &Context, id: u64, status: &DeploymentStatus) -> Result<u64, ApiError> {
    let path = format!("{}/deployments/{id}/statuses", ctx.repo_path());
    let created = api.post(&path, &status.request_json())?;
    created.get("id").and_then(Value::as_u64).ok_or(ApiError::Decode {
        method: "POST",
        path,
        message: "no id in the deployment status response".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_has_the_documented_fields_and_a_clipped_description() {
        let s = DeploymentStatus { state: DeploymentState::Failure, description: "x".repeat(300), log_url: None };
        let body = s.request_json();
        assert_eq!(body["state"], "failure");
        assert!(body["description"].as_str().unwrap().chars().count() <= DESCRIPTION_LIMIT);
        assert!(body.get("log_url").is_none());
        let s = DeploymentStatus { log_url: Some("https://g/d/x".into()), ..s };
        assert_eq!(s.request_json()["log_url"], "https://g/d/x");
        assert_eq!(DeploymentState::InProgress.name(), "in_progress");
    }
}
