//! The component dashboard (`k6gate-components`): where the time goes, run after run. Each
//! component's P95 and P99 self time over deployments and a latency heatmap per component,
//! from the native histograms `k6gate traces --publish` writes (`k6gate_component_latency_seconds`,
//! one sample per run, endpoint group and component; `src/prom/spans.rs`). Variables: test,
//! environment, version, run, component. Its panel ids are in [`super::components_panels`].

use serde_json::{Value, json};

use super::dashboard::{Dashboard, annotations, dashboard, query_var, standard_vars};
use super::ids::{COMPONENTS_UID, components_panels};
use super::panels::{Panel, grid, prometheus, range, timeseries};

const METRIC: &str = "k6gate_component_latency_seconds";
/// The dashboard's variables as a series filter.
const FILTER: &str = "test_name=~\"$test\", environment=~\"$environment\", deployment_version=~\"$version\", testid=~\"$run\", component=~\"$component\"";

fn quantile_panel(id: u32, q: &str, title: &'static str, description: &'static str, x: u32) -> Value {
    let expr = format!("histogram_quantile({q}, sum by (component) ({METRIC}{{{FILTER}}}))");
    let p = Panel {
        id,
        title,
        description,
        grid: grid(x, 0, 12, 9),
        unit: "s",
        targets: vec![range("A", &expr, "{{component}}")],
    };
    timeseries(p, vec![], true)
}

fn heatmap_panel() -> Value {
    let expr = format!("sum({METRIC}{{{FILTER}}})");
    json!({
        "id": components_panels::HEATMAP,
        "type": "heatmap",
        "title": "Self time of $component, run by run",
        "description": "The component's self times of each run (native histogram): time across, latency up, darker is more requests. Repeated per component.",
        "datasource": prometheus(),
        "gridPos": grid(0, 9, 12, 9),
        "repeat": "component",
        "repeatDirection": "h",
        "maxPerRow": 2,
        "options": {
            "calculate": false,
            "cellGap": 1,
            "color": { "mode": "scheme", "scheme": "Oranges", "steps": 64 },
            "yAxis": { "unit": "s" },
            "tooltip": { "show": true, "yHistogram": true },
        },
        "targets": [range("A", &expr, "{{component}}")],
    })
}

pub(super) fn components_dashboard() -> Value {
    use components_panels as p;
    let panels = vec![
        quantile_panel(
            p::P95,
            "0.95",
            "P95 self time per component, over deployments",
            "Each run's P95 of each component's self time on the critical path (one point per run). A step up after a deployment is a component regression (alert K6gateComponentRegression).",
            0,
        ),
        quantile_panel(
            p::P99,
            "0.99",
            "P99 self time per component, over deployments",
            "Each run's P99 of each component's self time on the critical path (one point per run).",
            12,
        ),
        heatmap_panel(),
    ];
    dashboard(Dashboard {
        uid: COMPONENTS_UID,
        title: "k6gate / Components",
        description: "Where the time goes: each component's self time from the runs' traces, over deployments.",
        refresh: "",
        annotations: annotations(vec![]),
        variables: {
            let mut v = standard_vars(METRIC, true, "Version");
            v.push(query_var(
                "component",
                "Component",
                METRIC,
                "test_name=~\"$test\", environment=~\"$environment\"",
                "component",
                true,
            ));
            v
        },
        panels,
    })
}
