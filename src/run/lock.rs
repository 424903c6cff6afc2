//! One run at a time per environment: the store's lease, taken before k6 starts, renewed by a
//! heartbeat while it runs, and released when the run is recorded.
//!
//! A second run waits for the lease up to `--lock-wait`, then refuses and names the holder.
//! A lease whose holder died expires after its time to live and is broken, with a warning.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::Result;
use crate::history::{Attempt, HistoryConfig, HistoryError, Holder, Leases, Store};

/// How long a lease lives without a heartbeat. The heartbeat renews it every third of that.
pub const TTL: Duration = Duration::from_secs(60);

/// How the lock behaves.
#[derive(Debug, Clone, Copy)]
pub struct LockOptions {
    /// How long to wait for another run to finish before refusing.
    pub wait: Duration,
    pub ttl: Duration,
    /// How often to look again while waiting.
    pub poll: Duration,
}

impl Default for LockOptions {
    fn default() -> LockOptions {
        LockOptions { wait: Duration::from_secs(600), ttl: TTL, poll: Duration::from_secs(2) }
    }
}

/// A lease held until dropped; its heartbeat runs on its own thread with its own store handle.
pub struct Held {
    scope: String,
    token: String,
    config: HistoryConfig,
    stop: Option<mpsc::Sender<()>>,
    heartbeat: Option<JoinHandle<Option<String>>>,
    /// The holder of the expired lease this one broke, said once as a warning.
    pub broke: Option<String>,
}

impl Held {
    /// Stops the heartbeat and releases the lease. Returns why the lease was lost during the
    /// run, if it was (another run may then have loaded the environment too).
    pub fn release(mut self) -> Option<String> {
        self.finish()
    }

    fn finish(&mut self) -> Option<String> {
        drop(self.stop.take());
        let lost = self.heartbeat.take().and_then(|h| h.join().ok().flatten());
        match Store::open(&self.config).and_then(|s| s.release(&self.scope, &self.token)) {
            Ok(()) => {}
            Err(e) => tracing::warn!("the lock of {} was not released (it expires by itself): {e}", self.scope),
        }
        lost
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.stop.is_some() {
            self.finish();
        }
    }
}

/// Takes the lease on `scope` (the environment), waiting up to `opts.wait` for its holder.
pub fn acquire(store: &Store, config: &HistoryConfig, scope: &str, holder: &Holder, opts: LockOptions) -> Result<Held> {
    let token = format!("{}-{}-{:x}", holder.run_id, holder.pid, crate::clock::now_ns());
    let ttl = nanos(opts.ttl);
    let start = crate::clock::now_ns();
    let mut announced = false;
    loop {
        let now = crate::clock::now_ns();
        match store.try_acquire(scope, holder, &token, now, ttl)? {
            Attempt::Acquired { broke } => {
                let broke = broke.map(|(h, expired)| {
                    format!(
                        "broke the expired lock of {scope} held by {h} (expired {}, its holder stopped renewing it)",
                        crate::time::format_rfc3339_ms(expired)
                    )
                });
                if let Some(b) = &broke {
                    tracing::warn!("{b}");
                }
                let (stop, heartbeat) = heartbeat(config.clone(), scope.to_string(), token.clone(), opts.ttl);
                return Ok(Held {
                    scope: scope.to_string(),
                    token,
                    config: config.clone(),
                    stop: Some(stop),
                    heartbeat: Some(heartbeat),
                    broke,
                });
            }
            Attempt::Held { holder: other, expires_at_ns } => {
                let waited = Duration::from_nanos(u64::try_from(now - start).unwrap_or(0));
                if waited >= opts.wait {
                    return Err(HistoryError::Locked {
                        scope: scope.to_string(),
                        holder: other.to_string(),
                        expires: crate::time::format_rfc3339_ms(expires_at_ns),
                        waited: format!("{}s", waited.as_secs()),
                    }
                    .into());
                }
                if !announced {
                    tracing::warn!(
                        "{scope} is being loaded by {other}; waiting up to {}s for it to finish",
                        opts.wait.as_secs()
                    );
                    announced = true;
                }
                std::thread::sleep(opts.poll.min(opts.wait - waited));
            }
        }
    }
}

/// Renews the lease every third of its time to live until told to stop. Returns why the
/// lease was lost, if it was.
fn heartbeat(
    config: HistoryConfig,
    scope: String,
    token: String,
    ttl: Duration,
) -> (mpsc::Sender<()>, JoinHandle<Option<String>>) {
    let (tx, rx) = mpsc::channel::<()>();
    let handle = std::thread::spawn(move || {
        let mut store = None;
        loop {
            match rx.recv_timeout(ttl / 3) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return None,
            }
            let opened = match store.take() {
                Some(s) => Ok(s),
                None => Store::open(&config),
            };
            let renewed = opened.and_then(|s| {
                let ok = s.renew(&scope, &token, crate::clock::now_ns(), nanos(ttl));
                store = Some(s);
                ok
            });
            match renewed {
                Ok(true) => {}
                Ok(false) => {
                    let lost = format!("the lock of {scope} expired during the run and another run took it");
                    tracing::error!("{lost}");
                    return Some(lost);
                }
                // A store that blinks is retried at the next beat; the lease outlives two misses.
                Err(e) => tracing::warn!("the lock of {scope} was not renewed: {e}"),
            }
        }
    });
    (tx, handle)
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}
