//! The HTML and Markdown reports on real k6 runs (the small checked-in set): a slower
//! candidate (`policy-slow`) judged against a healthy baseline (`policy-base-a`) by the shipped
//! policies. The page must be self-contained, escape everything from the data, and render in
//! headless Chromium (`scripts/install-chromium.sh` installs it; the screenshot test is the
//! full tier and fails without it).
//! The last rendered page and screenshot are kept in `<target>/html-report/` for a look.

use crate::support::fixtures::Set;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use k6gate::RunSummary;
use k6gate::compare::Phase;
use k6gate::gate::{Baseline, Case, Gate, PolicySource, Side};
use k6gate::github::approval::Mode;
use k6gate::policy::verdict::{Exception, Ignored, Status, Verdict};
use k6gate::report::html::{render, render_run};

pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";

use crate::support::{root, target_dir};

/// The small checked-in k6 runs: the report is about what a summary shows, not about its size.
fn ingest(name: &str) -> RunSummary {
    Set::Small.ingest(name)
}

pub(crate) struct Judged {
    pub(crate) baseline: RunSummary,
    pub(crate) candidate: RunSummary,
    pub(crate) verdict: Verdict,
}

/// The baseline, the slower candidate and the shipped policies' verdict on them.
pub(crate) fn judged() -> &'static Judged {
    static J: OnceLock<Judged> = OnceLock::new();
    J.get_or_init(|| {
        let baseline = ingest("policy-base-a.json");
        let candidate = ingest("policy-slow.json");
        let gate = Gate::load(&PolicySource::new(root().join("policies"), Mode::Trust)).expect("policies");
        let verdict = gate
            .judge(&Case {
                test: "checkout",
                environment: "ci",
                now_ns: 1_795_824_000_000_000_000,
                phase: &Phase::SteadyState,
                candidate: Side { summary: &candidate, source: "policy-slow.json" },
                confirmations: &[],
                baseline: Baseline::Runs {
                    runs: vec![Side { summary: &baseline, source: "policy-base-a.json" }],
                    reason: Some("pinned by release-bot for v1.0.0".into()),
                },
                previous: None,
            })
            .expect("evaluate");
        Judged { baseline, candidate, verdict }
    })
}

fn report() -> &'static str {
    static HTML: OnceLock<String> = OnceLock::new();
    HTML.get_or_init(|| {
        let j = judged();
        render(&j.verdict, &j.candidate, Some(&j.baseline))
    })
}

/// The text between the first `open` and the next `close` after it.
fn between<'a>(s: &'a str, open: &str, close: &str) -> &'a str {
    let start = s.find(open).unwrap_or_else(|| panic!("{open:?} not found"));
    let rest = &s[start..];
    let end = rest.find(close).unwrap_or_else(|| panic!("{close:?} not found after {open:?}"));
    &rest[..end]
}

/// Text as minijinja's HTML auto-escaping writes it.
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    for needle in ["<script", "<link", "<img", "<iframe", "<object", "<embed", " src=", " href=", "url(", "@import"] {
        assert!(!lower.contains(needle), "the report must load nothing, but contains {needle:?}");
    }
    for scheme in ["http://", "https://", "//fonts."] {
        assert!(!lower.contains(scheme), "the report must not reference {scheme} resources");
    }
}

#[test]
fn report_shows_verdict_comparison_and_charts() {
    let j = judged();
    let html = report();
    assert!(j.verdict.outcome == Status::Fail, "a 30 % slower candidate should fail: {}", j.verdict.headline);

    assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..80.min(html.len())]);
    assert_eq!(html.matches("<table id=\"comparison\">").count(), 1, "exactly one comparison table");
    let table = between(html, "<table id=\"comparison\">", "</table>");
    let rows = table.matches("<tr class=").count();
    assert_eq!(rows, j.verdict.comparison.metrics.len(), "one row per comparison metric");
    for m in &j.verdict.comparison.metrics {
        let attrs = format!("data-group=\"{}\" data-metric=\"{}\"", m.group, m.metric.name());
        assert_eq!(table.matches(&attrs).count(), 1, "row {attrs}");
    }
    // The rows carry the rules' limits and results: the failing budget is in the table.
    assert!(table.contains("budget +10 %"), "{table}");
    assert!(table.contains("<span class=\"badge fail\">FAIL</span>"), "{table}");

    // Header: outcome, headline, both runs, the phase and the warm-up trimmed.
    let header = between(html, "<header", "</header>");
    assert!(header.contains("banner fail") && header.contains(">FAIL<"), "{header}");
    assert!(header.contains(&j.verdict.headline), "headline {:?} in {header}", j.verdict.headline);
    assert!(header.contains("steady-state phase compared"), "{header}");
    let runs = between(html, "<table class=\"runs\"", "</table>");
    for needle in ["v1.0.0", "v1.1.0", "3f2a9c1", "Warm-up trimmed", "policy-base-a.json", "policy-slow.json"] {
        assert!(runs.contains(needle), "{needle} in the runs table: {runs}");
    }

    // Results: failures come first and every result is somewhere on the page.
    let results = between(html, "<table id=\"results\">", "</table>");
    let first = between(results, "<tbody>", "</tr>");
    assert!(first.contains("badge fail"), "the first result is a failure: {first}");
    for r in &j.verdict.results {
        assert!(html.contains(&format!(">{}<", escaped(&r.id))), "result {} on the page", r.id);
    }

    // Charts: inline SVG drawn by plotters, with the phases shaded and the trimmed warm-up marked.
    for id in ["chart-latency", "chart-requests", "chart-errors"] {
        let fig = between(html, &format!("id=\"{id}\""), "</figure>");
        assert!(fig.contains("<svg") && fig.contains("</svg>"), "{id} holds an SVG");
        assert!(fig.contains("<polyline") || fig.contains("<path"), "{id} has lines");
    }
    let latency = between(html, "id=\"chart-latency\"", "</figure>");
    assert!(latency.contains("sustained"), "phases labelled");
    // The trimmed warm-up is marked exactly when the candidate had one: MSER decides that from
    // the real fixture run, and a quiet machine can leave nothing to trim.
    let trimmed = j.verdict.candidate.trimmed_s.is_some_and(|t| t > 0.0);
    assert_eq!(latency.contains("candidate warm-up trimmed"), trimmed, "trimmed window labelled iff trimmed");
    assert!(latency.contains("candidate v1.1.0 p95") && latency.contains("baseline v1.0.0 p95"), "legend");
    let groups = j.candidate.series.as_ref().map_or(0, |s| s.groups.len());
    assert!(groups > 0);
    assert_eq!(html.matches("id=\"chart-group-").count(), groups, "one latency chart per group");

    // The phase tables of both runs, with the compared phase marked.
    assert_eq!(html.matches("<table class=\"phases\">").count(), 2);
    let phases = between(html, "<table class=\"phases\">", "</table>");
    let compared = between(phases, "<tr class=\"compared\">", "</tr>");
    let trimmed = j.candidate.steady_state.as_ref().map(|s| s.trimmed_s).expect("a steady state");
    let detail = format!("sustained minus {trimmed:.1} s of warm-up");
    assert!(compared.contains("steady-state") && compared.contains(&detail), "{compared}");

    assert_self_contained(html);
}

#[test]
fn data_from_the_runs_is_escaped() {
    let j = judged();
    let evil = "<script>alert(1)</script>";
    let mut candidate = j.candidate.clone();
    candidate.metadata.test_name = Some(evil.into());
    candidate.metadata.deployment_version = Some("v2 \"quoted\" & 'single'".into());
    candidate.notes.push("<b>bold</b>".into());
    if let Some(s) = candidate.series.as_mut() {
        // Phase names reach the SVG charts (drawn by plotters) and group keys their titles.
        for p in s.phase.iter_mut().flatten() {
            *p = "<img src=x onerror=alert(2)>".into();
        }
        if let Some(g) = s.groups.first_mut() {
            g.key.insert("name".into(), "</title><script>alert(3)</script>".into());
        }
    }
    let mut verdict = j.verdict.clone();
    verdict.test = evil.into();
    verdict.headline = format!("{evil} over budget");
    if let Some(r) = verdict.results.first_mut() {
        r.message = "<iframe src=\"https://example.com\">".into();
    }
    if let Some(m) = verdict.comparison.metrics.first_mut() {
        m.group = "<svg onload=alert(4)>".into();
    }

    // Exceptions and ignored overrides come from policy data files: escaped too.
    verdict.exceptions.push(Exception {
        kind: k6gate::policy::verdict::ExceptionKind::Waived,
        result: "budget/all/p95_ms".into(),
        message: "P95 latency rose".into(),
        by: "W-<1>".into(),
        requested_by: Some("alice & bob".into()),
        approved_by: Some("<carol>".into()),
        owner: None,
        reason: "<em>known</em> slow path".into(),
        expires: "2026-12-04T00:00:00Z".into(),
        verified: None,
        source: None,
    });
    verdict.ignored.push(Ignored { what: "waiver <W-2>".into(), reason: "expired <yesterday>".into(), source: None });

    let html = render(&verdict, &candidate, Some(&j.baseline));
    assert!(html.contains("<table id=\"comparison\">") && html.contains("<table id=\"exceptions\">"), "full page");
    assert!(html.contains("WAIVED by W-&lt;1&gt;"), "the waiver shows on its comparison row");
    assert!(html.contains("&lt;em&gt;known&lt;") && html.contains("expired &lt;yesterday&gt;"));
    assert!(html.contains(&escaped(evil)), "test name escaped");
    assert!(html.contains("&lt;b&gt;bold&lt;"), "notes escaped");
    assert!(html.contains("&lt;img src=x onerror=alert(2)&gt;"), "phase names in SVG text escaped");
    for raw in ["alert(1)</script>", "<b>bold", "<img", "<iframe", "<svg onload", "</title><script", "<em>", "<carol>"]
    {
        assert!(!html.contains(raw), "{raw:?} must not appear unescaped");
    }
    assert!(!html.contains("\"quoted\""), "quotes escaped");
    assert!(!html.to_ascii_lowercase().contains("<script"), "no script element");
}

#[test]
fn a_run_without_a_verdict_still_shows_phases_and_charts() {
    // staged.json: ramp-up, sustained, ramp-down from test_stage tags.
    let mut run = ingest("staged.json");
    run.completeness.complete = false;
    run.completeness.issues.push("k6 exited with code 105 <aborted>".into());
    let html = render_run(&run, None, None);
    let header = between(&html, "<header", "</header>");
    assert!(header.contains("NO VERDICT") && header.contains("banner none"), "{header}");
    assert!(header.contains("incomplete"), "{header}");
    assert!(html.contains("k6 exited with code 105 &lt;aborted&gt;"), "incompleteness listed");
    assert!(!html.contains("<table id=\"comparison\">"));
    assert!(html.contains("id=\"no-comparison\""));
    let latency = between(&html, "id=\"chart-latency\"", "</figure>");
    for phase in ["ramp-up", "sustained", "ramp-down"] {
        assert!(latency.contains(phase), "{phase} labelled in the latency chart");
    }
    assert_eq!(html.matches("<table class=\"phases\">").count(), 1);
    assert_self_contained(&html);
    save("staged.html", html.as_bytes());
}

#[test]
fn a_verdict_without_a_baseline_shows_no_self_comparison() {
    // The first run of a test: the verdict's comparison is the run against itself.
    let j = judged();
    let html = render(&j.verdict, &j.candidate, None);
    assert!(!html.contains("<table id=\"comparison\">"), "no comparison of the run with itself");
    let none = between(&html, "id=\"no-comparison\"", "</p>");
    assert!(none.contains("No baseline yet"), "{none}");
    assert!(!html.contains("<th>Baseline</th>"), "no baseline column");
    assert!(html.contains("<table id=\"results\">"), "the results are still listed");
    assert_eq!(html.matches("<table class=\"phases\">").count(), 1);
    assert_self_contained(&html);
}

#[test]
fn markdown_report_has_the_verdict_and_every_comparison_row() {
    let j = judged();
    let md = k6gate::report::verdict::markdown(&j.verdict);
    assert!(md.contains(&j.verdict.headline));
    let rows = md.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| group") && !l.starts_with("| type"));
    assert_eq!(rows.count(), j.verdict.comparison.metrics.len() + j.verdict.exceptions.len());
}

// ------------------------------------------------------------------------------------------
// Headless Chromium.

pub(crate) fn save(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = target_dir().join("html-report");
    std::fs::create_dir_all(&dir).expect("create target/html-report");
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write report artifact");
    p
}

/// Runs Chromium headless on `page` with `args`, killing it after `limit`. Returns stdout.
pub(crate) fn chromium(profile: &Path, page: &Path, args: &[&str], limit: Duration) -> String {
    let out = tempfile::tempfile().expect("temp stdout");
    let err = tempfile::tempfile().expect("temp stderr");
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1280,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup stdout"))
        .stderr(err.try_clone().expect("dup stderr"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {CHROMIUM}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut s = String::new();
        f.rewind().expect("rewind");
        f.read_to_string(&mut s).expect("read chromium output");
        s
    };
    let (stdout, stderr) = (read(out), read(err));
    assert!(status.success(), "chromium {args:?} failed ({status}):\n{stderr}");
    stdout
}

#[test]
#[ignore = "full tier: needs chromium"]
fn headless_chromium_renders_the_comparison_table() {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: the screenshot test needs headless Chromium. \
         Run `sudo scripts/install-chromium.sh` (CI does) and rerun the tests."
    );
    let j = judged();
    let html = report();
    let tmp = tempfile::tempdir().expect("temp dir");
    let page = tmp.path().join("report.html");
    std::fs::write(&page, html).expect("write report");
    let profile = tmp.path().join("profile");
    let shot = tmp.path().join("shot.png");
    let limit = Duration::from_secs(30);

    let t = Instant::now();
    chromium(&profile, &page, &[&format!("--screenshot={}", shot.display())], limit);
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", shot.display()));
    let kept = save("report.png", &png);
    save("report.html", html.as_bytes());
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG: {}", kept.display());
    // IHDR: width and height, big-endian, right after the signature and chunk header.
    let dim = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!((dim(16), dim(20)), (1280, 2000), "screenshot size");
    // A blank page compresses to a few kilobytes; tables, text and charts do not.
    assert!(png.len() > 60_000, "screenshot is only {} bytes: {}", png.len(), kept.display());
    let shot_time = t.elapsed();

    // The DOM as Chromium parsed it: the table and all its rows are there.
    let t = Instant::now();
    let dom = chromium(&profile, &page, &["--dump-dom"], limit);
    let dump_time = t.elapsed();
    save("report.dom.html", dom.as_bytes());
    assert_eq!(dom.matches("<table id=\"comparison\">").count(), 1, "comparison table in the DOM");
    let table = between(&dom, "<table id=\"comparison\">", "</table>");
    assert_eq!(table.matches("data-metric=").count(), j.verdict.comparison.metrics.len(), "rows in the DOM");
    assert!(table.contains("P95 latency") && table.contains("budget +10 %"));
    assert!(dom.contains("id=\"headline\""));
    assert_eq!(dom.matches("<svg").count(), html.matches("<svg").count(), "every chart parsed as SVG");
    eprintln!(
        "chromium: screenshot {shot_time:?} ({} bytes, kept at {}), dump-dom {dump_time:?}",
        png.len(),
        kept.display()
    );
}
