//! The results-over-deployments dashboard (`k6gate-deployments`): the `k6gate_run_*` gauges
//! published after each run, per run and per deployed version.

use serde_json::{Value, json};

use super::dashboard::{Dashboard, annotations, dashboard, query_var, stage_var, standard_vars};
use super::ids::{DEPLOYMENTS_UID, LIVE_UID, deployments_panels};
use super::panels::{
    Panel, green, grid, instant, prometheus, range, row, stat, table, thresholds, timeseries, verdict_colors,
    verdict_mappings, worst_verdict,
};
use super::serialize::set;

/// Runs of the selected test and environment; versions are not filtered (they are compared).
const RUNS: &str = "test_name=~\"$test\", environment=~\"$environment\", testid=~\"$run\"";
/// The same, narrowed to the selected stage and request group.
const RESULTS: &str =
    "test_name=~\"$test\", environment=~\"$environment\", testid=~\"$run\", test_stage=\"$stage\", group=\"$group\"";
/// Versions `$version` is compared with: `$baseline` (default all), without `$version`.
const COMPARED: &str = "deployment_version=~\"$baseline\", deployment_version!=\"$version\"";

pub(super) fn deployments_dashboard() -> Value {
    let per_run = |metric: &str| format!("last_over_time({metric}{{{RESULTS}}}[$__range])");
    let of_version =
        |metric: &str| format!("avg(last_over_time({metric}{{{RESULTS}, deployment_version=\"$version\"}}[$__range]))");
    let of_compared = |metric: &str| format!("avg(last_over_time({metric}{{{RESULTS}, {COMPARED}}}[$__range]))");
    let p95 = "k6gate_run_latency_p95_seconds";
    let change_thresholds = thresholds(&[("green", None), ("orange", Some(0.05)), ("red", Some(0.1))]);
    let by_version = |metric: &str| format!("max by (deployment_version) ({metric}{{{RESULTS}}})");

    let mut verdict_stat = stat(
        Panel {
            id: 5,
            title: "Verdicts of $version",
            description: "k6gate's verdicts for the runs of $version in the time range: each run was compared \
                          with its baseline, so this is the statistical answer.",
            grid: grid(14, 1, 5, 5),
            unit: "none",
            targets: vec![instant(
                "A",
                &format!(
                    "count by (verdict) (last_over_time(k6gate_run_info{{{RUNS}, deployment_version=\"$version\"}}[$__range]))"
                ),
                "{{verdict}}",
            )],
        },
        green(),
        vec![],
        "value_and_name",
    );
    set(&mut verdict_stat, &["fieldConfig", "overrides"], json!(verdict_colors()));

    let mut compared_series = timeseries(
        Panel {
            id: 7,
            title: "P95 per run: $version and the versions it is compared with",
            description: "One point per run (stage $stage, group $group). The annotations mark runs, baselines \
                          and verdicts.",
            grid: grid(0, 6, 24, 8),
            unit: "s",
            targets: vec![
                range(
                    "A",
                    &format!("max by (deployment_version) ({p95}{{{RESULTS}, deployment_version=\"$version\"}})"),
                    "{{deployment_version}}",
                ),
                range(
                    "B",
                    &format!("max by (deployment_version) ({p95}{{{RESULTS}, {COMPARED}}})"),
                    "{{deployment_version}}",
                ),
            ],
        },
        vec![],
        true,
    );
    let thick = json!([{
        "matcher": { "id": "byFrameRefID", "options": "A" },
        "properties": [{ "id": "custom.lineWidth", "value": 3 }, { "id": "custom.pointSize", "value": 9 }],
    }]);
    set(&mut compared_series, &["fieldConfig", "overrides"], thick);

    let mut runs_table = table(
        Panel {
            id: 10,
            title: "Runs",
            description: "One row per run: verdict and results (stage $stage, group $group). Click a run id for the \
                          live dashboard.",
            grid: grid(0, 23, 24, 10),
            unit: "",
            targets: vec![
                instant(
                    "A",
                    &format!(
                        "max by (testid, deployment_version, git_commit, verdict) (last_over_time(k6gate_run_info{{{RUNS}}}[$__range]))"
                    ),
                    "",
                ),
                instant(
                    "B",
                    &format!(
                        "max by (testid, deployment_version, git_commit) ({})",
                        per_run("k6gate_run_latency_p95_seconds")
                    ),
                    "",
                ),
                instant(
                    "C",
                    &format!("max by (testid, deployment_version, git_commit) ({})", per_run("k6gate_run_error_ratio")),
                    "",
                ),
                instant(
                    "D",
                    &format!(
                        "max by (testid, deployment_version, git_commit) ({})",
                        per_run("k6gate_run_requests_per_second")
                    ),
                    "",
                ),
            ],
        },
        &[("B", "P95", "s"), ("C", "Error ratio", "percentunit"), ("D", "Requests/s", "reqps")],
        &["Value #A"],
        "testid",
    );
    if let Some(o) = runs_table.pointer_mut("/fieldConfig/overrides").and_then(Value::as_array_mut) {
        o.push(json!({
            "matcher": { "id": "byName", "options": "verdict" },
            "properties": [
                { "id": "custom.cellOptions", "value": { "type": "color-text" } },
                { "id": "mappings", "value": [{ "type": "value", "options": {
                    "fail": { "color": "red", "index": 0 },
                    "none": { "color": "text", "index": 1 },
                    "pass": { "color": "green", "index": 2 },
                    "warn": { "color": "orange", "index": 3 },
                } }] },
            ],
        }));
        o.push(json!({
            "matcher": { "id": "byName", "options": "testid" },
            "properties": [{ "id": "links", "value": [{
                "title": "Live dashboard of this run",
                "url": format!("/d/{LIVE_UID}?var-run=${{__value.raw}}&${{__url_time_range}}"),
            }] }],
        }));
    }

    let panels = vec![
        row(1, "Did latency change after version $version?", 0),
        stat(
            Panel {
                id: 2,
                title: "P95 of $version",
                description: "Mean over the runs of $version in the time range of each run's P95 (stage $stage, \
                              group $group).",
                grid: grid(0, 1, 5, 5),
                unit: "s",
                targets: vec![instant("A", &of_version(p95), "$version")],
            },
            green(),
            vec![],
            "auto",
        ),
        stat(
            Panel {
                id: 3,
                title: "P95 of compared versions",
                description: "The same over the runs of the other versions selected in 'Compared with' (default: \
                              every other version in the time range).",
                grid: grid(5, 1, 5, 5),
                unit: "s",
                targets: vec![instant("A", &of_compared(p95), "compared")],
            },
            green(),
            vec![],
            "auto",
        ),
        stat(
            Panel {
                id: 4,
                title: "P95 change",
                description: "P95 of $version relative to the compared versions: above 0 is slower. Orange from +5 %, \
                              red from +10 %.",
                grid: grid(10, 1, 4, 5),
                unit: "percentunit",
                targets: vec![instant("A", &format!("{} / {} - 1", of_version(p95), of_compared(p95)), "change")],
            },
            change_thresholds,
            vec![],
            "auto",
        ),
        verdict_stat,
        stat(
            Panel {
                id: 6,
                title: "Worst verdict of $version",
                description: "The worst verdict among the runs of $version in the time range.",
                grid: grid(19, 1, 5, 5),
                unit: "none",
                targets: vec![instant(
                    "A",
                    &worst_verdict(&format!("{RUNS}, deployment_version=\"$version\"")),
                    "verdict",
                )],
            },
            green(),
            verdict_mappings(),
            "value",
        ),
        compared_series,
        row(8, "Results per version", 14),
        table(
            Panel {
                id: 9,
                title: "Versions",
                description: "Per version: number of runs and the mean of each run's results (stage $stage, group \
                              $group) in the time range.",
                grid: grid(0, 15, 24, 8),
                unit: "",
                targets: vec![
                    instant(
                        "A",
                        &format!(
                            "count by (deployment_version) (max by (deployment_version, testid) (last_over_time(k6gate_run_info{{{RUNS}}}[$__range])))"
                        ),
                        "",
                    ),
                    instant(
                        "B",
                        &format!("avg by (deployment_version) ({})", per_run("k6gate_run_latency_p50_seconds")),
                        "",
                    ),
                    instant(
                        "C",
                        &format!("avg by (deployment_version) ({})", per_run("k6gate_run_latency_p95_seconds")),
                        "",
                    ),
                    instant(
                        "D",
                        &format!("avg by (deployment_version) ({})", per_run("k6gate_run_latency_p99_seconds")),
                        "",
                    ),
                    instant("E", &format!("avg by (deployment_version) ({})", per_run("k6gate_run_error_ratio")), ""),
                    instant(
                        "F",
                        &format!("avg by (deployment_version) ({})", per_run("k6gate_run_requests_per_second")),
                        "",
                    ),
                ],
            },
            &[
                ("A", "Runs", "none"),
                ("B", "P50", "s"),
                ("C", "P95", "s"),
                ("D", "P99", "s"),
                ("E", "Error ratio", "percentunit"),
                ("F", "Requests/s", "reqps"),
            ],
            &[],
            "deployment_version",
        ),
        runs_table,
        timeseries(
            Panel {
                id: 11,
                title: "P95 latency by version",
                description: "Each run's P95 (stage $stage, group $group), one series per version.",
                grid: grid(0, 33, 12, 8),
                unit: "s",
                targets: vec![range("A", &by_version("k6gate_run_latency_p95_seconds"), "{{deployment_version}}")],
            },
            vec![],
            true,
        ),
        timeseries(
            Panel {
                id: 12,
                title: "Error ratio by version",
                description: "Each run's error ratio (stage $stage, group $group), one series per version.",
                grid: grid(12, 33, 12, 8),
                unit: "percentunit",
                targets: vec![range("A", &by_version("k6gate_run_error_ratio"), "{{deployment_version}}")],
            },
            vec![],
            true,
        ),
        timeseries(
            Panel {
                id: 13,
                title: "Requests/s by version",
                description: "Each run's request rate (stage $stage, group $group), one series per version.",
                grid: grid(0, 41, 12, 8),
                unit: "reqps",
                targets: vec![range("A", &by_version("k6gate_run_requests_per_second"), "{{deployment_version}}")],
            },
            vec![],
            true,
        ),
        timeseries(
            Panel {
                id: 14,
                title: "Stage durations by version",
                description: "How long each stage lasted, per version (steady-state is found by k6gate, so its \
                              length varies).",
                grid: grid(12, 41, 12, 8),
                unit: "s",
                targets: vec![range(
                    "A",
                    &format!("max by (deployment_version, test_stage) (k6gate_run_phase_duration_seconds{{{RUNS}}})"),
                    "{{deployment_version}} {{test_stage}}",
                )],
            },
            vec![],
            true,
        ),
        timeseries(
            Panel {
                id: deployments_panels::STORAGE,
                title: "Storage: bytes by tier, 30-day growth and budget",
                description: "What the history, the durable store, the run directories and the archive hold \
                              (k6gate_storage_bytes, all tests), the 30-day growth of all but the cache, and the \
                              policy's budget (retention.growth_budget_bytes_30d), from `k6gate history stats \
                              --publish` (one point per publish; publish daily). Over budget: \
                              runbooks/managing-k6-metrics-volume.md.",
                grid: grid(0, 49, 24, 8),
                unit: "bytes",
                targets: vec![
                    range("A", "sum by (store, tier) (k6gate_storage_bytes)", "{{tier}}"),
                    range("B", "sum by (store) (k6gate_storage_growth_30d_bytes{tier!=\"cache\"})", "30-day growth"),
                    range("C", "max by (store) (k6gate_storage_growth_budget_bytes)", "30-day budget"),
                ],
            },
            vec![],
            true,
        ),
    ];

    let verdict_annotation = json!({
        "datasource": prometheus(),
        "enable": true,
        "expr": format!("max by (deployment_version, testid, verdict) (k6gate_run_info{{{RUNS}}})"),
        "iconColor": "purple",
        "name": "k6gate verdicts",
        "step": "1m",
        "tagKeys": "verdict,deployment_version",
        "textFormat": "run {{testid}} of {{deployment_version}}",
        "titleFormat": "k6gate verdict: {{verdict}}",
        "useValueForTime": false,
    });
    let mut variables = standard_vars("k6gate_run_info", false, "Version X");
    variables.insert(
        3,
        query_var(
            "baseline",
            "Compared with",
            "k6gate_run_info",
            "test_name=~\"$test\", environment=~\"$environment\"",
            "deployment_version",
            true,
        ),
    );
    variables.push(stage_var());
    let mut group = query_var(
        "group",
        "Group",
        "k6gate_run_latency_p95_seconds",
        "test_name=~\"$test\", environment=~\"$environment\"",
        "group",
        false,
    );
    set(&mut group, &["current"], json!({ "selected": true, "text": "all", "value": "all" }));
    variables.push(group);

    dashboard(Dashboard {
        uid: DEPLOYMENTS_UID,
        title: "k6gate / Results over deployments",
        description: "k6gate's results per run and per deployed version (k6gate_run_* gauges), with run, \
                      baseline and verdict annotations. Set the time range to cover the deployments to compare.",
        refresh: "",
        annotations: annotations(vec![verdict_annotation]),
        variables,
        panels,
    })
}
