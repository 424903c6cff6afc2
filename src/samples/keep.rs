//! The share of successful requests whose per-request data is kept during load (issue 14):
//! `ingest::sample` applies it to the archived JSON output, `render` hands it to the runtime's
//! `traceparent` sampled flag. One rule for both, here, so they agree on which requests.

use serde::{Deserialize, Serialize};

/// The share of successful requests kept, checked: `0 < share <= 1`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(transparent)]
pub struct KeepShare(f64);

impl KeepShare {
    /// The default: one successful request in ten.
    pub const DEFAULT: KeepShare = KeepShare(0.1);
    pub const ALL: KeepShare = KeepShare(1.0);

    pub fn new(share: f64) -> Result<KeepShare, String> {
        if share > 0.0 && share <= 1.0 {
            Ok(KeepShare(share))
        } else {
            Err(format!("{share} is not a share in (0, 1]"))
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }

    /// Keys below this are kept: `share * 2^32` (2^32 keeps all).
    pub fn threshold(self) -> u64 {
        (self.0 * 4_294_967_296.0).round() as u64
    }

    /// Whether a successful request with trace id `trace_id` (32 hex digits) is kept: its last
    /// eight hex digits below `share * 2^32`. `runtime.js` (`k6gateSampled`) is the same rule.
    pub fn keeps_trace(self, trace_id: &str) -> Option<bool> {
        let tail = trace_id.get(trace_id.len().checked_sub(8)?..)?;
        let key = u32::from_str_radix(tail, 16).ok()?;
        Some(u64::from(key) < self.threshold())
    }
}

impl<'de> Deserialize<'de> for KeepShare {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        KeepShare::new(f64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}
