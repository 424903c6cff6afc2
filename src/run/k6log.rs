//! k6's own log, kept whole in the run directory and shown condensed: a target that is down
//! makes k6 log the same "Request Failed" hundreds of times a second. Each distinct message
//! is shown the first few times; the rest are counted and summed up once at the end.

use std::collections::HashMap;

/// How many times a message is shown before it is only counted.
pub const SHOWN: usize = 3;

#[derive(Debug, Default)]
pub struct Condenser {
    seen: HashMap<String, usize>,
    /// Messages in the order they first appeared, for a stable summary.
    order: Vec<String>,
}

/// A line without its timestamp, so that repeats are recognised.
fn key(line: &str) -> &str {
    match line.strip_prefix("time=\"") {
        Some(rest) => rest.split_once("\" ").map_or(line, |(_, after)| after),
        None => line,
    }
}

impl Condenser {
    /// Whether to show `line` (one of the first [`SHOWN`] of its kind).
    pub fn admit(&mut self, line: &str) -> bool {
        let k = key(line);
        let n = match self.seen.get_mut(k) {
            Some(n) => n,
            None => {
                self.order.push(k.to_string());
                self.seen.entry(k.to_string()).or_default()
            }
        };
        *n += 1;
        *n <= SHOWN
    }

    /// Messages shown fewer times than they came, with how many were held back.
    pub fn held_back(&self) -> Vec<(String, usize)> {
        self.order
            .iter()
            .filter_map(|k| self.seen.get(k).filter(|n| **n > SHOWN).map(|n| (k.clone(), n - SHOWN)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_counted_not_shown() {
        let mut c = Condenser::default();
        let line = |t: u32| {
            format!("time=\"2026-12-06T04:46:{t:02}Z\" level=warning msg=\"Request Failed\" error=\"refused\"")
        };
        let shown = (0..851).filter(|t| c.admit(&line(t % 60))).count();
        assert_eq!(shown, SHOWN);
        assert!(c.admit("time=\"x\" level=error msg=\"other\""));
        assert_eq!(
            c.held_back(),
            [("level=warning msg=\"Request Failed\" error=\"refused\"".to_string(), 851 - SHOWN)]
        );
    }

    #[test]
    fn lines_without_a_timestamp_are_their_own_key() {
        let mut c = Condenser::default();
        assert!((0..SHOWN).all(|_| c.admit("plain")));
        assert!(!c.admit("plain"));
    }
}
