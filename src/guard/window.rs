//! Off-peak windows as minutes of the week, in UTC: the slots of the policy data (days, from,
//! to) become half-open segments `[start, end)` of the week (Monday 00:00 = 0), which Rego
//! tests `now` against, and from which [`next_start`] finds the next allowed slot.
//!
//! UTC only, on purpose: a time-zone database would be a new dependency for a rule a reviewer
//! can write in UTC. Pure: `now` is an argument, nothing here reads the clock.

use serde::Serialize;

pub const MINUTES_PER_DAY: u32 = 24 * 60;
pub const MINUTES_PER_WEEK: u32 = 7 * MINUTES_PER_DAY;
const NS_PER_MINUTE: i64 = 60_000_000_000;

/// Day names as the policy writes them, Monday first.
pub const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A slot of the week, `[start, end)` in minutes from Monday 00:00 UTC; never wraps (a slot
/// across Sunday midnight is two segments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub start: u32,
    pub end: u32,
}

/// `HH:MM` (00:00 to 24:00) as minutes of the day.
pub fn minute_of_day(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let minute = h * 60 + m;
    (m < 60 && minute <= MINUTES_PER_DAY).then_some(minute)
}

/// The segments of one slot: on each of `days` (0 = Monday) from `from` to `to` minutes of
/// the day; `to <= from` runs into the next day (22:00-06:00), and Sunday's into Monday.
pub fn segments(days: &[usize], from: u32, to: u32) -> Vec<Segment> {
    let length = if to > from { to - from } else { MINUTES_PER_DAY - from + to };
    let mut out = Vec::new();
    for &d in days {
        let start = d as u32 * MINUTES_PER_DAY + from;
        let end = start + length;
        if end <= MINUTES_PER_WEEK {
            out.push(Segment { start, end });
        } else {
            out.push(Segment { start, end: MINUTES_PER_WEEK });
            out.push(Segment { start: 0, end: end - MINUTES_PER_WEEK });
        }
    }
    out
}

/// Minutes since Monday 00:00 UTC of the week holding `ns` (1970-01-01 was a Thursday).
pub fn week_minute(ns: i64) -> u32 {
    let minutes = ns.div_euclid(NS_PER_MINUTE);
    // Monday 1969-12-29 00:00 is 3 days before the epoch.
    (minutes + 3 * i64::from(MINUTES_PER_DAY)).rem_euclid(i64::from(MINUTES_PER_WEEK)) as u32
}

/// Whether `minute` of the week is inside one of `segments`.
pub fn inside(segments: &[Segment], minute: u32) -> bool {
    segments.iter().any(|s| s.start <= minute && minute < s.end)
}

/// When the next allowed slot starts, as Unix ns: `now_ns` itself when it is inside one,
/// else the nearest segment start after it (the next week's first one past the week's end).
/// `None` when there are no segments at all.
pub fn next_start(segments: &[Segment], now_ns: i64) -> Option<i64> {
    let now = week_minute(now_ns);
    if inside(segments, now) {
        return Some(now_ns);
    }
    let ahead =
        segments.iter().map(|s| (s.start + MINUTES_PER_WEEK - now) % MINUTES_PER_WEEK).filter(|d| *d > 0).min()?;
    let minute_start = now_ns.div_euclid(NS_PER_MINUTE) * NS_PER_MINUTE;
    Some(minute_start + i64::from(ahead) * NS_PER_MINUTE)
}

/// When the slot holding `now_ns` ends (Unix ns), following segments that touch (Sunday into
/// Monday); `None` outside every slot.
pub fn current_end(segments: &[Segment], now_ns: i64) -> Option<i64> {
    let mut minute = week_minute(now_ns);
    if !inside(segments, minute) {
        return None;
    }
    let minute_start = now_ns.div_euclid(NS_PER_MINUTE) * NS_PER_MINUTE;
    let mut elapsed = 0u32;
    // At most a week of touching segments (an always-open environment ends never: a week on).
    while elapsed < MINUTES_PER_WEEK {
        let Some(s) = segments.iter().filter(|s| s.start <= minute && minute < s.end).max_by_key(|s| s.end) else {
            break;
        };
        elapsed += s.end - minute;
        minute = s.end % MINUTES_PER_WEEK;
    }
    Some(minute_start + i64::from(elapsed.min(MINUTES_PER_WEEK)) * NS_PER_MINUTE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{format_rfc3339_ms, parse_rfc3339_ns};

    fn at(s: &str) -> i64 {
        parse_rfc3339_ns(s.as_bytes()).unwrap()
    }

    fn weeknights() -> Vec<Segment> {
        // Mon-Fri 20:00 to 06:00 the next morning, and the whole weekend.
        let mut s = segments(&[0, 1, 2, 3, 4], minute_of_day("20:00").unwrap(), minute_of_day("06:00").unwrap());
        s.extend(segments(&[5, 6], 0, MINUTES_PER_DAY));
        s
    }

    #[test]
    fn week_minutes_start_on_monday_utc() {
        assert_eq!(week_minute(at("2026-12-07T00:00:00Z")), 0, "2026-12-07 is a Monday");
        assert_eq!(week_minute(at("2026-12-06T23:59:30Z")), MINUTES_PER_WEEK - 1);
        assert_eq!(week_minute(at("2026-12-09T13:05:00Z")), 2 * MINUTES_PER_DAY + 13 * 60 + 5);
        assert_eq!(week_minute(at("1969-12-29T00:00:00Z")), 0, "before the epoch too");
    }

    #[test]
    fn times_of_day_parse_strictly() {
        assert_eq!(minute_of_day("06:30"), Some(390));
        assert_eq!(minute_of_day("24:00"), Some(MINUTES_PER_DAY));
        for bad in ["6:30", "24:01", "12:60", "noon", "12-00", ""] {
            assert_eq!(minute_of_day(bad), None, "{bad}");
        }
    }

    #[test]
    fn inside_and_outside() {
        let w = weeknights();
        for t in ["2026-12-07T20:00:00Z", "2026-12-08T05:59:59Z", "2026-12-12T12:00:00Z", "2026-12-06T23:59:00Z"] {
            assert!(inside(&w, week_minute(at(t))), "{t} is off-peak");
            assert_eq!(next_start(&w, at(t)), Some(at(t)));
        }
        for t in ["2026-12-07T06:00:00Z", "2026-12-09T12:00:00Z", "2026-12-11T19:59:59Z"] {
            assert!(!inside(&w, week_minute(at(t))), "{t} is peak");
        }
    }

    #[test]
    fn the_next_slot_is_the_nearest_start_after_now() {
        let w = weeknights();
        let next = |t: &str| next_start(&w, at(t)).map(format_rfc3339_ms);
        assert_eq!(next("2026-12-09T12:00:00Z").as_deref(), Some("2026-12-09T20:00:00.000Z"));
        assert_eq!(next("2026-12-09T12:34:56.789Z").as_deref(), Some("2026-12-09T20:00:00.000Z"));
        assert_eq!(next("2026-12-07T06:00:00Z").as_deref(), Some("2026-12-07T20:00:00.000Z"));
    }

    #[test]
    fn the_next_slot_wraps_into_next_week() {
        // Only Monday 01:00-03:00: from Monday 04:00 the next one is a week later less 3 h.
        let w = segments(&[0], 60, 180);
        let next = next_start(&w, at("2026-12-07T04:00:00Z")).map(format_rfc3339_ms);
        assert_eq!(next.as_deref(), Some("2026-12-14T01:00:00.000Z"));
        // Sunday 22:00 to Monday 02:00 crosses the week's end.
        let w = segments(&[6], 22 * 60, 2 * 60);
        assert_eq!(
            w,
            vec![
                Segment { start: 6 * MINUTES_PER_DAY + 22 * 60, end: MINUTES_PER_WEEK },
                Segment { start: 0, end: 120 }
            ]
        );
        assert!(inside(&w, week_minute(at("2026-12-07T01:00:00Z"))), "Monday 01:00 is in Sunday's slot");
        assert_eq!(
            current_end(&w, at("2026-12-06T23:00:00Z")).map(format_rfc3339_ms).as_deref(),
            Some("2026-12-07T02:00:00.000Z")
        );
        assert_eq!(next_start(&[], at("2026-12-07T01:00:00Z")), None);
    }
}
