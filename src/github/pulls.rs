//! What GitHub knows about a merged pull request, for the approval check and the audit: the
//! PR a default-branch commit merged, its reviews, its commits with the GitHub accounts
//! behind them, and a file as of one of its commits. Typed octocrab calls, except
//! "List pull requests associated with a commit" (see [`merged_pr`]).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::api::{Api, ApiError, encode, owner_repo};

/// An approving review as GitHub recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Review {
    pub login: String,
    /// The commit the review approved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// `submitted_at`, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<String>,
}

/// One commit of a pull request and who made it, as GitHub and git say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrCommit {
    pub sha: String,
    /// The GitHub accounts of its author and committer, where GitHub matched them.
    pub logins: Vec<String>,
    /// The git author's and committer's names and e-mail addresses.
    pub identities: Vec<String>,
}

/// GitHub lists at most this many commits of a pull request.
pub const MAX_PR_COMMITS: usize = 250;

/// The PR merged into `default_branch` as `sha` (its merge or squash commit), if any.
pub fn merged_pr(api: &Api, repo_path: &str, sha: &str, default_branch: &str) -> Result<Option<Value>, ApiError> {
    // Raw: octocrab's `associated_pull_requests` adds a `target` query parameter GitHub does
    // not document.
    let pulls = api.get(&format!("{repo_path}/commits/{sha}/pulls"))?;
    Ok(pulls
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| {
            p.get("merged_at").is_some_and(|m| !m.is_null())
                && p.get("merge_commit_sha").and_then(|m| m.as_str()) == Some(sha)
                && p.pointer("/base/ref").and_then(|r| r.as_str()) == Some(default_branch)
        })
        .cloned())
}

/// Every review of PR `number` (`repo_path` is `/repos/OWNER/REPO`), as JSON in GitHub's
/// shape. More than 1,000 reviews is an error, never a partial list.
pub fn reviews(api: &Api, repo_path: &str, number: u64) -> Result<Vec<Value>, ApiError> {
    let (owner, repo) = owner_repo(repo_path)?;
    let path = format!("{repo_path}/pulls/{number}/reviews");
    let reviews = api.pages(&path, 10, |page| {
        let page_path = format!("{path}?per_page=100&page={page}");
        let listed = api.call("GET", &page_path, |octo| async move {
            octo.pulls(owner, repo).list_reviews(number).per_page(100u8).page(page).send().await
        })?;
        Ok(listed.items)
    })?;
    reviews
        .iter()
        .map(|r| {
            serde_json::to_value(r).map_err(|e| ApiError::Decode {
                method: "GET",
                path: path.clone(),
                message: e.to_string(),
            })
        })
        .collect()
}

/// Every commit of PR `number` ("List commits on a pull request"). GitHub lists at most 250:
/// a PR with that many is an error, never a list that may be partial.
pub fn commits(api: &Api, repo_path: &str, number: u64) -> Result<Vec<PrCommit>, ApiError> {
    let (owner, repo) = owner_repo(repo_path)?;
    let path = format!("{repo_path}/pulls/{number}/commits");
    let listed = api.pages(&path, 3, |page| {
        let page_path = format!("{path}?per_page=100&page={page}");
        let listed = api.call("GET", &page_path, |octo| async move {
            octo.pulls(owner, repo).pr_commits(number).per_page(100u8).page(page).send().await
        })?;
        Ok(listed.items)
    })?;
    if listed.len() >= MAX_PR_COMMITS {
        return Err(ApiError::Decode {
            method: "GET",
            path,
            message: format!("{} commits: GitHub lists at most {MAX_PR_COMMITS}, so some may be missing", listed.len()),
        });
    }
    Ok(listed
        .into_iter()
        .map(|c| {
            let logins = [&c.author, &c.committer].into_iter().flatten().map(|a| a.login.clone()).collect();
            let identities = [&c.commit.author, &c.commit.committer]
                .into_iter()
                .flatten()
                .flat_map(|a| [Some(a.name.clone()), a.email.clone()])
                .flatten()
                .collect();
            PrCommit { sha: c.sha, logins, identities }
        })
        .collect())
}

/// A file as of commit `sha` ("Get repository content"): its blob id and its bytes, or `None`
/// when it is not there (or not a file).
pub fn file_at(api: &Api, repo_path: &str, path: &str, sha: &str) -> Result<Option<(String, Vec<u8>)>, ApiError> {
    let (owner, repo) = owner_repo(repo_path)?;
    let encoded: Vec<String> = path.split('/').map(encode).collect();
    let encoded = encoded.join("/");
    let call_path = format!("{repo_path}/contents/{encoded}?ref={sha}");
    let got = api.call("GET", &call_path, |octo| {
        let encoded = encoded.clone();
        async move { octo.repos(owner, repo).get_content().path(encoded).r#ref(sha).send().await }
    });
    let mut items = match got {
        Ok(items) => items,
        Err(e) if e.status() == Some(404) => return Ok(None),
        Err(e) => return Err(e),
    };
    let decode = |message: String| ApiError::Decode { method: "GET", path: call_path.clone(), message };
    let items = items.take_items();
    let [item] = items.as_slice() else { return Ok(None) };
    if item.r#type != "file" {
        return Ok(None);
    }
    let (Some("base64"), Some(content)) = (item.encoding.as_deref(), item.content.as_deref()) else {
        return Err(decode(format!("{path} came without base64 content (GitHub sends none above 1 MB)")));
    };
    let bytes = base64_decode(content).ok_or_else(|| decode(format!("{path}: the content is not valid base64")))?;
    Ok(Some((item.sha.clone(), bytes)))
}

/// Standard base64 with padding, whitespace ignored (GitHub wraps it at 60 columns).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let clean: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if clean.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(clean.len() / 4 * 3);
    let chunks = clean.chunks(4);
    let last = chunks.len().saturating_sub(1);
    for (i, chunk) in chunks.enumerate() {
        let pad = chunk.iter().rev().take_while(|b| **b == b'=').count();
        if pad > 2 || (pad > 0 && i != last) {
            return None;
        }
        let mut n = 0u32;
        for (j, b) in chunk.iter().enumerate() {
            // Padding only at the end of the last chunk.
            let v = if j >= 4 - pad { 0 } else { value(*b)? };
            n = (n << 6) | v;
        }
        let bytes = n.to_be_bytes();
        out.extend(bytes.get(1..4 - pad).unwrap_or_default());
    }
    Some(out)
}

/// Each reviewer's latest decisive review (approve, request changes, dismissed); returns the
/// approving ones, in review order.
pub fn latest_approvals(reviews: &[Value]) -> Vec<Review> {
    let mut latest: BTreeMap<String, (usize, &str, Review)> = BTreeMap::new();
    for (i, r) in reviews.iter().enumerate() {
        let state = r.get("state").and_then(|s| s.as_str()).unwrap_or_default();
        if !matches!(state, "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED") {
            continue;
        }
        let Some(login) = r.pointer("/user/login").and_then(|l| l.as_str()) else { continue };
        let text = |k: &str| r.get(k).and_then(|c| c.as_str()).map(str::to_string);
        let review = Review { login: login.to_string(), commit: text("commit_id"), submitted_at: text("submitted_at") };
        latest.insert(login.to_string(), (i, state, review));
    }
    let mut approvals: Vec<_> = latest.into_values().filter(|(_, s, _)| *s == "APPROVED").collect();
    approvals.sort_by_key(|(i, _, _)| *i);
    approvals.into_iter().map(|(_, _, review)| review).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_later_change_request_cancels_an_approval() {
        let reviews = vec![
            json!({"user": {"login": "bob"}, "state": "APPROVED", "commit_id": "a1"}),
            json!({"user": {"login": "carol"}, "state": "APPROVED", "commit_id": "a1", "submitted_at": "2026-11-30T10:00:00Z"}),
            json!({"user": {"login": "bob"}, "state": "CHANGES_REQUESTED", "commit_id": "a2"}),
            json!({"user": {"login": "carol"}, "state": "COMMENTED", "commit_id": "a2"}),
        ];
        let carol = Review {
            login: "carol".into(),
            commit: Some("a1".into()),
            submitted_at: Some("2026-11-30T10:00:00Z".into()),
        };
        assert_eq!(latest_approvals(&reviews), vec![carol]);
    }

    #[test]
    fn base64_as_github_sends_it() {
        assert_eq!(base64_decode("d2FpdmVyczoK").as_deref(), Some(&b"waivers:\n"[..]));
        assert_eq!(base64_decode("YQ==\n").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64_decode("YWI=").as_deref(), Some(&b"ab"[..]));
        assert_eq!(base64_decode("").as_deref(), Some(&b""[..]));
        assert_eq!(base64_decode("YQ=="), Some(b"a".to_vec()));
        for bad in ["YQ=", "Y===", "YQ==YQ==", "Y!==", "YQ=a"] {
            assert_eq!(base64_decode(bad), None, "{bad}");
        }
    }
}
