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
