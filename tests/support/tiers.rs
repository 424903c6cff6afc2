//! The three-tier demo stack (`tiers/`, package `k6gate-tiers`) as real processes: the
//! database, the API and the gateway, each exporting OTLP/HTTP JSON to the given endpoint (a
//! [`super::fake_tempo::FakeTempo`]), each killed when dropped and, through
//! [`super::proc::Proc`]'s watchdog, when the test process ends. Each tier's JSON log goes to
//! a file in the stack's directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::proc::Proc;

/// The `k6gate-tiers` binary, built (once per test process) into the target directory the
/// test binary runs from: `cargo test` of the k6gate package does not build the other
/// package's binary by itself. Built with the workspace's default members selected (no `-p`),
/// so its dependencies have the features `cargo build`/`cargo test` give them and nothing is
/// compiled a second time with other features.
pub fn tiers_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable");
        // <target>/<profile>/deps/integration-<hash>
        let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
        let target_dir = profile_dir.parent().expect("target dir");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--bin", "k6gate-tiers"])
            .env("CARGO_TARGET_DIR", target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build -p k6gate-tiers");
        assert!(status.success(), "cargo build -p k6gate-tiers failed");
        let bin = profile_dir.join("k6gate-tiers");
        assert!(bin.exists(), "{} missing after the build", bin.display());
        bin
    })
    .clone()
}

pub struct Tier {
    pub url: String,
    pub log: PathBuf,
    proc: Proc,
}

pub struct Tiers {
    pub db: Tier,
    pub api: Tier,
    pub gateway: Tier,
    _dir: tempfile::TempDir,
}

fn spawn(dir: &Path, name: &str, args: &[String]) -> Tier {
    let log = dir.join(format!("{name}.log"));
    let file = std::fs::File::create(&log).expect("log file");
    let mut proc = Proc::spawn(
        Command::new(tiers_bin()).args(args).stdout(Stdio::piped()).stderr(Stdio::from(file)),
        &format!("k6gate-tiers {name}"),
    );
    let mut line = String::new();
    let stdout = proc.child().stdout.take().expect("stdout");
    BufReader::new(stdout).read_line(&mut line).expect("read stdout");
    let url = line.trim().strip_prefix("listening on ").map(str::to_string).unwrap_or_else(|| {
        panic!(
            "k6gate-tiers {name} did not start: {line:?}; log: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    Tier { url, log, proc }
}

impl Tiers {
    /// The stack exporting to `otlp` (a full `/v1/traces` URL), with a batch delay of
    /// `batch_delay_ms` and `extra` flags for every tier (fault switches).
    pub fn start(otlp: &str, batch_delay_ms: u64, extra: &[&str]) -> Tiers {
        let dir = tempfile::tempdir().expect("tempdir");
        let common = |tier: &[&str]| -> Vec<String> {
            let mut a: Vec<String> =
                vec![format!("--otlp-endpoint={otlp}"), format!("--batch-delay-ms={batch_delay_ms}")];
            a.extend(extra.iter().map(|s| s.to_string()));
            a.extend(tier.iter().map(|s| s.to_string()));
            a
        };
        let db = spawn(dir.path(), "db", &common(&["db"]));
        let api = spawn(dir.path(), "api", &common(&["api", "--db", &db.url]));
        let gateway = spawn(dir.path(), "gateway", &common(&["gateway", "--upstream", &api.url]));
        Tiers { db, api, gateway, _dir: dir }
    }

    fn tiers(&mut self) -> [&mut Tier; 3] {
        [&mut self.gateway, &mut self.api, &mut self.db]
    }

    /// `PUT /admin/faults` with `json` on every tier.
    pub fn set_faults(&mut self, json: &str) {
        for t in self.tiers() {
            let out = Command::new("curl")
                .args(["-sf", "-X", "PUT", "-H", "content-type: application/json", "--data", json])
                .arg(format!("{}/admin/faults", t.url))
                .output()
                .expect("curl");
            assert!(out.status.success(), "PUT {}/admin/faults {json}: {out:?}", t.url);
        }
    }

    /// SIGTERM to each tier (the gateway first), then waits for it to exit: a tier flushes
    /// its spans on the way out. Panics when one does not exit within 15 s or fails.
    pub fn stop(&mut self) {
        for t in self.tiers() {
            let child = t.proc.child();
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
            let start = Instant::now();
            let status = loop {
                if let Some(s) = child.try_wait().expect("wait") {
                    break s;
                }
                assert!(start.elapsed() < Duration::from_secs(15), "{} did not stop on SIGTERM", t.url);
                std::thread::sleep(Duration::from_millis(50));
            };
            assert!(
                status.success(),
                "{} exited with {status}: {}",
                t.url,
                std::fs::read_to_string(&t.log).unwrap_or_default()
            );
        }
    }
}
