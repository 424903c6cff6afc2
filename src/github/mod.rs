//! GitHub: the verdict where engineers already look, and overrides that are reviewed acts.
//!
//! - [`actions`]: the Actions context from the standard variables, workflow commands and the
//!   job summary;
//! - [`api`]: the REST client (octocrab) with bounded retries and token-free errors;
//! - [`report`]: the check run, the PR comment and the commit-status fallback;
//! - [`deployments`]: a deployment's status (the canary analysis's decision);
//! - [`approval`]: waivers and migration windows are honoured only when every change of
//!   their entry reached the default branch through a merged PR whose diff carried it,
//!   approved by someone allowed who neither opened the PR nor made that change;
//! - [`entries`]: what one entry of one file was at each commit, and which commits changed it;
//! - [`pulls`]: a merged PR's reviews, commits and files, as GitHub records them;
//! - [`codeowners`]: who owns a path, with GitHub's matching;
//! - [`audit`]: the history of policy data from git, with the PR behind each change;
//! - [`propose`]: a change of policy files as a pull request (branch, commit, PR, reviewers).

pub mod actions;
pub mod api;
pub mod approval;
pub mod audit;
pub mod codeowners;
pub mod deployments;
pub mod entries;
pub mod propose;
pub mod pulls;
pub mod report;

/// `s` cut to at most `max` bytes on a character boundary, saying so when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    const NOTE: &str = "\n\n… (truncated; the full report is in the run's artifacts)\n";
    let mut end = max.saturating_sub(NOTE.len());
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{NOTE}", s.get(..end).unwrap_or_default())
}
