//! The `k6gate` binary as a test sentence (casey/just's `Test` builder):
//!
//! ```ignore
//! let out = K6gate::new()
//!     .args(["evaluate", "--phase", "steady"])
//!     .env("NO_COLOR", "1")
//!     .status(2)
//!     .stderr_contains("unknown phase \"steady\"");
//! assert!(out.stdout().is_empty());
//! ```
//!
//! [`K6gate::status`] runs the command and checks its exit code; the [`Ran`] it returns checks
//! stdout and stderr and keeps them for further checks. Every failure message shows the
//! command line, the exit code and both streams.
//!
//! The child never inherits what would change its output behind a test's back: `RUST_LOG`,
//! `K6GATE_LOG`, `NO_COLOR`, and the GitHub Actions variables (tests that want them set them).
//! k6, if it runs, sends no usage report.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::{Command, Output};

/// Variables a test run of the binary must not inherit from the shell or CI it runs in.
const SCRUBBED: &[&str] = &[
    "RUST_LOG",
    "K6GATE_LOG",
    "NO_COLOR",
    "GITHUB_ACTIONS",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_TOKEN",
    "GITHUB_EVENT_NAME",
    "GITHUB_EVENT_PATH",
    "GITHUB_REPOSITORY",
    "GITHUB_SHA",
    "GITHUB_REF",
    "GITHUB_HEAD_REF",
    "GITHUB_REF_NAME",
    "GITHUB_API_URL",
    "GITHUB_SERVER_URL",
    "GITHUB_RUN_ID",
    "GITHUB_WORKSPACE",
    // CI=true makes `run` confirm a FAIL near the budget by re-running k6 (policy default).
    "CI",
    // An archive set on the machine would make every `history prune` move runs.
    "K6GATE_ARCHIVE_URL",
    // A token on the machine would let `serve` listen beyond loopback; a server address adds links.
    "K6GATE_SERVE_TOKEN",
    "K6GATE_SERVE_URL",
    // A Tempo set on the machine would make `traces` read it instead of the test's files.
    "K6GATE_TEMPO_URL",
    "K6GATE_TEMPO_TENANT",
    // One set on the machine would make `traces` write k6's spans there.
    "K6GATE_OTLP_TRACES_URL",
];

/// One invocation of the `k6gate` binary, being described.
pub struct K6gate {
    cmd: Command,
    line: Vec<OsString>,
}

impl K6gate {
    pub fn new() -> K6gate {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_k6gate"));
        for name in SCRUBBED {
            cmd.env_remove(name);
        }
        cmd.env("K6_NO_USAGE_REPORT", "true");
        K6gate { cmd, line: vec!["k6gate".into()] }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> K6gate {
        self.line.push(arg.as_ref().to_owned());
        self.cmd.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> K6gate
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> K6gate {
        self.cmd.env(key, value);
        self
    }

    /// Starts from an empty environment but for `PATH`, as a job with nothing else set would.
    pub fn env_clear(mut self) -> K6gate {
        self.cmd.env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            self.cmd.env("PATH", path);
        }
        self.cmd.env("K6_NO_USAGE_REPORT", "true");
        self
    }

    pub fn env_remove(mut self, key: &str) -> K6gate {
        self.cmd.env_remove(key);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> K6gate {
        self.cmd.current_dir(dir);
        self
    }

    /// Runs it, whatever the exit code.
    pub fn output(mut self) -> Ran {
        let output = self.cmd.output().unwrap_or_else(|e| panic!("cannot run {}: {e}", show(&self.line)));
        Ran { line: show(&self.line), output }
    }

    /// Runs it and checks that it exited with `code`.
    #[track_caller]
    pub fn status(self, code: i32) -> Ran {
        let ran = self.output();
        if ran.code() != Some(code) {
            ran.fail(&format!("expected exit code {code}"));
        }
        ran
    }
}

/// A finished invocation: its exit code and its output.
pub struct Ran {
    line: String,
    output: Output,
}

impl Ran {
    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    #[track_caller]
    pub fn stdout_contains(self, needle: &str) -> Ran {
        if !self.stdout().contains(needle) {
            self.fail(&format!("stdout should contain {needle:?}"));
        }
        self
    }

    #[track_caller]
    pub fn stderr_contains(self, needle: &str) -> Ran {
        if !self.stderr().contains(needle) {
            self.fail(&format!("stderr should contain {needle:?}"));
        }
        self
    }

    #[track_caller]
    pub fn stdout_lacks(self, needle: &str) -> Ran {
        if self.stdout().contains(needle) {
            self.fail(&format!("stdout should not contain {needle:?}"));
        }
        self
    }

    #[track_caller]
    pub fn stderr_lacks(self, needle: &str) -> Ran {
        if self.stderr().contains(needle) {
            self.fail(&format!("stderr should not contain {needle:?}"));
        }
        self
    }

    #[track_caller]
    pub fn stdout_is_empty(self) -> Ran {
        if !self.output.stdout.is_empty() {
            self.fail("stdout should be empty");
        }
        self
    }

    /// stdout as JSON.
    #[track_caller]
    pub fn stdout_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.output.stdout).unwrap_or_else(|e| self.fail(&format!("stdout is not JSON: {e}")))
    }

    #[track_caller]
    fn fail(&self, what: &str) -> ! {
        panic!(
            "{what}\n$ {}\nexit: {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.line,
            self.output.status.code(),
            self.stdout(),
            self.stderr()
        )
    }
}

fn show(line: &[OsString]) -> String {
    line.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ")
}
