//! Grafana and Prometheus/Mimir as code: generated provisioning (data sources, dashboards,
//! alert rules), annotations for runs and baselines, and embeddable panel URLs.

pub mod annotate;
pub mod embed;
pub mod folders;
pub mod generate;
pub mod rules;
