//! One k6 script per test, rendered for every environment.
//!
//! `k6-templates/<test>.js.j2` (minijinja, strict undefined) + `environments/<env>.yaml`
//! (load profile, target, facts) + overrides (`K6GATE_<KEY>` variables, then `--set
//! key=value`) -> a k6 script whose `options.tags` carry the run metadata and whose samples
//! carry `test_stage`. Every `{{ value }}` is written as a JSON literal with `<`, `>`, `&`,
//! `'` and the JS line separators escaped, so no rendered value can change the script;
//! only k6gate's own runtime is inserted verbatim.
//!
//! It knows templates and environment files, never k6's results: nothing here reads what k6
//! wrote, and nothing above `render` in the layering is imported (ARCHITECTURE.md).

mod error;
pub mod include;
pub mod mix;
pub mod pressure;
pub mod production;
pub mod shapes;
pub mod traces;

pub use error::RenderError;
pub use mix::{Bursts, Mix, MixEntry};
pub use pressure::Pressure;
pub use production::{CacheState, Production};
pub use shapes::Saturation;
pub use traces::TracesConfig;

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::{AutoEscape, Environment as Jinja, UndefinedBehavior, Value};
use serde::{Deserialize, Serialize};

/// k6gate's JS runtime (stage tracker, traced http, timers), inserted into every script.
pub const RUNTIME: &str = include_str!("runtime.js");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Executor {
    RampingVus,
    RampingArrivalRate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stages {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_up: Option<String>,
    pub ramp_up: String,
    pub sustained: String,
    pub ramp_down: String,
}

/// One environment's load profile and facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub base_url: String,
    pub executor: Executor,
    /// VUs at the plateau (ramping-vus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vus: Option<u32>,
    /// Iterations per second at the plateau (ramping-arrival-rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_allocated_vus: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_vus: Option<u32>,
    pub stages: Stages,
    #[serde(default)]
    pub think_time_s: f64,
    /// What makes the run representative: data size, cache state, connections.
    #[serde(default)]
    pub facts: BTreeMap<String, serde_json::Value>,
    /// The monitoring stack that watches this environment during a load test (the one
    /// `k6gate stack generate` writes): `run` and `k6gate preflight` check it before k6 starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<Monitoring>,
    /// What production looks like (`production.rs`): what the adequacy check compares the
    /// run with. Without it, the verdict says the run's adequacy is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production: Option<Production>,
    /// The live guard beside k6 (`src/guard/live.rs`): needs `monitoring`. With a VU
    /// executor the script gets an `externally-controlled` scenario whose VUs the guard drives
    /// along the stages (and lowers, pauses, stops); see [`guard_ramp`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub live_guard: bool,
    /// The traffic mix (`mix.rs`): scenarios with weights/rates and bursts, read by the
    /// `mix` template and written by `k6gate profile from-prometheus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mix: Option<Mix>,
    /// The saturation step load (`shapes.rs`), read by the `saturation` template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturation: Option<Saturation>,
    /// The trace backend (`traces.rs`): with it, `run` reads the run's traces after k6 and
    /// judges the per-component breakdown with the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traces: Option<TracesConfig>,
}

/// Where an environment's load-test monitoring answers. Every part is required: preflight
/// checks them all, and a part it cannot reach refuses the test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Monitoring {
    /// Prometheus's (or Mimir's query) base URL.
    pub prometheus: String,
    /// Every Alertmanager of the cluster Prometheus alerts to.
    pub alertmanagers: Vec<String>,
    pub grafana: String,
    /// The target's scrape job in that Prometheus (`job` label of its `/metrics`).
    pub target_job: String,
    /// `k6gate stack proxy` in front of `prometheus`, when one runs: the live guard's and
    /// teardown's reads of the target go through it (cached, coalesced, stale answers when
    /// Prometheus fails), while the guard times Prometheus' own query latency directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// The share of successful requests whose per-request data is kept during load (failed
    /// ones are all kept): the archived JSON output and the `traceparent` sampled flag.
    #[serde(default = "default_keep_share")]
    pub keep_share: crate::samples::KeepShare,
}

fn default_keep_share() -> crate::samples::KeepShare {
    crate::samples::KeepShare::DEFAULT
}

/// The run metadata written into `options.tags`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunInfo {
    pub run_id: String,
    pub git_commit: String,
    pub deployment_version: String,
    pub test_date: String,
}

/// A stage of the plan, relative to the scenario start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanStage {
    pub name: String,
    pub end_ms: u64,
}

#[derive(Debug, Clone)]
pub struct Rendered {
    pub script: String,
    pub environment: Environment,
    pub plan: Vec<PlanStage>,
}

pub struct RenderRequest<'a> {
    pub test: &'a str,
    pub environment: &'a str,
    pub templates_dir: &'a Path,
    pub environments_dir: &'a Path,
    /// `--set key=value`, applied after the variables.
    pub sets: &'a [String],
    /// `K6GATE_*` variables (the CLI passes its environment snapshot; tests pass their own).
    pub vars: &'a BTreeMap<String, String>,
    pub run: RunInfo,
    /// Which tags may become labels of k6's live remote-write series (the cardinality
    /// policy's answer); `None`: every tag. A run-level tag it refuses is not in
    /// `options.tags`: the runtime puts it in every sample's metadata, which k6's JSON output
    /// keeps (ingest reads it there) and its remote write drops. A system tag it refuses is
    /// left out of `systemTags`, for every output.
    pub live_labels: Option<&'a dyn Fn(&str) -> bool>,
}

/// Parses a k6/Go duration ("30s", "2m", "1m30s", "500ms", "1h") into milliseconds.
pub fn duration_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (num, tail) = rest.split_at(num_end);
        let value: f64 = num.parse().ok()?;
        let unit_end = tail.find(|c: char| c.is_ascii_digit()).unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_end);
        let factor = match unit {
            "ms" => 1.0,
            "s" => 1_000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            _ => return None,
        };
        total += value * factor;
        rest = next;
    }
    Some(total.round() as u64)
}

fn env_error(path: &Path, message: impl Into<String>) -> RenderError {
    RenderError::input(path, None, message)
}

/// Every scalar key path of a YAML mapping (`stages.sustained`), to match overrides against.
fn key_paths(v: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    if let Some(map) = v.as_object() {
        for (k, child) in map {
            let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            if child.is_object() {
                key_paths(child, &path, out);
            } else {
                out.push(path);
            }
        }
    }
}

/// Keys that may be overridden even when the file does not set them.
const OPTIONAL_KEYS: [&str; 6] = ["vus", "rate", "pre_allocated_vus", "max_vus", "stages.warm_up", "live_guard"];

fn set_path(v: &mut serde_json::Value, path: &str, value: serde_json::Value) -> bool {
    let mut cur = v;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let Some(map) = cur.as_object_mut() else { return false };
        if parts.peek().is_none() {
            map.insert(part.to_string(), value);
            return true;
        }
        cur = map.entry(part.to_string()).or_insert_with(|| serde_json::json!({}));
    }
    false
}

/// A YAML scalar: `10` is a number, `30s` a string, `true` a boolean.
fn scalar(s: &str) -> serde_json::Value {
    yaml_serde::from_str::<serde_json::Value>(s)
        .ok()
        .filter(|v| !v.is_object() && !v.is_array() && !v.is_null())
        .unwrap_or_else(|| serde_json::Value::String(s.to_string()))
}

/// Loads `environments/<name>.yaml` and applies the overrides.
pub fn load_environment(
    dir: &Path,
    name: &str,
    vars: &BTreeMap<String, String>,
    sets: &[String],
) -> Result<(Environment, Vec<String>), RenderError> {
    let path = dir.join(format!("{name}.yaml"));
    let text = std::fs::read_to_string(&path).map_err(|e| {
        let known = list_names(dir, ".yaml");
        env_error(&path, format!("cannot read environment {name:?}: {e} (known: {})", known.join(", ")))
    })?;
    let mut raw: serde_json::Value = yaml_serde::from_str(&text).map_err(|e| {
        let line = e.location().map(|l| l.line() as u64);
        RenderError::input(&path, line, format!("invalid YAML: {e}"))
    })?;
    // `mix: {include: traffic/<env>.yaml}` first, so that overrides apply to what it brought.
    let included = include::resolve_mix(dir, &path, &text, &mut raw)?;
    // A `mix` field's error belongs to the file that gave it.
    let locate = |field: &str| {
        included
            .as_ref()
            .and_then(|inc| inc.locate(field))
            .unwrap_or_else(|| (path.clone(), production::line_of(&text, field)))
    };
    let mut paths = Vec::new();
    key_paths(&raw, "", &mut paths);
    paths.extend(OPTIONAL_KEYS.iter().map(|s| s.to_string()));
    let mut applied = Vec::new();
    for p in &paths {
        let var = format!("K6GATE_{}", p.to_uppercase().replace('.', "_"));
        if let Some(v) = vars.get(&var) {
            set_path(&mut raw, p, scalar(v));
            applied.push(format!("{var}={v}"));
        }
    }
    for s in sets {
        let (k, v) = s.split_once('=').ok_or_else(|| RenderError::SetSyntax(s.clone()))?;
        let k = k.trim();
        if !paths.iter().any(|p| p == k) && !k.starts_with("facts.") {
            return Err(RenderError::UnknownKey { key: k.to_string(), path: path.clone(), keys: paths });
        }
        set_path(&mut raw, k, scalar(v));
        applied.push(format!("--set {k}={v}"));
    }
    let env: Environment = serde_path_to_error::deserialize(raw).map_err(|e| {
        let field = e.path().to_string();
        // A field of the strict blocks is located to its line, in the included file if it came from one.
        let (file, line) = if ["production", "mix", "saturation", "traces"].iter().any(|s| field.starts_with(s)) {
            locate(&field)
        } else {
            (path.clone(), None)
        };
        RenderError::input(file, line, format!("{field}: {}", e.into_inner()))
    })?;
    validate(&env).map_err(|m| env_error(&path, m))?;
    if let Some(p) = &env.production {
        p.validate().map_err(|(field, m)| {
            let field = format!("production.{field}");
            RenderError::input(&path, production::line_of(&text, &field), format!("{field}: {m}"))
        })?;
    }
    if let Some(m) = &env.mix {
        m.resolve().map_err(|(field, m)| {
            let field = format!("mix.{field}");
            let (file, line) = locate(&field);
            RenderError::input(file, line, format!("{field}: {m}"))
        })?;
    }
    if let Some(t) = &env.traces {
        t.validate().map_err(|(field, m)| {
            let field = format!("traces.{field}");
            RenderError::input(&path, production::line_of(&text, &field), format!("{field}: {m}"))
        })?;
    }
    if let Some(s) = &env.saturation {
        s.validate().map_err(|(field, m)| {
            let field = format!("saturation.{field}");
            RenderError::input(&path, production::line_of(&text, &field), format!("{field}: {m}"))
        })?;
    }
    Ok((env, applied))
}

fn validate(env: &Environment) -> Result<(), String> {
    if let Some(m) = &env.monitoring {
        let urls = std::iter::once(("prometheus", &m.prometheus))
            .chain(m.alertmanagers.iter().map(|u| ("alertmanagers", u)))
            .chain(std::iter::once(("grafana", &m.grafana)))
            .chain(m.proxy.iter().map(|u| ("proxy", u)));
        for (key, url) in urls {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("monitoring.{key}: {url:?} is not an http:// or https:// URL"));
            }
        }
        if m.alertmanagers.is_empty() {
            return Err("monitoring.alertmanagers: list at least one Alertmanager".into());
        }
        if m.target_job.trim().is_empty() || m.target_job.contains(['"', '\\', '\n']) {
            return Err(format!("monitoring.target_job: {:?} is not a scrape job name", m.target_job));
        }
    }
    if env.live_guard && env.monitoring.is_none() {
        return Err(
            "live_guard: the live guard reads the target through monitoring.prometheus: declare monitoring".into()
        );
    }
    for (k, d) in
        [("ramp_up", &env.stages.ramp_up), ("sustained", &env.stages.sustained), ("ramp_down", &env.stages.ramp_down)]
            .into_iter()
            .chain(env.stages.warm_up.as_ref().map(|w| ("warm_up", w)))
    {
        duration_ms(d).ok_or_else(|| format!("stages.{k}: {d:?} is not a duration like 30s, 2m or 1m30s"))?;
    }
    if duration_ms(&env.stages.sustained) == Some(0) {
        return Err("stages.sustained: must be longer than 0".into());
    }
    match env.executor {
        Executor::RampingVus if env.vus.unwrap_or(0) == 0 => Err("vus: ramping-vus needs vus >= 1".into()),
        Executor::RampingArrivalRate if env.rate.unwrap_or(0) == 0 => {
            Err("rate: ramping-arrival-rate needs rate >= 1 (iterations per second)".into())
        }
        _ => Ok(()),
    }
}

/// The k6 scenario and the phase plan for an environment.
pub fn scenario(env: &Environment) -> (serde_json::Value, Vec<PlanStage>) {
    let peak = match env.executor {
        Executor::RampingVus => env.vus.unwrap_or(1),
        Executor::RampingArrivalRate => env.rate.unwrap_or(1),
    };
    let warm_target = (peak / 5).max(1);
    let mut stages = Vec::new();
    let mut plan = Vec::new();
    let mut t = 0u64;
    let mut push = |name: &str, dur: &str, target: u32| {
        t += duration_ms(dur).unwrap_or(0);
        stages.push(serde_json::json!({ "duration": dur, "target": target }));
        plan.push(PlanStage { name: name.to_string(), end_ms: t });
    };
    if let Some(w) = &env.stages.warm_up {
        push("warm-up", w, warm_target);
    }
    push("ramp-up", &env.stages.ramp_up, peak);
    push("sustained", &env.stages.sustained, peak);
    push("ramp-down", &env.stages.ramp_down, 0);
    let scenario = match env.executor {
        // The guard drives the VUs along the same stages through k6's REST API: only this
        // executor can be scaled or paused live (k6 1.1). It starts at one VU.
        Executor::RampingVus if env.live_guard => serde_json::json!({
            "executor": "externally-controlled", "vus": 1, "maxVUs": peak, "duration": format!("{t}ms"),
        }),
        Executor::RampingVus => serde_json::json!({
            "executor": "ramping-vus", "startVUs": 0, "stages": stages, "gracefulRampDown": "5s", "gracefulStop": "10s",
        }),
        Executor::RampingArrivalRate => serde_json::json!({
            "executor": "ramping-arrival-rate", "startRate": 0, "timeUnit": "1s", "stages": stages,
            "preAllocatedVUs": env.pre_allocated_vus.unwrap_or(peak),
            "maxVUs": env.max_vus.unwrap_or(peak.saturating_mul(4)),
            "gracefulStop": "10s",
        }),
    };
    (scenario, plan)
}

/// One point of the VU plan the live guard drives: `target` VUs at `at_ms` after the start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RampPoint {
    pub at_ms: u64,
    pub target: u32,
}

/// The VUs the live guard drives an `externally-controlled` scenario along: the same stages
/// `ramping-vus` would run (from 0, linear between the points). `None` when the scenario is
/// not the guard's to scale (no `live_guard`, or an arrival-rate executor: the guard can only
/// stop it).
pub fn guard_ramp(env: &Environment) -> Option<Vec<RampPoint>> {
    if !(env.live_guard && env.executor == Executor::RampingVus) {
        return None;
    }
    let peak = env.vus.unwrap_or(1);
    let mut points = vec![RampPoint { at_ms: 0, target: 0 }];
    let mut t = 0u64;
    let mut push = |dur: &str, target: u32| {
        t += duration_ms(dur).unwrap_or(0);
        points.push(RampPoint { at_ms: t, target });
    };
    if let Some(w) = &env.stages.warm_up {
        push(w, (peak / 5).max(1));
    }
    push(&env.stages.ramp_up, peak);
    push(&env.stages.sustained, peak);
    push(&env.stages.ramp_down, 0);
    Some(points)
}

fn list_names(dir: &Path, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(suffix)).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Writes every value as a JS literal: JSON, with the characters that could end a
/// `<script>` or a JS line escaped. Values marked safe (k6gate's own runtime) go verbatim.
fn js_literal(out: &mut minijinja::Output, _state: &minijinja::State, value: &Value) -> Result<(), minijinja::Error> {
    if value.is_safe() {
        return out.write_str(value.as_str().unwrap_or_default()).map_err(minijinja::Error::from);
    }
    let json = serde_json::to_string(value).map_err(|e| {
        minijinja::Error::new(minijinja::ErrorKind::BadSerialization, "cannot write as a JS literal").with_source(e)
    })?;
    let mut escaped = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => escaped.push_str("\\u003c"),
            '>' => escaped.push_str("\\u003e"),
            '&' => escaped.push_str("\\u0026"),
            '\'' => escaped.push_str("\\u0027"),
            '\u{2028}' => escaped.push_str("\\u2028"),
            '\u{2029}' => escaped.push_str("\\u2029"),
            c => escaped.push(c),
        }
    }
    out.write_str(&escaped).map_err(minijinja::Error::from)
}

/// The load model as tags (k6 tag values are strings): `load_model` is `open` for an
/// arrival-rate executor, `closed` for a VU executor, and an open model's `offered_rate` is its
/// plateau in iterations per second. The summary reads them to tell a saturated load generator.
pub fn load_model_tags(env: &Environment) -> Vec<(String, serde_json::Value)> {
    match env.executor {
        Executor::RampingVus => vec![("load_model".into(), "closed".into())],
        Executor::RampingArrivalRate => {
            let mut tags = vec![("load_model".to_string(), serde_json::Value::from("open"))];
            if let Some(rate) = env.rate {
                tags.push(("offered_rate".into(), rate.to_string().into()));
            }
            tags
        }
    }
}

/// Renders `k6-templates/<test>.js.j2` for an environment.
pub fn render(req: &RenderRequest<'_>) -> Result<Rendered, RenderError> {
    let template_path = req.templates_dir.join(format!("{}.js.j2", req.test));
    let source = std::fs::read_to_string(&template_path).map_err(|e| {
        let known = list_names(req.templates_dir, ".js.j2");
        RenderError::input(
            &template_path,
            None,
            format!("no template for test {:?}: {e} (known: {})", req.test, known.join(", ")),
        )
    })?;
    let (env, _) = load_environment(req.environments_dir, req.environment, req.vars, req.sets)?;
    let (scenarios, plan) = match shapes::scenarios(req.test, &env) {
        Ok(Some(shape)) => shape,
        Ok(None) => {
            let (scenario, plan) = scenario(&env);
            (serde_json::json!({ "main": scenario }), plan)
        }
        Err(m) => {
            let env_path = req.environments_dir.join(format!("{}.yaml", req.environment));
            return Err(RenderError::input(&env_path, None, m));
        }
    };
    // Run metadata lives here, never in `--tag` (which would replace these).
    let mut tags = serde_json::json!({
        "test_name": req.test,
        "environment": req.environment,
        "git_commit": req.run.git_commit,
        "deployment_version": req.run.deployment_version,
        "test_date": req.run.test_date,
        "testid": req.run.run_id,
    });
    if let Some(map) = tags.as_object_mut() {
        map.extend(shapes::load_model_tags(req.test, &env));
    }
    let mut system_tags = vec![
        "proto",
        "subproto",
        "status",
        "method",
        "name",
        "group",
        "check",
        "error",
        "error_code",
        "tls_version",
        "scenario",
        "service",
        "expected_response",
    ];
    let mut metadata = serde_json::Map::new();
    if let (Some(allowed), Some(map)) = (req.live_labels, tags.as_object_mut()) {
        let refused: Vec<String> = map.keys().filter(|k| !allowed(k)).cloned().collect();
        for k in refused {
            if let Some(v) = map.remove(&k) {
                metadata.insert(k, v);
            }
        }
        system_tags.retain(|t| allowed(t));
    }
    let options = serde_json::json!({
        "scenarios": scenarios,
        "tags": tags,
        "summaryTrendStats": ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"],
        // k6's default system tags minus `url` (one label value per URL would explode the
        // series count in Prometheus; requests are grouped by their `name` tag instead).
        "systemTags": system_tags,
    });
    let mut jinja = Jinja::new();
    jinja.set_undefined_behavior(UndefinedBehavior::Strict);
    jinja.set_auto_escape_callback(|_| AutoEscape::None);
    jinja.set_formatter(js_literal);
    let name = template_path.display().to_string();
    jinja.add_template(&name, &source).map_err(|e| template_error(&template_path, &e))?;
    let tmpl = jinja.get_template(&name).map_err(|e| template_error(&template_path, &e))?;
    let ctx = minijinja::context! {
        test => req.test,
        environment => req.environment,
        env => Value::from_serialize(&env),
        run => Value::from_serialize(&req.run),
        options => Value::from_serialize(&options),
        plan => Value::from_serialize(&plan),
        runtime => Value::from_safe_string(RUNTIME.to_string()),
        // Where the templates' data fixtures are (`SharedArray` opens them by absolute path).
        fixtures => std::path::absolute(req.templates_dir.join("fixtures")).unwrap_or_else(|_| req.templates_dir.join("fixtures")).display().to_string(),
    };
    let mut script = tmpl.render(ctx).map_err(|e| template_error(&template_path, &e))?;
    if let Some(m) = &env.monitoring {
        // Read by the runtime's `k6gateTraced` (the `traceparent` sampled flag): the same
        // share and rule as the archived output's sampling (`ingest::sample`).
        script.push_str(&format!("\nconst K6GATE_KEEP_SHARE = {};\n", m.keep_share.get()));
    }
    if !metadata.is_empty() {
        // Read by the runtime's `tagStage()` once the module has run; written like every value.
        let mut out = String::new();
        let mut jinja = Jinja::new();
        jinja.set_formatter(js_literal);
        jinja
            .add_template("metadata", "\nconst K6GATE_RUN_METADATA = {{ m }};\n")
            .and_then(|()| jinja.get_template("metadata"))
            .and_then(|t| t.render(minijinja::context! { m => Value::from_serialize(&metadata) }))
            .map(|text| out.push_str(&text))
            .map_err(|e| template_error(&template_path, &e))?;
        script.push_str(&out);
    }
    Ok(Rendered { script, environment: env, plan })
}

fn template_error(path: &Path, e: &minijinja::Error) -> RenderError {
    let line = e.line().map(|l| l as u64);
    let mut msg = e.to_string();
    if let Some(d) = e.detail() {
        if !msg.contains(d) {
            msg = format!("{msg}: {d}");
        }
    }
    RenderError::input(path, line, msg)
}
