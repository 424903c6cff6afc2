//! How busy the load generator's machine was while k6 ran: one CPU reading per second from
//! `/proc/stat`, so that a run measured on a starved machine (a neighbour on the CI runner,
//! `stress-ng`) is flagged instead of judged. Linux only; elsewhere the readings are empty
//! and the verdict says the host load is unknown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// The machine's CPU busy share (0..1, all cores) per second: `(unix second, busy)`.
pub type Readings = Vec<(i64, f64)>;

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

impl Sampler {
    /// Starts reading once per second.
    pub fn start() -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("k6gate-host-cpu".into())
            .spawn(move || {
                let mut out = Readings::new();
                let Some(mut last) = jiffies() else { return out };
                while !flag.load(Ordering::Relaxed) {
                    // Short sleeps: stop() returns within 100 ms.
                    for _ in 0..10 {
                        if flag.load(Ordering::Relaxed) {
                            return out;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    let Some(now) = jiffies() else { return out };
                    let (dt, di) = (now.0.saturating_sub(last.0), now.1.saturating_sub(last.1));
                    if dt > 0 {
                        let second = crate::clock::now_ns().div_euclid(1_000_000_000) - 1;
                        out.push((second, 1.0 - di as f64 / dt as f64));
                    }
                    last = now;
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
    fn reads_the_machine_once_per_second() {
        let s = Sampler::start();
        std::thread::sleep(Duration::from_millis(2300));
        let r = s.stop();
        assert!((1..=3).contains(&r.len()), "{r:?}");
        assert!(r.iter().all(|(_, busy)| (0.0..=1.0).contains(busy)), "{r:?}");
    }
}
