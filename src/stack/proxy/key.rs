//! Which requests the proxy caches, and under which key: the endpoint and its parameters
//! (from the query string and, for a POST, the form body, as Grafana sends them), sorted,
//! so that a GET and a POST of the same query, or the same parameters in another order,
//! share one entry. `query_range`'s start and end are aligned to its step first.

/// A cached endpoint of Prometheus' HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Query,
    QueryRange,
    Labels,
    Series,
    /// `/api/v1/label/<name>/values`: the path as asked (the name is part of it).
    LabelValues(String),
}

impl Endpoint {
    /// The endpoint at `path`, if it is one the proxy caches.
    pub fn of(path: &str) -> Option<Endpoint> {
        match path {
            "/api/v1/query" => Some(Endpoint::Query),
            "/api/v1/query_range" => Some(Endpoint::QueryRange),
            "/api/v1/labels" => Some(Endpoint::Labels),
            "/api/v1/series" => Some(Endpoint::Series),
            p => {
                let name = p.strip_prefix("/api/v1/label/")?.strip_suffix("/values")?;
                let plain = !name.is_empty() && !name.contains('/') && !name.contains("..") && !name.contains('%');
                plain.then(|| Endpoint::LabelValues(p.to_string()))
            }
        }
    }

    /// Its path upstream.
    pub fn path(&self) -> &str {
        match self {
            Endpoint::Query => "/api/v1/query",
            Endpoint::QueryRange => "/api/v1/query_range",
            Endpoint::Labels => "/api/v1/labels",
            Endpoint::Series => "/api/v1/series",
            Endpoint::LabelValues(p) => p,
        }
    }

    /// Whether Prometheus takes a POST with a form body here (label values: GET only).
    pub fn accepts_post(&self) -> bool {
        !matches!(self, Endpoint::LabelValues(_))
    }

    /// The label in the proxy's metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Endpoint::Query => "query",
            Endpoint::QueryRange => "query_range",
            Endpoint::Labels => "labels",
            Endpoint::Series => "series",
            Endpoint::LabelValues(_) => "label_values",
        }
    }
}

/// One cacheable request: what goes upstream and the key of its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub endpoint: Endpoint,
    /// The parameters sent upstream, sorted (aligned for `query_range`).
    pub params: Vec<(String, String)>,
    /// The endpoint's path and the parameters, form-encoded.
    pub key: String,
    /// Whether `query_range`'s start and end were moved to multiples of the step (or an
    /// instant query's `time` to a multiple of `--instant-align`).
    pub aligned: bool,
}

/// The request for `endpoint` with these parameters.
///
/// `query_range` is step-aligned: start and end move down to multiples of the step. The
/// answer stays correct because Prometheus evaluates a range query at `start + k * step`
/// (k = 0, 1, ... while at most `end`), and each point's value depends only on its own
/// timestamp: with an aligned start every point falls on a multiple of the step, the same
/// grid as every other window of that step, so a dashboard's window moving by less than a
/// step asks for the same points and hits the cache. Grafana aligns its own queries the same
/// way. Parameters that do not parse are left as they are: Prometheus answers them with its
/// own `bad_data` error (never cached).
pub fn prepare(endpoint: Endpoint, params: Vec<(String, String)>) -> Prepared {
    prepare_with(endpoint, params, None)
}

/// [`prepare`], and with `instant_align_ms` an instant query's `time` moves down to a
/// multiple of it (`--instant-align`, off by default). The answer is then Prometheus' for
/// that instant and says so: every sample carries the timestamp it was evaluated at, so
/// nothing is misdated; the value is at most `instant_align_ms` older than asked, the same
/// staleness a cache TTL gives a query without `time`. Grafana sends `time` = now on every
/// refresh, so without it an instant panel never hits the cache.
pub fn prepare_with(endpoint: Endpoint, mut params: Vec<(String, String)>, instant_align_ms: Option<i64>) -> Prepared {
    let mut aligned = false;
    if endpoint == Endpoint::QueryRange {
        aligned = align(&mut params);
    }
    if let (Endpoint::Query, Some(step)) = (&endpoint, instant_align_ms.filter(|s| *s > 0)) {
        if let Some(t) = value(&params, "time").and_then(time_ms) {
            let t = t - t.rem_euclid(step);
            for (k, v) in params.iter_mut() {
                if k == "time" {
                    *v = seconds(t);
                }
            }
            aligned = true;
        }
    }
    params.sort();
    let key = format!("{}?{}", endpoint.path(), encode(&params));
    Prepared { endpoint, params, key, aligned }
}

/// `params` form-encoded (`a=1&b=x%20y`), every byte but `A-Z a-z 0-9 - . _ ~` escaped: a
/// `&` or `=` inside a value cannot forge another parameter, so two keys are equal only
/// when the parameters are.
pub fn encode(params: &[(String, String)]) -> String {
    let pairs: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", crate::net::percent_encode(k), crate::net::percent_encode(v)))
        .collect();
    pairs.join("&")
}

fn value<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let mut values = params.iter().filter(|(k, _)| k == name);
    let first = values.next()?;
    // Twice the same parameter: leave the request to Prometheus' own rules.
    values.next().is_none().then_some(first.1.as_str())
}

/// Aligns start and end down to multiples of the step; whether they could be.
fn align(params: &mut [(String, String)]) -> bool {
    let (Some(start), Some(end), Some(step)) = (
        value(params, "start").and_then(time_ms),
        value(params, "end").and_then(time_ms),
        value(params, "step").and_then(duration_ms),
    ) else {
        return false;
    };
    if step <= 0 {
        return false;
    }
    let start = start - start.rem_euclid(step);
    let end = (end - end.rem_euclid(step)).max(start);
    for (k, v) in params.iter_mut() {
        match k.as_str() {
            "start" => *v = seconds(start),
            "end" => *v = seconds(end),
            "step" => *v = seconds(step),
            _ => {}
        }
    }
    true
}

/// Milliseconds as Prometheus' decimal seconds (`1700000000.5`, `15`).
fn seconds(ms: i64) -> String {
    let (s, frac) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    if frac == 0 { s.to_string() } else { format!("{s}.{frac:03}").trim_end_matches('0').to_string() }
}

/// A Prometheus timestamp: Unix seconds with decimals, or RFC 3339; in milliseconds (the
/// resolution Prometheus keeps).
pub fn time_ms(s: &str) -> Option<i64> {
    if let Ok(secs) = s.parse::<f64>() {
        return (secs.is_finite() && secs.abs() < 1e15).then(|| (secs * 1000.0).round() as i64);
    }
    crate::time::parse_rfc3339_ns(s.as_bytes()).map(|ns| ns.div_euclid(1_000_000))
}

/// A step: seconds with decimals, or a Prometheus duration (`15s`, `1m30s`, `250ms`; units
/// ms, s, m, h, d, w, y with y = 365 d, as Prometheus has it); in milliseconds. Hand-written:
/// humantime's units differ (its year is 365.25 days) and it would accept spaces.
pub fn duration_ms(s: &str) -> Option<i64> {
    if let Ok(secs) = s.parse::<f64>() {
        return (secs.is_finite() && secs > 0.0 && secs < 1e12).then(|| (secs * 1000.0).round() as i64);
    }
    let mut rest = s;
    let mut total: i64 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let unit_len = rest.get(digits..)?.bytes().take_while(u8::is_ascii_alphabetic).count();
        let n: i64 = rest.get(..digits)?.parse().ok()?;
        let unit_ms: i64 = match rest.get(digits..digits + unit_len)? {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit_ms)?)?;
        rest = rest.get(digits + unit_len..)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn endpoints_are_recognised_by_path() {
        assert_eq!(Endpoint::of("/api/v1/query"), Some(Endpoint::Query));
        assert_eq!(Endpoint::of("/api/v1/query_range"), Some(Endpoint::QueryRange));
        assert_eq!(
            Endpoint::of("/api/v1/label/job/values"),
            Some(Endpoint::LabelValues("/api/v1/label/job/values".into()))
        );
        assert_eq!(Endpoint::of("/api/v1/label//values"), None);
        assert_eq!(Endpoint::of("/api/v1/label/a/b/values"), None);
        assert_eq!(Endpoint::of("/api/v1/label/../values"), None);
        assert_eq!(Endpoint::of("/api/v1/label/%2e%2e/values"), None);
        assert_eq!(Endpoint::of("/api/v1/write"), None);
        assert_eq!(Endpoint::of("/api/v1/query/"), None);
    }

    #[test]
    fn a_moving_window_within_one_step_has_one_key() {
        let at = |start: &str, end: &str| {
            prepare(Endpoint::QueryRange, p(&[("query", "up"), ("start", start), ("end", end), ("step", "15")]))
        };
        let a = at("1700000001.2", "1700003601.2");
        let b = at("1700000009", "1700003609.999");
        assert_eq!(a.key, b.key);
        assert!(a.aligned);
        assert_eq!(value(&a.params, "start"), Some("1699999995"));
        assert_eq!(value(&a.params, "end"), Some("1700003595"));
        // The next step is another key.
        assert_ne!(a.key, at("1700000010", "1700003610").key);
    }

    #[test]
    fn alignment_reads_every_time_and_step_format_prometheus_takes() {
        let q = prepare(
            Endpoint::QueryRange,
            p(&[("query", "up"), ("start", "2023-11-14T22:13:21.5Z"), ("end", "2023-11-14T23:13:20Z"), ("step", "1m")]),
        );
        assert!(q.aligned);
        assert_eq!(value(&q.params, "start"), Some("1699999980"));
        assert_eq!(value(&q.params, "end"), Some("1700003580"));
        assert_eq!(value(&q.params, "step"), Some("60"));
        let ms =
            prepare(Endpoint::QueryRange, p(&[("query", "up"), ("start", "10.3"), ("end", "11.1"), ("step", "250ms")]));
        assert_eq!(value(&ms.params, "start"), Some("10.25"));
        assert_eq!(value(&ms.params, "end"), Some("11"));
        assert_eq!(value(&ms.params, "step"), Some("0.25"));
        assert_eq!(duration_ms("1h30m"), Some(5_400_000));
        assert_eq!(duration_ms("1y"), Some(31_536_000_000));
        assert_eq!(duration_ms("5 m"), None);
        assert_eq!(duration_ms("0"), None);
        assert_eq!(duration_ms(""), None);
    }

    #[test]
    fn instant_queries_are_aligned_only_when_asked() {
        let at = |t: &str, align| prepare_with(Endpoint::Query, p(&[("query", "up"), ("time", t)]), align);
        assert_eq!(at("1700000004.9", None).key, "/api/v1/query?query=up&time=1700000004.9");
        let a = at("1700000004.9", Some(5000));
        assert!(a.aligned);
        assert_eq!(a.key, "/api/v1/query?query=up&time=1700000000");
        assert_eq!(a.key, at("2023-11-14T22:13:21Z", Some(5000)).key);
        assert_ne!(a.key, at("1700000005", Some(5000)).key);
        // No `time` ("now") and a range query's `time`-less form are left alone.
        assert!(!prepare_with(Endpoint::Query, p(&[("query", "up")]), Some(5000)).aligned);
        assert!(!at("soon", Some(5000)).aligned);
    }

    #[test]
    fn unparsable_ranges_are_left_to_prometheus() {
        let bad = p(&[("query", "up"), ("start", "yesterday"), ("end", "10"), ("step", "15")]);
        let q = prepare(Endpoint::QueryRange, bad);
        assert!(!q.aligned);
        assert_eq!(value(&q.params, "start"), Some("yesterday"));
        let twice = p(&[("query", "up"), ("start", "1"), ("start", "2"), ("end", "10"), ("step", "15")]);
        assert!(!prepare(Endpoint::QueryRange, twice).aligned);
        let zero = p(&[("query", "up"), ("start", "1"), ("end", "10"), ("step", "0")]);
        assert!(!prepare(Endpoint::QueryRange, zero).aligned);
    }

    #[test]
    fn keys_ignore_order_but_not_values_nor_endpoints() {
        let a = prepare(Endpoint::Query, p(&[("query", "up"), ("time", "10")]));
        let b = prepare(Endpoint::Query, p(&[("time", "10"), ("query", "up")]));
        assert_eq!(a.key, b.key);
        assert_ne!(a.key, prepare(Endpoint::Query, p(&[("query", "up"), ("time", "11")])).key);
        assert_ne!(a.key, prepare(Endpoint::Query, p(&[("query", "up "), ("time", "10")])).key);
        assert_ne!(a.key, prepare(Endpoint::Series, p(&[("query", "up"), ("time", "10")])).key);
        // Instant queries are not aligned: `time` is the instant asked for.
        assert_eq!(value(&prepare(Endpoint::Query, p(&[("time", "10.7")])).params, "time"), Some("10.7"));
        // Encoding keeps `&` and `=` inside a value from forging another parameter.
        let forged = prepare(Endpoint::Query, p(&[("query", "up&time=10")]));
        assert_ne!(forged.key, a.key);
    }
}
