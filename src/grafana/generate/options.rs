//! What the generated files point at. The only input of the generator: the same options always
//! give the same files.

/// Where metrics are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricsBackend {
    #[default]
    Prometheus,
    Mimir,
}

/// What the generated files point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    pub backend: MetricsBackend,
    /// Query URL of Prometheus or Mimir; `None` for the backend's default
    /// (`http://prometheus:9090`, `http://mimir:8080/prometheus`).
    pub metrics_url: Option<String>,
    /// Mimir tenant (`X-Scope-OrgID`); Mimir only.
    pub mimir_tenant: String,
    /// Tempo URL; `None` provisions no Tempo data source.
    pub tempo_url: Option<String>,
    /// Where Grafana finds the dashboards (the `dashboards/` output directory, mounted).
    pub dashboards_path: String,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            backend: MetricsBackend::Prometheus,
            metrics_url: None,
            mimir_tenant: "k6gate".to_owned(),
            tempo_url: Some("http://tempo:3200".to_owned()),
            dashboards_path: "/var/lib/grafana/dashboards/k6gate".to_owned(),
        }
    }
}

impl GenerateOptions {
    pub(super) fn metrics_url(&self) -> &str {
        match (&self.metrics_url, self.backend) {
            (Some(url), _) => url,
            (None, MetricsBackend::Prometheus) => "http://prometheus:9090",
            (None, MetricsBackend::Mimir) => "http://mimir:8080/prometheus",
        }
    }
}
