//! Pins: a run chosen by a person as the baseline for its test and environment.
//!
//! At most one pin per test and environment is active. Pins are never deleted: replacing
//! or invalidating one records who ended it, when and why, for the audit trail.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    pub id: i64,
    pub run_id: String,
    /// The pinned run's test and environment.
    pub test: String,
    pub environment: String,
    pub pinned_by: String,
    pub pinned_at_ns: i64,
    pub reason: String,
    /// How the pin ended; `None` while it is active.
    pub invalidated: Option<Invalidation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invalidation {
    pub by: String,
    pub at_ns: i64,
    pub reason: String,
    /// The pin that replaced this one, when it ended by re-pinning.
    pub replaced_by: Option<i64>,
}

impl Pin {
    pub fn is_active(&self) -> bool {
        self.invalidated.is_none()
    }
}

/// One change to the pins of a test and environment, as the remote store keeps it: an
/// immutable object per change, replayed in order to rebuild the pins (`SqliteStore` does
/// the same changes in place).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinEvent {
    /// The pin's id when this event pins a run; unique in the store (see `remote.rs`).
    pub id: i64,
    pub test: String,
    pub environment: String,
    /// The run pinned; `None` when the event ends the active pin.
    pub run_id: Option<String>,
    pub by: String,
    pub at_ns: i64,
    pub reason: String,
}
