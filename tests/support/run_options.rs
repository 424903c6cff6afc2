//! `RunOptions` for a short `checkout` run in `dev` against the demo shop on `port`, with
//! the repo's templates, environments and policies, recorded under `state`.

use std::path::Path;

use k6gate::run::{BaselineSource, RunOptions};

pub fn short_run(state: &Path, port: u16, version: &str, branch: &str, sustained: &str) -> RunOptions {
    let root = super::root();
    RunOptions {
        test: "checkout".into(),
        environment: "dev".into(),
        sets: vec![
            format!("base_url=http://127.0.0.1:{port}"),
            "stages.warm_up=1s".into(),
            "stages.ramp_up=1s".into(),
            format!("stages.sustained={sustained}"),
            "stages.ramp_down=1s".into(),
        ],
        vars: Default::default(),
        deployment_version: version.into(),
        git_commit: "abc1234".into(),
        git_branch: Some(branch.into()),
        default_branch: "main".into(),
        baseline: BaselineSource::Auto,
        previous: None,
        templates_dir: root.join("k6-templates"),
        environments_dir: root.join("environments"),
        policy: k6gate::gate::PolicySource::new(
            root.join("policies"),
            k6gate::github::approval::Mode::Verify { default_branch: "main".into() },
        ),
        state_dir: state.to_path_buf(),
        remote_history: None,
        // Each test starts from its own empty history unless it records a baseline first.
        bootstrap: true,
        lock: Default::default(),
        phase: Default::default(),
        quiet_k6: true,
        remote_write: None,
        outputs: Default::default(),
        who: k6gate::run::Who {
            user: Some("k6gate-test".into()),
            host: Some("test-host".into()),
            context: Default::default(),
        },
        now_ns: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64,
        caveat: None,
        guard: Default::default(),
        // Confirmation re-runs are their own tests' subject.
        confirm: Some(0),
        in_ci: false,
    }
}
