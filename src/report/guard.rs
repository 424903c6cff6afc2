//! The load-test guard's section of a report: the actions it took on k6 (when, why, the
//! numbers behind them) and teardown's verification (recovered in N s, or the residual impact
//! with its readings). Reads `Verdict.guard`, computes nothing.

use std::fmt::Write;

use crate::escape::escape_html;
use crate::policy::guarded::{AlertDelivery, GuardAction, GuardRecord};

fn action_line(a: &GuardAction) -> String {
    let vus = match (a.vus_before, a.vus_after) {
        (Some(b), Some(after)) => format!(", VUs {b} -> {after}"),
        _ => String::new(),
    };
    let failed = a.error.as_ref().map_or(String::new(), |e| format!(" NOT APPLIED: {e}"));
    format!(
        "{} at {} ({:.1} s into the test{vus}; {:.0} ms from reading to k6's answer): {}; read: {}{failed}",
        a.action,
        a.at,
        a.t_s,
        a.took_ms,
        a.reason,
        a.reading.describe()
    )
}

fn alert_line(a: &AlertDelivery) -> String {
    let path = match a.path.as_str() {
        "alertmanager" => format!("delivered through the Alertmanagers ({})", a.accepted_by.join(", ")),
        "webhook" => "no Alertmanager reachable: delivered straight to the notification webhook".to_string(),
        _ => "DELIVERED NOWHERE".to_string(),
    };
    let errors = if a.errors.is_empty() { String::new() } else { format!("; failed: {}", a.errors.join("; ")) };
    format!("alert {} at {}: {}; {path} in {:.0} ms{errors}", a.alert, a.at, a.summary, a.took_ms)
}

/// Plain text, for the terminal and `report.md`.
pub fn text(g: &GuardRecord) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nlive guard ({}; {} readings, {:.2} queries/s on Prometheus; k6 {}):",
        g.rules,
        g.readings,
        g.queries_per_s,
        if g.scalable { "scalable" } else { "stop only" }
    );
    if g.actions.is_empty() {
        let _ = writeln!(out, "  no action: every reading within the limits");
    }
    for a in &g.actions {
        let _ = writeln!(out, "  {}", action_line(a));
    }
    for p in &g.problems {
        let _ = writeln!(out, "  problem: {p}");
    }
    for a in &g.alerts {
        let _ = writeln!(out, "  {}", alert_line(a));
    }
    if let Some(t) = &g.teardown {
        let _ = writeln!(out, "teardown ({}): {}", t.rules, t.summary);
        if !t.recovered {
            for s in &t.samples {
                let _ = writeln!(
                    out,
                    "  +{:.0} s: error rate {}, P95 {}, in flight {}{}",
                    s.t_s,
                    s.error_rate.map_or("missing".into(), |v| format!("{:.2} %", v * 100.0)),
                    s.p95_ms.map_or("missing".into(), |v| format!("{v:.1} ms")),
                    s.in_flight.map_or("missing".into(), |v| format!("{v:.0}")),
                    if s.within { "" } else { "  (not back)" }
                );
            }
        }
    }
    out
}

/// The same as an HTML section, inserted before the end of the page's body.
pub fn insert_html(page: String, g: &GuardRecord) -> String {
    let mut s = String::from("<h2>Load-test guard</h2>\n<ul class=\"guard\">\n");
    if g.actions.is_empty() {
        s.push_str("<li>no action: every reading within the limits</li>\n");
    }
    for a in &g.actions {
        let _ = writeln!(s, "<li>{}</li>", escape_html(&action_line(a)));
    }
    for p in &g.problems {
        let _ = writeln!(s, "<li>problem: {}</li>", escape_html(p));
    }
    for a in &g.alerts {
        let _ = writeln!(s, "<li class=\"alert\">{}</li>", escape_html(&alert_line(a)));
    }
    s.push_str("</ul>\n");
    if let Some(t) = &g.teardown {
        let _ = writeln!(s, "<p class=\"teardown\">Teardown: {}</p>", escape_html(&t.summary));
        if !t.recovered {
            s.push_str("<table><tr><th>after k6</th><th>error rate</th><th>P95</th><th>in flight</th></tr>\n");
            for x in &t.samples {
                let _ = writeln!(
                    s,
                    "<tr><td>+{:.0} s</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    x.t_s,
                    x.error_rate.map_or("missing".into(), |v| format!("{:.2} %", v * 100.0)),
                    x.p95_ms.map_or("missing".into(), |v| format!("{v:.1} ms")),
                    x.in_flight.map_or("missing".into(), |v| format!("{v:.0}"))
                );
            }
            s.push_str("</table>\n");
        }
    }
    match page.rfind("</body>") {
        Some(i) => format!("{}{s}{}", &page[..i], &page[i..]),
        None => page + &s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::guarded::{Reading, Teardown, TeardownSample};

    #[test]
    fn actions_and_residual_impact_show_with_their_numbers() {
        let reading =
            Reading { error_rate: Some(0.25), p95_ms: Some(12.0), in_flight: Some(4.0), ..Reading::default() };
        let g = GuardRecord {
            rules: "policies/data/guard.yaml:40".into(),
            scalable: true,
            readings: 8,
            queries: 40,
            queries_per_s: 4.9,
            actions: vec![GuardAction {
                action: "lower".into(),
                at: "2026-12-06T21:00:00.000Z".into(),
                t_s: 7.2,
                reason: "error_rate 0.25 over 0.05 (asks to lower)".into(),
                reading,
                vus_before: Some(10),
                vus_after: Some(5),
                took_ms: 45.0,
                error: None,
            }],
            problems: vec![],
            teardown: Some(Teardown {
                recovered: false,
                recovered_in_s: None,
                baseline: Reading::default(),
                max_error_rate: Some(0.02),
                max_p95_ms: Some(40.0),
                max_in_flight: Some(3.0),
                summary: "residual impact: not back".into(),
                samples: vec![TeardownSample {
                    t_s: 1.0,
                    error_rate: Some(0.0),
                    p95_ms: Some(170.0),
                    in_flight: None,
                    within: false,
                }],
                rules: "policies/data/guard.yaml:60".into(),
            }),
            alerts: vec![
                AlertDelivery {
                    alert: "K6gateGuardStoppedK6".into(),
                    at: "2026-12-06T21:00:09.000Z".into(),
                    summary: "the load-test guard stopped k6".into(),
                    path: "webhook".into(),
                    accepted_by: vec![],
                    errors: vec!["http://am1: connection refused".into()],
                    took_ms: 12.0,
                },
                AlertDelivery {
                    alert: "K6gateObservabilityLost".into(),
                    at: "2026-12-06T21:00:05.000Z".into(),
                    summary: "Prometheus answered none <of> its queries".into(),
                    path: "alertmanager".into(),
                    accepted_by: vec!["http://am1".into(), "http://am2".into()],
                    errors: vec![],
                    took_ms: 3.0,
                },
            ],
        };
        let t = text(&g);
        assert!(
            t.contains(
                "  alert K6gateGuardStoppedK6 at 2026-12-06T21:00:09.000Z: the load-test guard stopped k6; no Alertmanager \
                 reachable: delivered straight to the notification webhook in 12 ms; failed: http://am1: connection refused\n"
            ),
            "{t}"
        );
        assert!(t.contains("delivered through the Alertmanagers (http://am1, http://am2) in 3 ms"), "{t}");
        assert!(t.contains("lower at 2026-12-06T21:00:00.000Z (7.2 s into the test, VUs 10 -> 5;"), "{t}");
        assert!(t.contains("read: error rate 25.00 %, P95 12.0 ms, in flight 4\n"), "{t}");
        assert!(t.contains("+1 s: error rate 0.00 %, P95 170.0 ms, in flight missing  (not back)"), "{t}");
        let html = insert_html("<html><body><p>x</p></body></html>".into(), &g);
        assert!(html.contains("<h2>Load-test guard</h2>") && html.ends_with("</table>\n</body></html>"), "{html}");
        assert!(html.contains("error_rate 0.25 over 0.05 (asks to lower)"), "{html}");
        assert!(
            html.contains("<li class=\"alert\">alert K6gateObservabilityLost at ")
                && html.contains("none &lt;of&gt; its"),
            "{html}"
        );
    }
}
