//! The fault switches. Each tier reads the ones that concern it; all of them are set at start
//! by flag and changed while running by `PUT /admin/faults` with any subset of the fields
//! (`GET /admin/faults` shows them), so one running stack serves several scenarios.
//!
//! - `db_delay_ms`: the database tier sleeps this long inside each query's span (a slow
//!   database: the time is the database's).
//! - `network_delay_ms`: the gateway waits this long before it opens its span (a slow network
//!   hop in front of the load balancer: no span covers it, so attribution calls it `network`).
//! - `db_uninstrumented`: the share of requests (0 to 1) whose database spans are not
//!   recorded, chosen by trace id so a request's queries are all missing or all present.
//! - `db_slow_share` and `db_slow_ms`: a slow path in the database, `db_slow_ms` more per query
//!   for that share of requests (chosen by trace id, independently of the uninstrumented
//!   ones): two modes, the slow one the database's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultValues {
    pub db_delay_ms: u64,
    pub network_delay_ms: u64,
    pub db_uninstrumented: f64,
    #[serde(default)]
    pub db_slow_share: f64,
    #[serde(default)]
    pub db_slow_ms: u64,
}

/// A change: the fields given replace the current ones.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultChange {
    pub db_delay_ms: Option<u64>,
    pub network_delay_ms: Option<u64>,
    pub db_uninstrumented: Option<f64>,
    pub db_slow_share: Option<f64>,
    pub db_slow_ms: Option<u64>,
}

/// The switches, shared by a tier's handlers.
#[derive(Debug, Default)]
pub struct Faults {
    db_delay_ms: AtomicU64,
    network_delay_ms: AtomicU64,
    /// The share in millionths.
    db_uninstrumented_ppm: AtomicU64,
    db_slow_ppm: AtomicU64,
    db_slow_ms: AtomicU64,
}

fn share_ppm(share: f64) -> Result<u64, String> {
    if (0.0..=1.0).contains(&share) {
        Ok((share * 1e6).round() as u64)
    } else {
        Err(format!("db_uninstrumented: {share} is not a share in [0, 1]"))
    }
}

impl Faults {
    pub fn new(v: FaultValues) -> Result<Faults, String> {
        let f = Faults::default();
        f.apply(FaultChange {
            db_delay_ms: Some(v.db_delay_ms),
            network_delay_ms: Some(v.network_delay_ms),
            db_uninstrumented: Some(v.db_uninstrumented),
            db_slow_share: Some(v.db_slow_share),
            db_slow_ms: Some(v.db_slow_ms),
        })?;
        Ok(f)
    }

    /// Applies `c`, all of it or (on a bad value) none of it.
    pub fn apply(&self, c: FaultChange) -> Result<(), String> {
        let ppm = c.db_uninstrumented.map(share_ppm).transpose()?;
        let slow_ppm =
            c.db_slow_share.map(share_ppm).transpose().map_err(|m| m.replace("db_uninstrumented", "db_slow_share"))?;
        if let Some(v) = slow_ppm {
            self.db_slow_ppm.store(v, Ordering::Relaxed);
        }
        if let Some(v) = c.db_slow_ms {
            self.db_slow_ms.store(v, Ordering::Relaxed);
        }
        if let Some(v) = c.db_delay_ms {
            self.db_delay_ms.store(v, Ordering::Relaxed);
        }
        if let Some(v) = c.network_delay_ms {
            self.network_delay_ms.store(v, Ordering::Relaxed);
        }
        if let Some(v) = ppm {
            self.db_uninstrumented_ppm.store(v, Ordering::Relaxed);
        }
        Ok(())
    }

    pub fn values(&self) -> FaultValues {
        FaultValues {
            db_delay_ms: self.db_delay_ms.load(Ordering::Relaxed),
            network_delay_ms: self.network_delay_ms.load(Ordering::Relaxed),
            db_uninstrumented: self.db_uninstrumented_ppm.load(Ordering::Relaxed) as f64 / 1e6,
            db_slow_share: self.db_slow_ppm.load(Ordering::Relaxed) as f64 / 1e6,
            db_slow_ms: self.db_slow_ms.load(Ordering::Relaxed),
        }
    }

    /// Whether the database leaves the request with trace id `trace_id` uninstrumented.
    pub fn db_uninstrumented(&self, trace_id: u128) -> bool {
        uninstrumented(trace_id, self.db_uninstrumented_ppm.load(Ordering::Relaxed))
    }

    /// The extra latency per query for the request with trace id `trace_id`: `db_slow_ms`
    /// when it is on the slow path, else 0.
    pub fn db_slow_path_ms(&self, trace_id: u128) -> u64 {
        if slow_path(trace_id, self.db_slow_ppm.load(Ordering::Relaxed)) {
            self.db_slow_ms.load(Ordering::Relaxed)
        } else {
            0
        }
    }
}

/// Whether a trace falls into a share of `ppm` millionths: a SplitMix64 finaliser of the trace
/// id's two halves, so k6's random ids spread evenly and the choice is the same in every
/// process and every query of the request. Without a trace (0) nothing is skipped.
pub fn uninstrumented(trace_id: u128, ppm: u64) -> bool {
    picked(trace_id, 0, ppm)
}

/// Whether a trace is on the database's slow path: the same rule with another salt, so the
/// choice does not follow the uninstrumented one.
pub fn slow_path(trace_id: u128, ppm: u64) -> bool {
    picked(trace_id, 0x5157_a7e5_10e5_0a11, ppm)
}

fn picked(trace_id: u128, salt: u64, ppm: u64) -> bool {
    if trace_id == 0 || ppm == 0 {
        return false;
    }
    let mut z = (trace_id as u64) ^ ((trace_id >> 64) as u64).rotate_left(29) ^ salt;
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    z % 1_000_000 < ppm
}

pub async fn get(State(f): State<Arc<Faults>>) -> Json<FaultValues> {
    Json(f.values())
}

pub async fn put(
    State(f): State<Arc<Faults>>,
    Json(c): Json<FaultChange>,
) -> Result<Json<FaultValues>, (axum::http::StatusCode, String)> {
    f.apply(c).map_err(|m| (axum::http::StatusCode::UNPROCESSABLE_ENTITY, m))?;
    Ok(Json(f.values()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_of_random_traces_is_chosen_and_the_choice_is_stable() {
        // A fixed sequence of "random" 128-bit ids (k6's are random hex).
        let mut s = 0x1234_5678_u64;
        let mut next = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            s
        };
        let ids: Vec<u128> = (0..20_000).map(|_| (u128::from(next()) << 64) | u128::from(next())).collect();
        let hit = ids.iter().filter(|&&t| uninstrumented(t, 200_000)).count() as f64 / ids.len() as f64;
        assert!((hit - 0.2).abs() < 0.015, "{hit}");
        assert!(ids.iter().all(|&t| uninstrumented(t, 200_000) == uninstrumented(t, 200_000)));
        assert!(ids.iter().all(|&t| !uninstrumented(t, 0) && uninstrumented(t, 1_000_000)));
        assert!(!uninstrumented(0, 1_000_000));
        // The slow path is chosen independently: about 10 % of the 20 % are both.
        let both = ids.iter().filter(|&&t| uninstrumented(t, 200_000) && slow_path(t, 100_000)).count() as f64;
        assert!((both / ids.len() as f64 - 0.02).abs() < 0.006, "{both}");
    }

    #[test]
    fn a_change_applies_whole_or_not_at_all() {
        let f = Faults::new(FaultValues { db_delay_ms: 5, ..FaultValues::default() }).unwrap();
        assert!(
            f.apply(FaultChange { network_delay_ms: Some(9), db_uninstrumented: Some(1.5), ..Default::default() })
                .is_err()
        );
        let base = FaultValues { db_delay_ms: 5, ..FaultValues::default() };
        assert_eq!(f.values(), base);
        f.apply(FaultChange { network_delay_ms: Some(9), db_uninstrumented: Some(0.25), ..Default::default() })
            .unwrap();
        assert_eq!(f.values(), FaultValues { network_delay_ms: 9, db_uninstrumented: 0.25, ..base });
        assert!(f.apply(FaultChange { db_slow_share: Some(2.0), db_slow_ms: Some(40), ..Default::default() }).is_err());
        assert_eq!(f.values().db_slow_ms, 0);
        f.apply(FaultChange { db_slow_share: Some(1.0), db_slow_ms: Some(40), ..Default::default() }).unwrap();
        assert_eq!((f.db_slow_path_ms(7), f.db_slow_path_ms(0)), (40, 0));
        assert!(Faults::new(FaultValues { db_uninstrumented: -0.1, ..FaultValues::default() }).is_err());
    }
}
