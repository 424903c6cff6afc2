//! How busy the load generator's machine was while k6 ran, and how long k6 itself waited for
//! a CPU: one reading per second from `/proc/stat` and from k6's threads'
//! `/proc/PID/task/*/schedstat` (time on a CPU, time runnable but waiting), so that a run
//! measured on a starved machine (a neighbour on the CI runner, `stress-ng`) is flagged
//! instead of judged. A busy machine alone is not enough: k6 and the service under test often
//! share one in a demo or a test, and a busy machine that still runs k6 whenever it wakes
//! distorts nothing. Linux only; elsewhere the readings are empty and nothing is flagged.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// One second of the machine and of k6.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub unix_s: i64,
    /// The machine's CPU busy share (0..1, all cores).
    pub busy: f64,
    /// Nanoseconds k6's threads ran on a CPU, and waited runnable for one, in that second.
    pub k6_run_ns: u64,
    pub k6_wait_ns: u64,
}

pub type Readings = Vec<Reading>;

/// A sampler thread; [`Sampler::stop`] ends it and returns what it read.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Readings>>,
}

/// Total and idle jiffies over all cores (the first `cpu` line of /proc/stat).
fn jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let fields: Vec<u64> = line.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    Some((total, idle))
}

/// Run and wait nanoseconds summed over the threads of `pid` (0, 0 when it is gone).
fn schedstat(pid: u32) -> (u64, u64) {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return (0, 0) };
    let mut sum = (0u64, 0u64);
    for task in tasks.flatten() {
        let Ok(line) = std::fs::read_to_string(task.path().join("schedstat")) else { continue };
        let mut f = line.split_whitespace().map(|v| v.parse::<u64>().unwrap_or(0));
        sum.0 += f.next().unwrap_or(0);
        sum.1 += f.next().unwrap_or(0);
    }
    sum
}

impl Sampler {
    /// Starts reading once per second, the machine and the process `pid` (k6).
    pub fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("k6gate-host-cpu".into())
            .spawn(move || {
                let mut out = Readings::new();
                let Some(mut last) = jiffies() else { return out };
                let mut last_k6 = schedstat(pid);
                while !flag.load(Ordering::Relaxed) {
                    // Short sleeps: stop() returns within 100 ms.
                    for _ in 0..10 {
                        if flag.load(Ordering::Relaxed) {
                            return out;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    let Some(now) = jiffies() else { return out };
                    let k6 = schedstat(pid);
                    let (dt, di) = (now.0.saturating_sub(last.0), now.1.saturating_sub(last.1));
                    if dt > 0 {
                        out.push(Reading {
                            unix_s: crate::clock::now_ns().div_euclid(1_000_000_000) - 1,
                            busy: 1.0 - di as f64 / dt as f64,
                            // Threads that ended in between make a delta negative: count 0.
                            k6_run_ns: k6.0.saturating_sub(last_k6.0),
                            k6_wait_ns: k6.1.saturating_sub(last_k6.1),
                        });
                    }
                    last = now;
                    last_k6 = k6;
                }
                out
            })
            .ok();
        Sampler { stop, thread }
    }

    /// Stops the thread and returns its readings (empty off Linux or when the thread could
    /// not start).
    pub fn stop(mut self) -> Readings {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn reads_the_machine_and_a_process_once_per_second() {
        // This test's own process, kept busy on one thread.
        let s = Sampler::start(std::process::id());
        let until = std::time::Instant::now() + Duration::from_millis(2300);
        let mut x = 0u64;
        while std::time::Instant::now() < until {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        let r = s.stop();
        assert!((1..=3).contains(&r.len()), "{r:?} {x}");
        assert!(r.iter().all(|r| (0.0..=1.0).contains(&r.busy)), "{r:?}");
        assert!(r.iter().any(|r| r.k6_run_ns > 100_000_000), "the busy thread ran: {r:?}");
    }
}
