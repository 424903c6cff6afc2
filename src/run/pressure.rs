//! `stress-ng` beside k6 for a saturation run whose environment declares
//! `saturation.pressure:` (`render::pressure`). Started just before k6 and stopped as soon as
//! k6 has exited, whatever its outcome: [`Running`] ends the whole process group when dropped,
//! so an error or a Ctrl-C (which stops k6, and so this run) stops the workers too. If
//! k6gate itself dies, `stress-ng --timeout` (the plan's length plus [`SLACK_S`]) ends them.
//!
//! Only the run's saturation template is put under pressure: the other templates of the same
//! environment measure the service as it is.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[cfg(target_os = "linux")]
use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::render::Pressure;

/// Beyond the plan: k6's start, `setup()`, graceful stops and the summary.
pub const SLACK_S: u64 = 30;

/// How long `stress-ng` must stay up after its start to count as started (a bad option or CPU
/// list makes it exit at once).
const SETTLE: Duration = Duration::from_millis(300);

pub const INSTALL_HINT: &str = "stress-ng is not installed (Debian/Ubuntu: `apt-get install stress-ng`, or run \
scripts/install-stress-ng.sh); it is needed by `saturation.pressure`";

/// What the run was measured under, for its verdict and reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    /// "2 CPU workers pinned to CPU 0 (stress-ng)".
    pub description: String,
    /// Why the pressure did not last as long as k6 (stress-ng ended first).
    pub problem: Option<String>,
}

/// The pressure a run of `test` gets: the environment's `saturation.pressure` for the
/// saturation template, with its `stress-ng` timeout; `None` otherwise.
pub fn planned(test: &str, rendered: &crate::render::Rendered) -> Option<(Pressure, u64)> {
    let p = rendered.environment.saturation.as_ref()?.pressure.clone()?;
    let plan_s = rendered.plan.last().map_or(0, |s| s.end_ms.div_ceil(1000));
    (test == "saturation").then_some((p, plan_s + SLACK_S))
}

/// Whether `stress-ng` can be started (checked before the run: a missing tool costs seconds).
pub fn available() -> Result<()> {
    let ok = Command::new("stress-ng")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok { Ok(()) } else { Err(Error::Usage(INSTALL_HINT.into())) }
}

/// k6 kept off the pressed CPUs: while it lives, the calling thread (and so the k6 it
/// starts, and that k6's threads) may run only on the CPUs it had less `cpus`; dropped, the
/// thread's CPUs are restored. With `cpus` empty, or nothing left, nothing changes; off Linux
/// (no CPU affinity in nix there) neither.
pub struct KeepOff {
    #[cfg(target_os = "linux")]
    before: CpuSet,
    /// The CPUs k6 keeps ("1"), for the notes.
    pub kept: String,
}

#[cfg(not(target_os = "linux"))]
impl KeepOff {
    pub fn cpus(_cpus: &[u32]) -> Option<KeepOff> {
        None
    }
}

#[cfg(target_os = "linux")]
impl KeepOff {
    pub fn cpus(cpus: &[u32]) -> Option<KeepOff> {
        if cpus.is_empty() {
            return None;
        }
        let before = sched_getaffinity(Pid::from_raw(0)).ok()?;
        let mut rest = CpuSet::new();
        let mut kept = Vec::new();
        for cpu in 0..CpuSet::count() {
            if before.is_set(cpu).unwrap_or(false) && !cpus.iter().any(|c| *c as usize == cpu) {
                rest.set(cpu).ok()?;
                kept.push(cpu.to_string());
            }
        }
        if kept.is_empty() {
            return None;
        }
        sched_setaffinity(Pid::from_raw(0), &rest).ok()?;
        Some(KeepOff { before, kept: kept.join(",") })
    }
}

#[cfg(target_os = "linux")]
impl Drop for KeepOff {
    fn drop(&mut self) {
        let _ = sched_setaffinity(Pid::from_raw(0), &self.before);
    }
}

/// `stress-ng` running in its own process group.
pub struct Running {
    child: Child,
    description: String,
    log: std::path::PathBuf,
}

impl Running {
    /// Starts the workers, their output in `dir/stress-ng.log`; an error when `stress-ng`
    /// cannot start or exits at once (what it said is in the error).
    pub fn start(p: &Pressure, timeout_s: u64, dir: &std::path::Path) -> Result<Running> {
        let log = dir.join("stress-ng.log");
        let file = std::fs::File::create(&log).map_err(Error::output(&log))?;
        let mut cmd = Command::new("stress-ng");
        cmd.args(p.args(timeout_s)).stdin(Stdio::null()).stdout(Stdio::null()).stderr(file);
        // Its own group: one signal ends the parent and its workers; a terminal Ctrl-C reaches
        // k6gate, which stops k6 and then this group.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().map_err(|e| Error::Usage(format!("{INSTALL_HINT}: {e}")))?;
        let mut running = Running { child, description: p.describe(), log };
        let until = Instant::now() + SETTLE;
        while Instant::now() < until {
            if let Ok(Some(status)) = running.child.try_wait() {
                let said = std::fs::read_to_string(&running.log).unwrap_or_default();
                return Err(Error::Usage(format!(
                    "saturation.pressure: stress-ng {} exited at once ({status}): {}",
                    p.args(timeout_s).join(" "),
                    said.trim()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        tracing::info!("pressure: {} for at most {timeout_s} s", running.description);
        Ok(running)
    }

    /// Stops the workers and says what the run was measured under.
    pub fn stop(mut self) -> Held {
        let problem = match self.child.try_wait() {
            Ok(Some(status)) => Some(format!(
                "the pressure ended before k6 did (stress-ng {status}; its log: {}): part of the run was measured without it",
                self.log.display()
            )),
            _ => None,
        };
        self.end();
        Held { description: self.description.clone(), problem }
    }

    fn end(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let group = Pid::from_raw(self.child.id() as i32);
        // SIGTERM to the group ends the parent and its workers; SIGKILL if they linger.
        let _ = killpg(group, Signal::SIGTERM);
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn k6_is_kept_off_the_pressed_cpus_until_dropped() {
        // On a thread of its own: the affinity is the calling thread's.
        std::thread::spawn(|| {
            let here = || sched_getaffinity(Pid::from_raw(0)).unwrap();
            let before = here();
            let all: Vec<u32> = (0..CpuSet::count()).filter(|c| before.is_set(*c).unwrap()).map(|c| c as u32).collect();
            assert!(KeepOff::cpus(&[]).is_none());
            assert!(KeepOff::cpus(&all).is_none(), "nothing left: k6 keeps every CPU");
            if let [first, rest @ ..] = all.as_slice()
                && !rest.is_empty()
            {
                let kept = KeepOff::cpus(&[*first]).unwrap();
                assert!(!here().is_set(*first as usize).unwrap());
                assert_eq!(kept.kept, rest.iter().map(u32::to_string).collect::<Vec<_>>().join(","));
                drop(kept);
                assert!(here().is_set(*first as usize).unwrap());
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    #[ignore = "full tier: needs stress-ng"]
    fn the_workers_start_and_stop_with_their_group_and_a_rejected_option_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = Pressure { cpu_workers: 1, vm_workers: 0, vm_bytes: None, cpus: vec![] };
        let running = Running::start(&p, 20, dir.path()).unwrap();
        let group = Pid::from_raw(running.child.id() as i32);
        let held = running.stop();
        assert_eq!(held, Held { description: "1 CPU worker (stress-ng)".into(), problem: None });
        // Nothing of the group is left (ESRCH: no such process group).
        assert_eq!(nix::sys::signal::killpg(group, None), Err(nix::errno::Errno::ESRCH));

        // A timeout shorter than k6: the pressure ended first, and the run says so.
        let short = Running::start(&p, 1, dir.path()).unwrap();
        std::thread::sleep(Duration::from_millis(2500));
        let problem = short.stop().problem.unwrap();
        assert!(problem.starts_with("the pressure ended before k6 did"), "{problem}");

        let bad = Pressure { cpus: vec![1000], ..p };
        let err = Running::start(&bad, 20, dir.path()).err().unwrap().to_string();
        assert!(err.contains("stress-ng --cpu 1 --taskset 1000") && err.contains("exited at once"), "{err}");
    }
}
