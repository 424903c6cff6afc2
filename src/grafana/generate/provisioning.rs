//! Grafana provisioning: the data sources (Prometheus or Mimir, Tempo) and the dashboard provider.
//! Reads only [`GenerateOptions`]; never names a dashboard panel.

use serde_json::{Value, json};

use super::ids::{FOLDER, PROMETHEUS_UID, TEMPO_UID};
use super::options::{GenerateOptions, MetricsBackend};
use super::serialize::set;

pub(super) fn datasources(opts: &GenerateOptions) -> Value {
    let mut metrics = json!({
        "uid": PROMETHEUS_UID,
        "type": "prometheus",
        "access": "proxy",
        "url": opts.metrics_url(),
        "editable": false,
        "isDefault": false,
        "jsonData": {
            "httpMethod": "POST",
            // k6 pushes every 5 s; lets $__rate_interval follow a live test closely.
            "timeInterval": "5s",
        },
    });
    match opts.backend {
        MetricsBackend::Prometheus => {
            set(&mut metrics, &["name"], json!("k6gate Prometheus"));
            set(&mut metrics, &["jsonData", "prometheusType"], json!("Prometheus"));
        }
        MetricsBackend::Mimir => {
            set(&mut metrics, &["name"], json!("k6gate Mimir"));
            set(&mut metrics, &["jsonData", "prometheusType"], json!("Mimir"));
            set(&mut metrics, &["jsonData", "httpHeaderName1"], json!("X-Scope-OrgID"));
            set(&mut metrics, &["secureJsonData"], json!({ "httpHeaderValue1": opts.mimir_tenant }));
        }
    }
    let mut list = vec![metrics];
    if let Some(url) = &opts.tempo_url {
        list.push(json!({
            "name": "k6gate Tempo",
            "uid": TEMPO_UID,
            "type": "tempo",
            "access": "proxy",
            "url": url,
            "editable": false,
            "isDefault": false,
            "jsonData": {
                "nodeGraph": { "enabled": true },
                "serviceMap": { "datasourceUid": PROMETHEUS_UID },
                "tracesToMetrics": {
                    "datasourceUid": PROMETHEUS_UID,
                    "spanStartTimeShift": "-1h",
                    "spanEndTimeShift": "1h",
                    "tags": [{ "key": "service.name", "value": "service" }],
                    // `$$` because Grafana expands environment variables in provisioning files.
                    "queries": [
                        {
                            "name": "Request rate",
                            "query": "sum(rate(traces_spanmetrics_calls_total{$$__tags}[5m]))",
                        },
                        {
                            "name": "P95 latency",
                            "query": "histogram_quantile(0.95, sum by (le) (rate(traces_spanmetrics_latency_bucket{$$__tags}[5m])))",
                        },
                    ],
                },
            },
        }));
    }
    json!({ "apiVersion": 1, "datasources": list })
}

pub(super) fn dashboard_provider(opts: &GenerateOptions) -> Value {
    json!({
        "apiVersion": 1,
        "providers": [{
            "name": "k6gate",
            "orgId": 1,
            "folder": FOLDER,
            "folderUid": FOLDER,
            "type": "file",
            "disableDeletion": false,
            "allowUiUpdates": false,
            "updateIntervalSeconds": 30,
            "options": { "path": opts.dashboards_path, "foldersFromFilesStructure": false },
        }],
    })
}
