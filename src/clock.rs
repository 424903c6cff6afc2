//! The wall clock, read at the edges only (the CLI and the run's finish time). Policies,
//! comparisons and the history take time as an input and never call this.

/// Now, as Unix nanoseconds (UTC).
pub fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

/// `YYYY-MM-DD` (UTC) of a Unix-nanosecond time.
pub fn date(ns: i64) -> String {
    crate::time::format_rfc3339_ms(ns).chars().take(10).collect()
}
