//! One run at a time per environment: a lease in the store, with an owner, an expiry and a
//! heartbeat. Two runs against one environment load each other's target, so each one's
//! numbers would include the other's load.
//!
//! The store only compares and swaps. Waiting, renewing and the clock belong to the caller
//! (`run::lock`): every time here is an argument.

use serde::{Deserialize, Serialize};

use super::error::HistoryError;

/// Who holds a lease, as the next run is told when it has to wait or refuses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub user: String,
    pub host: Option<String>,
    pub pid: u32,
    pub run_id: String,
    pub test: String,
    /// The workflow run, in CI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "run {} of test {} by {}", self.run_id, self.test, self.user)?;
        if let Some(host) = &self.host {
            write!(f, " on {host} (pid {})", self.pid)?;
        }
        if let Some(url) = &self.url {
            write!(f, ", {url}")?;
        }
        Ok(())
    }
}

/// A lease as stored: its holder, the token only the holder knows, and when it expires.
/// A released lease has `expires_at_ns` 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub holder: Holder,
    pub token: String,
    pub expires_at_ns: i64,
}

impl LeaseRecord {
    pub fn is_free(&self, now_ns: i64) -> bool {
        self.expires_at_ns <= now_ns
    }
}

/// What an attempt to take a lease found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Ours now. `broke` is the holder of an expired lease taken over (it died, or lost
    /// its heartbeat), with when it expired.
    Acquired { broke: Option<(Holder, i64)> },
    /// Someone else holds it until `expires_at_ns`, unless they renew.
    Held { holder: Holder, expires_at_ns: i64 },
}

/// A store that can hold leases. Every write is a compare-and-swap, so two processes that
/// try at once never both win.
pub trait Leases {
    /// Takes the lease on `scope` for `token` until `now_ns + ttl_ns`, if it is free, released
    /// or expired.
    fn try_acquire(
        &self,
        scope: &str,
        holder: &Holder,
        token: &str,
        now_ns: i64,
        ttl_ns: i64,
    ) -> Result<Attempt, HistoryError>;

    /// Extends our lease to `now_ns + ttl_ns`. Returns false when it is no longer ours (it
    /// expired and another run took it).
    fn renew(&self, scope: &str, token: &str, now_ns: i64, ttl_ns: i64) -> Result<bool, HistoryError>;

    /// Releases our lease; a lease that is no longer ours is left alone.
    fn release(&self, scope: &str, token: &str) -> Result<(), HistoryError>;

    /// Who holds `scope` at `now_ns` and until when, without taking it (`None`: free,
    /// released or expired). What `k6gate preflight` reports; only `try_acquire` decides.
    fn held(&self, scope: &str, now_ns: i64) -> Result<Option<(Holder, i64)>, HistoryError>;
}

/// The holder of `current` at `now_ns`, if it is still held.
pub(super) fn holder_of(current: Option<&LeaseRecord>, now_ns: i64) -> Option<(Holder, i64)> {
    match decide(current, now_ns) {
        Attempt::Held { holder, expires_at_ns } => Some((holder, expires_at_ns)),
        Attempt::Acquired { .. } => None,
    }
}

/// The decision both backends make on what they read: take it (breaking an expired lease),
/// or report the holder.
pub(super) fn decide(current: Option<&LeaseRecord>, now_ns: i64) -> Attempt {
    match current {
        None => Attempt::Acquired { broke: None },
        Some(r) if r.expires_at_ns == 0 => Attempt::Acquired { broke: None },
        Some(r) if r.is_free(now_ns) => Attempt::Acquired { broke: Some((r.holder.clone(), r.expires_at_ns)) },
        Some(r) => Attempt::Held { holder: r.holder.clone(), expires_at_ns: r.expires_at_ns },
    }
}
