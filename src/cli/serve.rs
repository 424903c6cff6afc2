//! `k6gate serve`: the settings resolved (token, policy data, store), then the server of
//! `src/serve` until Ctrl-C.

use super::{ServeArgs, Settings};
use crate::error::{Error, Exit, Result};
use crate::serve::{App, Config, check_listen};

/// The variable the token is read from when `--token` is not given.
pub const TOKEN_VAR: &str = "K6GATE_SERVE_TOKEN";

pub fn run(args: &ServeArgs, s: &Settings) -> Result<Exit> {
    let token = args.token.clone().or_else(|| s.env.get(TOKEN_VAR));
    let access = check_listen(args.listen, token.as_deref(), args.proxy_header.as_deref())
        .map_err(|e| Error::Usage(e.to_string()))?;
    // The comparisons' confidence and the teams come from the policy data, as `compare` reads it.
    let confidence = crate::gate::confidence(&s.global.policies)?;
    let owners = owners(&s.global.policies)?;
    if owners.is_empty() {
        tracing::info!("no owners in the policy data (notifications.owners): the run list has no team filter");
    }
    let store = crate::load::open_history(&s.history())?;
    let name = store.name();
    // Schema 8's decision records, for runs recorded before it: once (a run given one is never
    // listed again). A run left without one is read from its verdict by the page.
    match crate::policy::decision::backfill(&store) {
        Ok(done) => {
            if done.filled > 0 {
                println!("k6gate serve: added the decision record of {} older run(s) to {name}", done.filled);
            }
            for (id, why) in &done.unreadable {
                println!("k6gate serve: run {id} has no decision record: {why}");
            }
        }
        Err(e) => {
            tracing::warn!("the older runs' decision records could not be added (the pages read their verdicts): {e}")
        }
    }
    let config = Config {
        confidence,
        owners,
        access,
        page_size: usize::from(args.page_size),
        policies: Some(s.global.policies.clone()),
        waivers: Some(s.global.waivers_dir.clone()),
        github: github_target(args, s)?,
    };
    let app = App::new(store, config).map_err(|e| Error::Usage(e.to_string()))?;
    let listen = args.listen;
    let rt = crate::net::runtime::runtime().map_err(|e| Error::Usage(format!("starting the runtime: {e}")))?;
    rt.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(listen).await.map_err(|e| Error::Usage(format!("--listen {listen}: {e}")))?;
        let bound = listener.local_addr().map_err(|e| Error::Usage(format!("--listen {listen}: {e}")))?;
        println!("k6gate serve: http://{bound}/runs (store {name})");
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        crate::serve::serve(listener, app, shutdown).await.map_err(|e| Error::Usage(format!("serving on {bound}: {e}")))
    })?;
    Ok(Exit::Success)
}

/// Test -> team, from `notifications.owners` of the policy data (none without a data directory).
fn owners(policies: &std::path::Path) -> Result<std::collections::BTreeMap<String, String>> {
    let dir = policies.join("data");
    if !dir.is_dir() {
        return Ok(Default::default());
    }
    let data = crate::policy::data::load(&dir)?;
    Ok(data.notifications.map(|n| n.owners.into_iter().map(|(test, o)| (test, o.team)).collect()).unwrap_or_default())
}

/// Where the editors open pull requests: `--github-repo` and a token in `GITHUB_TOKEN`, or
/// nothing (read-only). A repository without a token is a usage error, not a silent read-only.
fn github_target(args: &ServeArgs, s: &Settings) -> Result<Option<crate::serve::GithubTarget>> {
    let Some(repo) = args.github_repo.as_deref().map(str::trim).filter(|r| !r.is_empty()) else {
        if s.env.get("GITHUB_TOKEN").is_some() {
            tracing::info!("GITHUB_TOKEN is set but no --github-repo: the server is read-only");
        }
        return Ok(None);
    };
    let valid = repo.split_once('/').is_some_and(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'));
    if !valid {
        return Err(Error::Usage(format!("--github-repo {repo:?}: expected OWNER/NAME")));
    }
    let Some(token) = s.env.get("GITHUB_TOKEN").filter(|t| !t.trim().is_empty()) else {
        return Err(Error::Usage(
            "--github-repo needs a token in GITHUB_TOKEN to open pull requests (without --github-repo the server is read-only)".into(),
        ));
    };
    let api_url = s.env.get("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into());
    Ok(Some(crate::serve::GithubTarget {
        api: crate::github::api::ApiConfig::new(api_url, crate::github::api::Token::new(token)),
        repo: repo.to_string(),
        base: s.global.default_branch.clone(),
        policies_path: args.github_policies_path.trim_matches('/').to_string(),
        waivers_path: args.github_waivers_path.trim_matches('/').to_string(),
    }))
}
