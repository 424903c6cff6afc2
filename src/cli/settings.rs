//! Settings: the flags every command shares, and the environment, read once at the edge.
//!
//! The library below never looks at `std::env`: what it needs (Grafana, GitHub, remote-write
//! credentials, who ran a run, `K6GATE_*` overrides) is resolved here into plain values.

use std::path::PathBuf;

use clap::ValueEnum;

use crate::error::{Error, Result, Service};
use crate::gate::{PolicyFrom, PolicySource};
use crate::github::approval::Mode;
use crate::run::outputs::{self, LinkBase, Outputs};
use crate::vars::Vars;

/// How waivers and migration windows are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Approval {
    /// Honoured only when merged through a PR approved by an allowed approver who is not its
    /// author (git history and the GitHub API).
    Verify,
    /// Taken as they are: local experiments only.
    Trust,
}

/// Which policy binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyChoice {
    /// The PR's base branch on `pull_request` and `pull_request_target` events, else the
    /// checkout.
    Auto,
    /// The checked-out policies directory.
    Checkout,
    /// The base branch: the PR event's, or `--policy-base`.
    Base,
}

/// Flags that mean the same for every command, declared once.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// History database and run directories.
    #[arg(long, global = true, default_value = ".k6gate", env = "K6GATE_STATE_DIR")]
    pub state_dir: PathBuf,
    /// Rego policies, with their YAML data in `data/`.
    #[arg(long, global = true, default_value = "policies")]
    pub policies: PathBuf,
    /// Waiver and migration-window files, one per PR (read when the directory exists).
    #[arg(long = "waivers-dir", global = true, default_value = "waivers")]
    pub waivers_dir: PathBuf,
    /// `verify`: waivers and windows count only when merged through an approved PR;
    /// `trust`: take them as they are (local experiments only).
    #[arg(long, global = true, value_enum, default_value_t = Approval::Verify, env = "K6GATE_APPROVAL")]
    pub approval: Approval,
    /// Which policy binds: `auto` = on pull_request events the PR's base branch (the
    /// policies directory at the merge base, read from git; the PR's own policy is shown,
    /// not binding), else the checkout; `checkout`; `base` = the base branch always.
    #[arg(long = "policy-from", global = true, value_enum, default_value_t = PolicyChoice::Auto, env = "K6GATE_POLICY_FROM")]
    pub policy_from: PolicyChoice,
    /// The base revision whose policy binds, at its merge base with HEAD (for example
    /// `origin/main`); implies `--policy-from base`.
    #[arg(long = "policy-base", global = true, value_name = "REV")]
    pub policy_base: Option<String>,
    /// The branch baselines come from and waivers must have been merged into.
    #[arg(long, global = true, default_value = "main", env = "K6GATE_DEFAULT_BRANCH")]
    pub default_branch: String,
    /// The durable run store: `s3://bucket/prefix` (S3 and S3-compatible), `gs://`, `az://`
    /// or `file:///path`. The SQLite file in the state directory becomes its cache.
    /// Credentials come from the usual `AWS_*`, `GOOGLE_*` and `AZURE_*` variables.
    #[arg(long = "history", global = true, env = "K6GATE_HISTORY_URL", value_name = "URL")]
    pub history: Option<String>,
    /// The archive of runs past their class's hot period (`k6gate archive`, `history
    /// import`; with it, `history prune` moves those runs there): the same URLs and
    /// credentials as `--history`.
    #[arg(long = "archive", global = true, env = "K6GATE_ARCHIVE_URL", value_name = "URL")]
    pub archive: Option<String>,
    /// How long one operation on the durable store may take, retries included.
    #[arg(long = "history-timeout", global = true, default_value = "20s", value_parser = humantime::parse_duration, env = "K6GATE_HISTORY_TIMEOUT")]
    pub history_timeout: std::time::Duration,
}

/// Where `k6gate serve` answers, for the links in check runs and notifications.
pub const SERVE_URL: &str = "K6GATE_SERVE_URL";

/// Flags and environment, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub global: GlobalArgs,
    pub env: Vars,
}

impl Settings {
    pub fn new(global: GlobalArgs, env: Vars) -> Settings {
        Settings { global, env }
    }

    pub fn state_dir(&self) -> &std::path::Path {
        &self.global.state_dir
    }

    /// Where the history is: the state directory, and the durable store when one is set.
    pub fn history(&self) -> crate::history::HistoryConfig {
        let remote = self.global.history.as_deref().and_then(|url| self.store_config(url));
        crate::history::HistoryConfig { state_dir: self.global.state_dir.clone(), remote }
    }

    /// The archive, when one is set (`--archive URL` / `K6GATE_ARCHIVE_URL`).
    pub fn archive(&self) -> Option<crate::history::RemoteConfig> {
        self.global.archive.as_deref().and_then(|url| self.store_config(url))
    }

    /// An object store at `url` with the `AWS_*`, `GOOGLE_*` and `AZURE_*` settings, or `None`
    /// for an empty URL.
    pub fn store_config(&self, url: &str) -> Option<crate::history::RemoteConfig> {
        let url = url.trim();
        if url.is_empty() {
            return None;
        }
        let options = self
            .env
            .with_prefixes(&["AWS_", "GOOGLE_", "AZURE_"])
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        Some(crate::history::RemoteConfig { url: url.to_string(), options, timeout: self.global.history_timeout })
    }

    pub fn approval_mode(&self) -> Mode {
        match self.global.approval {
            Approval::Verify => Mode::Verify { default_branch: self.global.default_branch.clone() },
            Approval::Trust => Mode::Trust,
        }
    }

    /// The policy the gate loads; the warning to show when overrides are trusted unchecked.
    pub fn policy_source(&self) -> Result<PolicySource> {
        let from = match (self.global.policy_from, &self.global.policy_base) {
            (PolicyChoice::Checkout, Some(rev)) => {
                return Err(Error::Usage(format!(
                    "--policy-base {rev} names the base branch's policy, but --policy-from checkout reads the checkout's: give one of them"
                )));
            }
            (PolicyChoice::Checkout, None) => PolicyFrom::Checkout,
            (PolicyChoice::Auto, None) => PolicyFrom::Auto,
            (PolicyChoice::Base, None) => PolicyFrom::Base { rev: None },
            (PolicyChoice::Auto | PolicyChoice::Base, Some(rev)) => PolicyFrom::Base { rev: Some(rev.clone()) },
        };
        Ok(PolicySource {
            policies_dir: self.global.policies.clone(),
            waivers_dir: Some(self.global.waivers_dir.clone()),
            approval: self.approval_mode(),
            vars: self.env.clone(),
            from,
        })
    }

    pub fn trusted_warning(&self) -> Option<&'static str> {
        (self.global.approval == Approval::Trust)
            .then_some("--approval trust: waivers and migration windows count without checking their approval")
    }

    /// The commit under test: `GITHUB_SHA`, else `git rev-parse HEAD`.
    pub fn git_commit(&self) -> Option<String> {
        if let Some(sha) = self.env.get("GITHUB_SHA") {
            return Some(sha.chars().take(12).collect());
        }
        git(&["rev-parse", "--short=12", "HEAD"])
    }

    /// The current branch: CI variables first, then git.
    pub fn git_branch(&self) -> Option<String> {
        ["GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME"]
            .iter()
            .find_map(|v| self.env.get(v))
            .or_else(|| git(&["branch", "--show-current"]))
    }

    /// Running in CI: GitHub Actions, or any CI that sets `CI=true` (GitLab, Buildkite, ...).
    pub fn in_ci(&self) -> bool {
        let yes = |name: &str| self.env.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        yes("GITHUB_ACTIONS") || yes("CI")
    }

    /// Who runs k6gate and what triggered it: in Actions the actor, the triggering actor,
    /// the event and the workflow run's URL; locally the git user. Never the runner's
    /// account (`$USER` is `runner` in Actions).
    pub fn who(&self) -> crate::run::Who {
        let in_actions = self.env.get("GITHUB_ACTIONS").is_some_and(|v| v == "true");
        let actor = self.env.get("GITHUB_ACTOR");
        let user = match (in_actions, &actor) {
            (_, Some(actor)) => Some(actor.clone()),
            (true, None) => None,
            (false, None) => super::who::git_user().or_else(super::who::current_user),
        };
        let run_url =
            match (self.env.get("GITHUB_SERVER_URL"), self.env.get("GITHUB_REPOSITORY"), self.env.get("GITHUB_RUN_ID"))
            {
                (Some(server), Some(repo), Some(id)) => {
                    Some(format!("{}/{repo}/actions/runs/{id}", server.trim_end_matches('/')))
                }
                _ => None,
            };
        let context = crate::history::RunContext {
            confirms: None,
            actor: user.clone(),
            triggering_actor: self.env.get("GITHUB_TRIGGERING_ACTOR"),
            event: self.env.get("GITHUB_EVENT_NAME"),
            workflow_run_url: run_url,
            bootstrap: false,
        };
        crate::run::Who { user, host: super::who::hostname(), context }
    }

    /// Grafana, when `K6GATE_GRAFANA_URL` is set.
    pub fn grafana(&self) -> Result<Option<crate::grafana::annotate::GrafanaConfig>> {
        crate::grafana::annotate::GrafanaConfig::from_lookup(|n| self.env.get(n))
            .map_err(|e| Error::service(Service::Grafana, "reading its settings", e))
    }

    /// Credentials for Prometheus/Mimir (`K6GATE_PROM_TOKEN`, or user and password).
    pub fn remote_write_auth(&self) -> Result<crate::prom::remote_write::Auth> {
        crate::prom::remote_write::Auth::from_lookup(|n| self.env.get(n))
            .map_err(|e| Error::service(Service::Prometheus, "reading its credentials", e))
    }

    /// The GitHub Actions context and API settings.
    pub fn github(&self) -> Result<outputs::GitHub> {
        let context = crate::github::actions::Context::from_lookup(|n| self.env.get(n))
            .map_err(|e| Error::service(Service::GitHub, "reading the Actions context", e))?;
        let api = crate::github::api::ApiConfig::for_context(&context);
        Ok(outputs::GitHub { context, api, in_actions: self.env.get("GITHUB_ACTIONS").as_deref() == Some("true") })
    }

    /// What links point at: the Grafana dashboard (`K6GATE_GRAFANA_URL`, dashboard
    /// `K6GATE_GRAFANA_DASHBOARD_UID` or the live one), the Actions run, and the run's page in
    /// `k6gate serve` (`K6GATE_SERVE_URL`).
    pub fn links(&self) -> LinkBase {
        use crate::grafana::annotate::{ENV_DASHBOARD_UID, ENV_URL};
        let grafana = self.env.get(ENV_URL).map(|url| {
            let uid = self.env.get(ENV_DASHBOARD_UID).unwrap_or_else(|| crate::grafana::generate::LIVE_UID.to_string());
            (url, uid)
        });
        // From the plain variables: `notify` may run without a token in its environment.
        let actions_run = match (self.env.get("GITHUB_REPOSITORY"), self.env.get("GITHUB_RUN_ID")) {
            (Some(repo), Some(id)) => Some(format!(
                "{}/{repo}/actions/runs/{id}",
                self.env.get("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into()).trim_end_matches('/')
            )),
            _ => None,
        };
        LinkBase {
            grafana,
            actions_run,
            workspace: self.env.get("GITHUB_WORKSPACE").map(PathBuf::from),
            serve: self.env.get(SERVE_URL).map(|u| u.trim_end_matches('/').to_string()),
        }
    }

    pub fn webhook(&self) -> outputs::Webhook {
        outputs::Webhook { history: self.history(), vars: self.env.clone() }
    }

    /// The outputs of `run`: Prometheus when a remote-write URL is given, Grafana when
    /// configured, GitHub when asked for, the webhook when policy data names one.
    /// A broken Grafana setting is a warning (the run still counts); a missing GitHub context
    /// with `--report github` is an error before k6 starts.
    pub fn outputs(
        &self,
        remote_write: Option<&crate::run::k6::RemoteWrite>,
        github: bool,
        warnings: &mut Vec<String>,
    ) -> Result<Outputs> {
        let prometheus = remote_write.map(|rw| outputs::Prometheus { remote_write: rw.clone() });
        let grafana = match self.grafana() {
            Ok(config) => config.map(|config| outputs::Grafana {
                config,
                queue_dir: self.global.state_dir.join(crate::grafana::annotate::QUEUE_DIR),
            }),
            Err(e) => {
                warnings.push(format!("Grafana annotation skipped: {}", crate::error::chain(&e)));
                None
            }
        };
        Ok(Outputs {
            prometheus,
            grafana,
            github: if github { Some(self.github()?) } else { None },
            webhook: Some(self.webhook()),
            links: self.links(),
        })
    }
}

fn git(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        global: GlobalArgs,
    }

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let cli = Cli::try_parse_from(["k6gate"]).unwrap();
        Settings::new(cli.global, Vars::from_pairs(vars.iter().copied()))
    }

    /// In Actions `$USER` is `runner`: the record names the GitHub actor, who re-ran it, the
    /// event and the workflow run, never the runner's account.
    #[test]
    fn in_actions_the_run_is_the_actors_never_the_runners() {
        let s = settings(&[
            ("GITHUB_ACTIONS", "true"),
            ("USER", "runner"),
            ("GITHUB_ACTOR", "alice"),
            ("GITHUB_TRIGGERING_ACTOR", "bob"),
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_SERVER_URL", "https://github.com/"),
            ("GITHUB_REPOSITORY", "acme/shop"),
            ("GITHUB_RUN_ID", "42"),
        ]);
        let who = s.who();
        assert_eq!(who.user.as_deref(), Some("alice"));
        assert_eq!(who.context.triggering_actor.as_deref(), Some("bob"));
        assert_eq!(who.context.event.as_deref(), Some("pull_request"));
        assert_eq!(who.context.workflow_run_url.as_deref(), Some("https://github.com/acme/shop/actions/runs/42"));
        let nobody = settings(&[("GITHUB_ACTIONS", "true"), ("USER", "runner")]).who();
        assert_eq!(nobody.user, None, "no actor is unknown, not `runner`");
    }
}
