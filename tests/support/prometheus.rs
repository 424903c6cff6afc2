//! A real Prometheus for a test binary: `scripts/start-prometheus.sh` (remote-write receiver,
//! native histograms, 30-day out-of-order window), TSDB under `target/<name>`, stopped by a
//! watchdog in its own session once the test process exits, however it exits (a static with
//! a `Drop` never runs at exit).

use std::process::{Command, Stdio};

use super::{root, target_dir};

/// Starts a fresh Prometheus with its data in `target/<name>` and returns its base URL.
pub fn start(name: &str) -> String {
    let script = root().join("scripts/start-prometheus.sh");
    let dir = target_dir().join(name);
    // A Prometheus from an earlier run whose watchdog never ran (say, a killed machine).
    let stop = Command::new("bash").arg(&script).arg("--stop").arg(&dir).output().expect("run --stop");
    assert!(stop.status.success(), "--stop failed: {}", String::from_utf8_lossy(&stop.stderr));
    let _ = std::fs::remove_dir_all(dir.join("tsdb"));

    let out = Command::new("bash").arg(&script).arg(&dir).stdin(Stdio::null()).output().expect("run start-prometheus");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "start-prometheus.sh failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let url = stdout
        .lines()
        .find_map(|l| l.strip_prefix("PROMETHEUS_URL="))
        .unwrap_or_else(|| panic!("no PROMETHEUS_URL= in {stdout:?}"))
        .to_string();

    // `setsid -f` forks the watchdog into its own session and returns at once.
    let watchdog = Command::new("setsid")
        .args(["-f", "sh", "-c", r#"tail --pid="$1" -f /dev/null; exec bash "$2" --stop "$3""#, "k6gate-prom-watchdog"])
        .arg(std::process::id().to_string())
        .arg(&script)
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("start the watchdog");
    assert!(watchdog.success(), "setsid -f failed: {watchdog}");
    url
}
