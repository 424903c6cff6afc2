//! A child process of the full-tier tests, killed when dropped and, through a watchdog in its
//! own session, when the test process ends however it ends: no Prometheus, Alertmanager or
//! haproxy outlives the tests. Standard library only, so that test targets besides
//! `integration` (`tests/canary.rs`) include it by path.
#![allow(dead_code)] // each includer uses part of it

use std::process::{Child, Command, Stdio};

pub struct Proc(Option<Child>);

impl Proc {
    pub fn spawn(cmd: &mut Command, what: &str) -> Proc {
        let child = cmd.stdin(Stdio::null()).spawn().unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let watchdog = Command::new("setsid")
            .args(["-f", "sh", "-c", r#"tail --pid="$1" -f /dev/null; kill "$2" 2>/dev/null"#, "k6gate-test-watchdog"])
            .arg(std::process::id().to_string())
            .arg(child.id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("start the watchdog");
        assert!(watchdog.success());
        Proc(Some(child))
    }

    /// The running child (its pipes, its id).
    pub fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("the process was stopped")
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}
