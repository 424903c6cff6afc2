//! The alert and recording rule files: Grafana alert provisioning and the Prometheus rule group with
//! its promtool tests, each with the header that says how to load it. The rules themselves live
//! once in `grafana::rules`; this module only writes them out.

use super::ids::{FOLDER, PROMETHEUS_UID};
use super::serialize::to_yaml;
use crate::grafana::rules;

/// The rule files: path relative to the output directory, and content.
pub(super) fn rule_files() -> Vec<(&'static str, String)> {
    vec![
        (
            "provisioning/alerting/k6gate-alerts.yaml",
            to_yaml(
                &rules::grafana_alert_provisioning(PROMETHEUS_UID, FOLDER),
                &["Same alerts as prometheus/k6gate-rules.yml (both from src/grafana/rules.rs); load one, not both."],
            ),
        ),
        (
            "prometheus/k6gate-rules.yml",
            to_yaml(
                &rules::prometheus_rule_file(),
                &["Load into Prometheus (rule_files) or into the Mimir ruler as one group (e.g. namespace k6gate)."],
            ),
        ),
        (
            "prometheus/k6gate-rules.test.yml",
            to_yaml(
                &rules::promtool_tests("k6gate-rules.yml"),
                &[
                    "promtool test rules prometheus/k6gate-rules.test.yml",
                    "",
                    "k6 writes http_req_duration as a native histogram, which promtool 2.42 cannot write in",
                    "input_series ({{schema:..}} is a parse error there). So the P95 alert reads the recorded",
                    "k6gate:http_req_duration_seconds:p95_by_test and its tests feed that series directly; the",
                    "P95 recording rule is checked by promtool check rules only. The error-ratio and no-data",
                    "tests start from raw k6 series and so cover their recording rules, and check that the",
                    "Grafana query (recording rules inlined) gives the same value. The storage alert's tests",
                    "publish the stats once a day, as `history stats --publish` in a nightly job does.",
                ],
            ),
        ),
    ]
}
