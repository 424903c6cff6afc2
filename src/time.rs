//! Timestamps as k6 writes them, and as k6gate writes its own (RFC 3339, UTC).
//!
//! A leaf module: it imports nothing from the crate, so every layer may use it (ingest reads
//! k6's timestamps with it, the summary, policy, history and sinks write theirs). It never
//! reads the clock; the current time is always an input.
//!
//! Hand-written because this runs once per line of multi-GB inputs: k6 always writes
//! `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (RFC 3339, UTC, trailing zeros of the fraction
//! trimmed), and a fixed-shape parser is several times faster than a general one.
//! Offsets (`+02:00`) are accepted too, for files that went through other tools.

/// Nanoseconds since the Unix epoch, or `None` when `s` is not an RFC 3339 timestamp.
pub fn parse_rfc3339_ns(s: &[u8]) -> Option<i64> {
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let b = s.get(r)?;
        let mut v = 0i64;
        for &c in b {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    if s.len() < 20
        || s.get(4) != Some(&b'-')
        || s.get(7) != Some(&b'-')
        || !matches!(s.get(10), Some(b'T' | b't' | b' '))
        || s.get(13) != Some(&b':')
        || s.get(16) != Some(&b':')
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0i64;
    if s.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(c) = s.get(i).filter(|c| c.is_ascii_digit()) {
            if i - start < 9 {
                nanos = nanos * 10 + i64::from(c - b'0');
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..9 {
            nanos *= 10;
        }
    }
    let offset_s = match s.get(i)? {
        b'Z' | b'z' if s.len() == i + 1 => 0,
        sign @ (b'+' | b'-') if s.len() == i + 6 && s.get(i + 3) == Some(&b':') => {
            let off = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_s;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats nanoseconds since the epoch as RFC 3339 UTC with millisecond precision.
pub fn format_rfc3339_ms(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let ms = ns.rem_euclid(1_000_000_000) / 1_000_000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A CSV timestamp in any `K6_CSV_TIME_FORMAT`: `unix` (seconds), `unix_milli`,
/// `unix_micro`, `unix_nano` (told apart by their number of digits), `rfc3339`,
/// `rfc3339_nano`.
pub fn parse_csv_time_ns(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) {
        let v: i64 = s.parse().ok()?;
        return match s.len() {
            0..=11 => v.checked_mul(1_000_000_000),
            12..=14 => v.checked_mul(1_000_000),
            15..=17 => v.checked_mul(1_000),
            _ => Some(v),
        };
    }
    parse_rfc3339_ns(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k6_timestamps() {
        let t = parse_rfc3339_ns(b"2026-11-28T00:15:42.011026333Z").unwrap();
        assert_eq!(t, 1_795_824_942_011_026_333);
        assert_eq!(parse_rfc3339_ns(b"2026-11-28T00:15:42.0110263Z").unwrap(), t - 33);
        assert_eq!(parse_rfc3339_ns(b"2026-11-28T00:15:42Z").unwrap(), 1_795_824_942_000_000_000);
        assert_eq!(parse_rfc3339_ns(b"2026-11-28T01:15:42+01:00").unwrap(), 1_795_824_942_000_000_000);
    }

    #[test]
    fn rejects_malformed_timestamps() {
        for bad in [
            "",
            "2026-11-28",
            "2026-13-28T00:00:00Z",
            "2026-11-28T00:00:00",
            "2026-11-28T00:00:00.Z",
            "x026-11-28T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339_ns(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn csv_time_formats() {
        let s = 1_795_824_945i64;
        assert_eq!(parse_csv_time_ns("1795824945"), Some(s * 1_000_000_000));
        assert_eq!(parse_csv_time_ns("1795824945123"), Some(s * 1_000_000_000 + 123_000_000));
        assert_eq!(parse_csv_time_ns("1795824945123456"), Some(s * 1_000_000_000 + 123_456_000));
        assert_eq!(parse_csv_time_ns("1795824945123456789"), Some(s * 1_000_000_000 + 123_456_789));
        assert_eq!(parse_csv_time_ns("2026-11-28T00:15:45Z"), Some(s * 1_000_000_000));
    }

    #[test]
    fn formats_round_trip() {
        assert_eq!(format_rfc3339_ms(1_795_824_942_011_026_333), "2026-11-28T00:15:42.011Z");
    }
}
