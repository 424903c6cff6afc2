//! A generated load-test stack, running for real: `k6gate stack generate` on free ports, then
//! Prometheus and both Alertmanagers (Debian's `prometheus-alertmanager`) started from the
//! files it wrote (their `*.args`, the stack directory as working directory), each killed
//! when dropped and, through a watchdog in its own session, when the test process ends.
//! Short intervals (1 s scrape and evaluation, 2 s resend, 1 s group wait) keep the tests
//! to seconds; the Alertmanagers still hold notifications until their cluster settles (10 s).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::cli::K6gate;
use super::http;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

pub use super::proc::Proc;

/// The flags of a generated `*.args` file.
pub fn args_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Polls `ok` every 200 ms for up to `limit`; how long it took, or a panic naming `what`.
pub fn wait_until(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ok() {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{what} within {limit:?}");
}

fn answers(url: &str) -> bool {
    Command::new("curl").args(["-sf", "-o", "/dev/null", "--max-time", "2", url]).status().is_ok_and(|s| s.success())
}

/// A running stack: its directory, processes and URLs.
pub struct Stack {
    /// When the processes were started.
    pub started: Instant,
    pub dir: PathBuf,
    pub prometheus_url: String,
    pub alertmanager_urls: Vec<String>,
    prometheus: Proc,
    alertmanagers: Vec<Proc>,
    _tmp: tempfile::TempDir,
}

impl Stack {
    /// Generates a stack notifying `webhook_url` and scraping `scrape` (`JOB=HOST:PORT`), starts
    /// it, and waits until Prometheus is ready and both Alertmanagers are clustered.
    pub fn start(webhook_url: &str, scrape: &[String]) -> Stack {
        Stack::start_with_rules(webhook_url, scrape, "")
    }

    /// [`Stack::start`] with `rules` (a rule file's YAML; none when empty) beside the
    /// generated ones in `prometheus/rules/`, for a drill's own alert.
    pub fn start_with_rules(webhook_url: &str, scrape: &[String], rules: &str) -> Stack {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let (p, a1, a2, c1, c2) = (free_port(), free_port(), free_port(), free_port(), free_port());
        let mut cli = K6gate::new().args(["stack", "generate", "--out"]).arg(&dir).args([
            "--prometheus-port",
            &p.to_string(),
            "--alertmanager-ports",
            &format!("{a1},{a2}"),
            "--cluster-ports",
            &format!("{c1},{c2}"),
            "--webhook-url",
            webhook_url,
            "--scrape-interval",
            "1s",
            "--evaluation-interval",
            "1s",
            "--resend-delay",
            "2s",
            "--group-wait",
            "1s",
        ]);
        for s in scrape {
            cli = cli.args(["--scrape", s]);
        }
        cli.status(0);
        if !rules.is_empty() {
            std::fs::create_dir_all(dir.join("prometheus/rules")).expect("rules dir");
            std::fs::write(dir.join("prometheus/rules/drill.yml"), rules).expect("drill rules");
        }
        let started = Instant::now();
        let prometheus = spawn_prometheus(&dir);
        let alertmanagers: Vec<Proc> = (1..=2).map(|i| spawn_alertmanager(&dir, i)).collect();
        let stack = Stack {
            started,
            prometheus_url: format!("http://127.0.0.1:{p}"),
            alertmanager_urls: vec![format!("http://127.0.0.1:{a1}"), format!("http://127.0.0.1:{a2}")],
            dir,
            prometheus,
            alertmanagers,
            _tmp: tmp,
        };
        let ready = format!("{}/-/ready", stack.prometheus_url);
        wait_until(Duration::from_secs(30), "Prometheus ready", || answers(&ready));
        for url in &stack.alertmanager_urls {
            wait_until(Duration::from_secs(40), "Alertmanager cluster ready", || {
                answers(&format!("{url}/-/ready")) && Stack::status(url)["cluster"]["status"] == "ready"
            });
        }
        stack
    }

    /// `GET /api/v2/status` of one Alertmanager.
    pub fn status(url: &str) -> Value {
        http::get_json(&format!("{url}/api/v2/status"), &[])
    }

    /// The active alerts named `name` one Alertmanager holds.
    pub fn alerts(url: &str, name: &str) -> Vec<Value> {
        let filter = format!("alertname=\"{name}\"");
        let v = http::get_json(&format!("{url}/api/v2/alerts"), &[("filter", &filter), ("active", "true")]);
        v.as_array().cloned().unwrap_or_default()
    }

    pub fn stop_prometheus(&mut self) {
        self.prometheus.stop();
    }

    pub fn stop_alertmanagers(&mut self) {
        self.alertmanagers.iter_mut().for_each(Proc::stop);
    }

    /// Kills Alertmanager `i` (0 or 1) with SIGKILL.
    pub fn kill_alertmanager(&mut self, i: usize) {
        self.alertmanagers[i].stop();
    }

    /// Starts Alertmanager `i` again from its generated flags (same storage and peers).
    pub fn restart_alertmanager(&mut self, i: usize) {
        self.alertmanagers[i] = spawn_alertmanager(&self.dir, i + 1);
    }

    /// Starts Prometheus again from its generated flags (same TSDB) and waits until it is ready.
    pub fn restart_prometheus(&mut self) {
        self.prometheus = spawn_prometheus(&self.dir);
        let ready = format!("{}/-/ready", self.prometheus_url);
        wait_until(Duration::from_secs(30), "Prometheus ready again", || answers(&ready));
    }

    /// The logs, for a failing assertion.
    pub fn logs(&self) -> String {
        ["prometheus.log", "alertmanager-1.log", "alertmanager-2.log"]
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                format!("--- {f}\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Appends to the log `name` in `dir` (a restarted process keeps its predecessor's lines).
fn log(dir: &Path, name: &str) -> std::fs::File {
    std::fs::OpenOptions::new().create(true).append(true).open(dir.join(name)).expect("log file")
}

fn spawn_prometheus(dir: &Path) -> Proc {
    Proc::spawn(
        Command::new("prometheus")
            .args(args_of(&dir.join("prometheus.args")))
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(log(dir, "prometheus.log")),
        "prometheus",
    )
}

/// Alertmanager `i` (1 or 2).
fn spawn_alertmanager(dir: &Path, i: usize) -> Proc {
    Proc::spawn(
        Command::new("prometheus-alertmanager")
            .args(args_of(&dir.join(format!("alertmanager-{i}.args"))))
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(log(dir, &format!("alertmanager-{i}.log"))),
        "prometheus-alertmanager",
    )
}
