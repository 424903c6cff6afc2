//! `k6gate profile from-prometheus` (issue 16): a real Prometheus scraping a "production"
//! shop every second while k6 drives it with a known mix (60/30/10 over three routes) and two
//! spikes; the generated traffic file matches the shop's own counters within a few percent.
//!
//! The Prometheus and the "production" shops are shared with `tests/validate.rs`
//! ([`production`]): one Prometheus, one scrape job per production shop.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use k6gate::profile::TrafficProfile;

use crate::support::cli::K6gate;
use crate::support::stack::{Proc, free_port, wait_until};

/// Production as the full-tier tests see it: one Prometheus (1 s scrape) and two shops.
pub struct Production {
    pub prometheus: String,
    /// Job `prod-mix`: the shop the mix test drives.
    pub mix_port: u16,
    /// Job `prod-slow`: the shop whose payment provider takes 150 ms (the test's takes 8 ms).
    pub slow_port: u16,
    _dir: tempfile::TempDir,
    _prometheus: Proc,
    _shops: Vec<k6gate_shop::Running>,
}

pub fn production() -> &'static Production {
    static P: OnceLock<Production> = OnceLock::new();
    P.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let shop = |extra: &[&str]| {
            let db = dir.path().join(format!("shop-{}.sqlite", free_port()));
            let mut args = vec!["--db", db.to_str().unwrap()];
            args.extend_from_slice(extra);
            k6gate_shop::spawn(&k6gate_shop::TargetArgs::try_from_args(args).unwrap()).unwrap()
        };
        let mix = shop(&[]);
        let slow = shop(&["--third-party-ms", "150"]);
        let port = free_port();
        std::fs::write(
            dir.path().join("prometheus.yml"),
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  \
                 - job_name: prod-mix\n    static_configs: [{{targets: ['127.0.0.1:{}']}}]\n  \
                 - job_name: prod-slow\n    static_configs: [{{targets: ['127.0.0.1:{}']}}]\n",
                mix.port(),
                slow.port()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let prometheus = Proc::spawn(
            Command::new("prometheus")
                .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
                .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(log),
            "prometheus",
        );
        let url = format!("http://127.0.0.1:{port}");
        // Both targets scraped at least once: `up` is 1 for each job.
        wait_until(Duration::from_secs(60), "Prometheus scraping both shops", || {
            // curl: Prometheus refuses connections until it listens, which get_json would panic on.
            let out = Command::new("curl")
                .args(["-sf", "--max-time", "2", &format!("{url}/api/v1/query?query=sum(up)")])
                .output()
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            v["data"]["result"][0]["value"][1] == "2"
        });
        Production {
            prometheus: url,
            mix_port: mix.port(),
            slow_port: slow.port(),
            _dir: dir,
            _prometheus: prometheus,
            _shops: vec![mix, slow],
        }
    })
}

/// An environment `prod` whose monitoring is the shared Prometheus, job `job`; the file
/// carries comments, which `profile` must leave alone.
pub fn prod_environment(dir: &Path, job: &str, port: u16) -> String {
    let text = format!(
        "# Production: the shop behind the load balancer.\nbase_url: http://127.0.0.1:{port}  # the shop\n\
         executor: ramping-vus\nvus: 2\nstages: {{ramp_up: 1s, sustained: 2s, ramp_down: 1s}}\n\
         # Where production's metrics are.\nmonitoring:\n  prometheus: {}\n  alertmanagers: [http://127.0.0.1:9]\n  \
         grafana: http://127.0.0.1:9\n  target_job: {job}\n",
        production().prometheus
    );
    std::fs::write(dir.join("prod.yaml"), &text).unwrap();
    text
}

/// `http_server_requests_total` per route from the shop's own `/metrics`.
pub fn shop_counts(port: u16) -> BTreeMap<String, f64> {
    let out = Command::new("curl").args(["-sf", &format!("http://127.0.0.1:{port}/metrics")]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut counts = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("http_server_requests_total{")) {
        let route = line.split("route=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_string();
        let v: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        *counts.entry(route).or_insert(0.0) += v;
    }
    counts
}

/// 60 % products, 30 % search, 10 % health, by iteration number (exact shares); 30
/// iterations/s with two spikes to 90/s, 14 s in all.
const MIX_SCRIPT: &str = r#"
import http from 'k6/http';
import exec from 'k6/execution';
export const options = {
  scenarios: { mix: { executor: 'ramping-arrival-rate', startRate: 30, timeUnit: '1s',
    preAllocatedVUs: 20, maxVUs: 60,
    stages: [
      { duration: '3s', target: 30 }, { duration: '1s', target: 90 }, { duration: '2s', target: 90 },
      { duration: '1s', target: 30 }, { duration: '3s', target: 30 }, { duration: '1s', target: 90 },
      { duration: '2s', target: 90 }, { duration: '1s', target: 30 },
    ] } },
};
export default function () {
  const i = exec.scenario.iterationInTest % 10;
  const base = __ENV.BASE;
  if (i < 6) http.get(`${base}/api/products?limit=5`);
  else if (i < 9) http.get(`${base}/api/search?category=books&page=${i}`);
  else http.get(`${base}/health`);
}
"#;

fn k6(script: &Path, base: &str) {
    let status = Command::new("k6")
        .args(["run", "--quiet", "--no-summary", "--address", &format!("127.0.0.1:{}", free_port())])
        .arg(script)
        .env("K6_NO_USAGE_REPORT", "true")
        .env("BASE", base)
        .stdout(Stdio::null())
        .status()
        .expect("k6");
    assert!(status.success(), "k6 failed: {status}");
}

#[test]
#[ignore = "full tier: needs k6 and Prometheus"]
fn the_mix_from_productions_prometheus_matches_its_own_counters() {
    let p = production();
    let dir = tempfile::tempdir().unwrap();
    let envs = dir.path().join("environments");
    std::fs::create_dir(&envs).unwrap();
    let env_text = prod_environment(&envs, "prod-mix", p.mix_port);
    let base = format!("http://127.0.0.1:{}", p.mix_port);
    // One request per route first, so that each route's series exists before the traffic
    // (Prometheus's increase() cannot count what a series had at its first scrape).
    for path in ["/api/products?limit=5", "/api/search?category=books&page=1", "/health"] {
        Command::new("curl").args(["-sf", "-o", "/dev/null", &format!("{base}{path}")]).status().unwrap();
    }
    std::thread::sleep(Duration::from_millis(2500));
    let before = shop_counts(p.mix_port);
    let script = dir.path().join("mix.js");
    std::fs::write(&script, MIX_SCRIPT).unwrap();
    k6(&script, &base);
    let after = shop_counts(p.mix_port);
    // Two scrapes after the last request.
    std::thread::sleep(Duration::from_millis(2500));

    let ran = K6gate::new()
        .args(["profile", "from-prometheus", "--env", "prod", "--environments"])
        .arg(&envs)
        .args(["--window", "18s", "--step", "2s"])
        .status(0);
    assert!(ran.stderr().contains("wrote "), "{}", ran.stderr());
    let text = std::fs::read_to_string(envs.join("traffic/prod.yaml")).unwrap();
    assert!(text.starts_with("# Generated by `k6gate profile from-prometheus --env prod"), "{text}");
    let profile = TrafficProfile::from_yaml(&text).unwrap();
    assert_eq!(std::fs::read_to_string(envs.join("prod.yaml")).unwrap(), env_text, "the environment file is untouched");

    let own: BTreeMap<String, f64> =
        after.iter().map(|(r, n)| (r.clone(), n - before.get(r).unwrap_or(&0.0))).collect();
    let own_total: f64 = own.values().sum();
    let weight = |route: &str| profile.routes.iter().find(|r| r.route == route).map(|r| r.weight);
    eprintln!("generated:\n{text}\nshop's counters over the k6 run: {own:?}");
    for (route, expected) in [("GET /api/products", 0.6), ("GET /api/search", 0.3), ("GET /health", 0.1)] {
        let got = weight(route).unwrap_or_else(|| panic!("{route} missing:\n{text}"));
        let counted = own[route] / own_total;
        assert!((got - counted).abs() < 0.02, "{route}: {got} generated vs {counted} counted by the shop");
        assert!((got - expected).abs() < 0.03, "{route}: {got} vs the driven {expected}");
    }
    assert_eq!(profile.routes.len(), 3, "{text}");
    // The rates: all requests over the window, about the shop's count / 18 s.
    let counted_rate = own_total / 18.0;
    assert!(
        (profile.total_rate_per_s / counted_rate - 1.0).abs() < 0.15,
        "{} vs {counted_rate}",
        profile.total_rate_per_s
    );
    let products = profile.routes.iter().find(|r| r.route == "GET /api/products").unwrap();
    assert!(products.p95_ms.is_some_and(|v| v > 0.0), "{products:?}");
    // Two spikes to 3x the base: seen as spikes well above the base. The bounds are loose:
    // 2 s rates over 1 s scrapes of a busy machine.
    let b = profile.burst_analysis.as_ref().expect("a burst pattern");
    assert!(b.spikes >= 1 && b.spike_factor >= 1.5, "{b:?}");
    assert!((15.0..50.0).contains(&b.base_rate_per_s), "{b:?}");

    // The environment's `mix:` block: products -> browse, search -> search; health is no
    // scenario's and is listed as left out.
    let browse = profile.mix.scenarios["browse"].weight;
    assert!((browse - 0.6 / 0.9).abs() < 0.03, "{text}");
    assert!((profile.mix.scenarios["search"].weight - 0.3 / 0.9).abs() < 0.03, "{text}");
    assert!(profile.unmapped.len() == 1 && profile.unmapped[0].starts_with("GET /health ("), "{text}");
    let mb = profile.mix.bursts.as_ref().expect("bursts in the mix block");
    assert!(mb.spike_factor >= 1.5 && mb.spike_period.ends_with('s'), "{mb:?}");

    // The generated file, included by an environment (never copied by hand), renders and
    // runs: every generated scenario runs at production's rates against a test shop.
    let shop =
        k6gate_shop::spawn(&k6gate_shop::TargetArgs::try_from_args(["--latency-scale", "0.2"]).unwrap()).unwrap();
    std::fs::write(
        envs.join("prodmix.yaml"),
        format!(
            "base_url: http://127.0.0.1:{}\nexecutor: ramping-arrival-rate\nrate: 1\n\
             stages: {{ramp_up: 1s, sustained: 2s, ramp_down: 1s}}\nthink_time_s: 0\n\
             mix:\n  include: traffic/prod.yaml   # written by profile from-prometheus\n  connections: 40\n",
            shop.port()
        ),
    )
    .unwrap();
    let script = dir.path().join("prodmix.js");
    K6gate::new()
        .args(["render", "--test", "mix", "--env", "prodmix", "--templates"])
        .arg(crate::support::root().join("k6-templates"))
        .arg("--environments")
        .arg(&envs)
        .arg("-o")
        .arg(&script)
        .status(0);
    let rendered = std::fs::read_to_string(&script).unwrap();
    let offered: f64 = profile.mix.scenarios.values().map(|e| e.rate).sum();
    assert!(rendered.contains(r#""load_model":"open","offered_rate":""#), "{rendered}");
    let out = dir.path().join("prodmix.json");
    let status = Command::new("timeout")
        .args(["60", "k6", "run", "--quiet", "--no-summary", "--address", "127.0.0.1:0", "--out"])
        .arg(format!("json={}", out.display()))
        .arg(&script)
        .env("K6_NO_USAGE_REPORT", "true")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    shop.stop().unwrap();
    assert!(status.success(), "k6 on the included mix: {status}");
    let summary = crate::support::fixtures::ingest_paths(&[out], &Default::default());
    let ran: Vec<String> = summary.whole_run.groups.iter().filter_map(|g| g.key.get("name").cloned()).collect();
    for name in ["products", "search"] {
        assert!(ran.iter().any(|n| n == name), "no {name} request from the included mix: {ran:?}");
    }
    let model = summary.metadata.load_model.as_ref().expect("a tagged load model");
    let tagged = model.offered_iterations_per_s.expect("an offered rate");
    // The tag is the generated rates' sum (rescaled to the bursts' base when there are bursts).
    let base = profile.mix.bursts.as_ref().map_or(offered, |b| b.base_rate);
    assert!((tagged - base).abs() < 0.01 * base.max(1.0), "offered {tagged} vs the mix's {base}");

    // A job with no traffic: no mix, an error that says why (fail closed).
    K6gate::new()
        .args(["profile", "from-prometheus", "--env", "prod", "--job", "nobody", "--window", "30s", "--environments"])
        .arg(&envs)
        .status(2)
        .stderr_contains("no requests of job \"nobody\"");
}
