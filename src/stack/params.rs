//! What a generated stack points at: ports, the webhook, intervals and the scrape targets.
//! Checked before anything is rendered, so a value can never break a file's syntax (no
//! whitespace, quotes or newlines reach a template).

/// The alert that always fires: its arrival at every Alertmanager shows the alerting path
/// works end to end (preflight looks for it by this name).
pub const WATCHDOG_ALERT: &str = "Watchdog";

/// A bad parameter: which one and why.
#[derive(Debug, thiserror::Error)]
#[error("stack generate: {param}: {message}")]
pub struct StackError {
    pub param: &'static str,
    pub message: String,
}

/// One scrape job of the stack's Prometheus (the target under test, say `shop=127.0.0.1:8080`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScrapeTarget {
    pub job: String,
    pub targets: Vec<String>,
}

impl std::str::FromStr for ScrapeTarget {
    type Err = String;

    /// `JOB=HOST:PORT[,HOST:PORT...]`.
    fn from_str(s: &str) -> Result<ScrapeTarget, String> {
        let (job, targets) = s.split_once('=').ok_or_else(|| format!("{s:?} is not JOB=HOST:PORT[,HOST:PORT]"))?;
        Ok(ScrapeTarget {
            job: job.trim().to_string(),
            targets: targets.split(',').map(|t| t.trim().to_string()).collect(),
        })
    }
}

/// Everything a generated stack depends on. [`StackParams::default`] is a stack on one host
/// with the usual ports.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StackParams {
    /// Address every component listens on (and is reached at).
    pub host: String,
    pub prometheus_port: u16,
    /// The two Alertmanagers' HTTP ports.
    pub alertmanager_ports: [u16; 2],
    /// Their cluster (gossip) ports.
    pub cluster_ports: [u16; 2],
    pub grafana_port: u16,
    /// Where the Alertmanagers send notifications. It is written into `alertmanager.yml`
    /// (Alertmanager 0.25 reads no URL from a file): keep the directory out of version control.
    pub webhook_url: String,
    pub scrape_interval: String,
    pub evaluation_interval: String,
    /// How often Prometheus resends a firing alert (`--rules.alert.resend-delay`): bounds how
    /// late an alert arrives after an Alertmanager outage.
    pub resend_delay: String,
    /// Out-of-order ingestion window (`storage.tsdb.out_of_order_time_window`).
    pub out_of_order_window: String,
    /// Alertmanager's `group_wait`: how long the first notification of a group waits.
    pub group_wait: String,
    pub scrape: Vec<ScrapeTarget>,
    /// Where Grafana finds the dashboards (the compose file mounts `grafana/dashboards` there).
    pub dashboards_path: String,
    /// `k6gate stack proxy`'s port: when set, Grafana's Prometheus datasource points at the
    /// proxy (cached, coalesced, stale answers while Prometheus is down) instead of Prometheus.
    pub proxy_port: Option<u16>,
    /// The share of traces without an error the OpenTelemetry Collector keeps (percent);
    /// traces with an error are all kept.
    pub trace_sample_percent: f64,
}

impl Default for StackParams {
    fn default() -> StackParams {
        StackParams {
            host: "127.0.0.1".into(),
            prometheus_port: 9090,
            alertmanager_ports: [9093, 9094],
            cluster_ports: [9194, 9195],
            grafana_port: 3000,
            webhook_url: "http://127.0.0.1:9099/k6gate-alerts".into(),
            scrape_interval: "5s".into(),
            evaluation_interval: "15s".into(),
            resend_delay: "1m".into(),
            out_of_order_window: "30d".into(),
            group_wait: "10s".into(),
            scrape: Vec::new(),
            dashboards_path: "/var/lib/grafana/dashboards/k6gate".into(),
            proxy_port: None,
            trace_sample_percent: 10.0,
        }
    }
}

fn bad(param: &'static str, message: impl Into<String>) -> StackError {
    StackError { param, message: message.into() }
}

/// A Prometheus duration: one or more `<number><unit>` with units ms, s, m, h, d, w, y.
fn duration(param: &'static str, s: &str) -> Result<(), StackError> {
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad(param, "empty duration"));
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let unit_len = rest[digits..].bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[digits..digits + unit_len];
        if digits == 0 || !["ms", "s", "m", "h", "d", "w", "y"].contains(&unit) {
            return Err(bad(param, format!("{s:?} is not a Prometheus duration like 15s, 1m or 30d")));
        }
        rest = &rest[digits + unit_len..];
    }
    Ok(())
}

/// Letters, digits and `.-_:/` only: safe in YAML, a shell word and a flag value.
fn plain(param: &'static str, s: &str) -> Result<(), StackError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-:/?=&%~+@".contains(&b)) {
        return Err(bad(param, format!("{s:?} must be non-empty, without spaces or quotes")));
    }
    Ok(())
}

impl StackParams {
    /// Every value checked; the first problem names its parameter.
    pub fn check(&self) -> Result<(), StackError> {
        plain("host", &self.host)?;
        if self.host.contains('/') {
            return Err(bad("host", format!("{:?} must be a host name or address", self.host)));
        }
        let mut ports = vec![
            ("prometheus port", self.prometheus_port),
            ("alertmanager port", self.alertmanager_ports[0]),
            ("alertmanager port", self.alertmanager_ports[1]),
            ("cluster port", self.cluster_ports[0]),
            ("cluster port", self.cluster_ports[1]),
            ("grafana port", self.grafana_port),
        ];
        ports.extend(self.proxy_port.map(|p| ("proxy port", p)));
        for (i, (name, p)) in ports.iter().enumerate() {
            if *p == 0 {
                return Err(bad("ports", format!("the {name} must not be 0")));
            }
            if let Some((other, _)) = ports.iter().take(i).find(|(_, q)| q == p) {
                return Err(bad("ports", format!("the {name} {p} is already the {other}")));
            }
        }
        plain("webhook-url", &self.webhook_url)?;
        if !(self.webhook_url.starts_with("http://") || self.webhook_url.starts_with("https://")) {
            return Err(bad("webhook-url", "must start with http:// or https://"));
        }
        duration("scrape-interval", &self.scrape_interval)?;
        duration("evaluation-interval", &self.evaluation_interval)?;
        duration("resend-delay", &self.resend_delay)?;
        duration("out-of-order-window", &self.out_of_order_window)?;
        duration("group-wait", &self.group_wait)?;
        plain("dashboards-path", &self.dashboards_path)?;
        if !(0.0..=100.0).contains(&self.trace_sample_percent) {
            return Err(bad(
                "trace-sample-percent",
                format!("{} is not a percentage (0 to 100)", self.trace_sample_percent),
            ));
        }
        for t in &self.scrape {
            let ok = t
                .job
                .bytes()
                .enumerate()
                .all(|(i, b)| b.is_ascii_alphabetic() || b == b'_' || (i > 0 && b.is_ascii_digit()));
            if t.job.is_empty() || !ok || ["prometheus", "alertmanager"].contains(&t.job.as_str()) {
                return Err(bad(
                    "scrape",
                    format!("job {:?}: letters, digits and _, not prometheus or alertmanager", t.job),
                ));
            }
            for target in &t.targets {
                plain("scrape", target)?;
                let port =
                    target.rsplit_once(':').and_then(|(h, p)| (!h.is_empty()).then(|| p.parse::<u16>().ok()).flatten());
                if port.is_none() || target.contains('/') {
                    return Err(bad("scrape", format!("job {}: {target:?} is not HOST:PORT", t.job)));
                }
            }
        }
        Ok(())
    }

    pub fn prometheus_url(&self) -> String {
        format!("http://{}:{}", self.host, self.prometheus_port)
    }

    pub fn alertmanager_urls(&self) -> [String; 2] {
        self.alertmanager_ports.map(|p| format!("http://{}:{p}", self.host))
    }

    pub fn grafana_url(&self) -> String {
        format!("http://{}:{}", self.host, self.grafana_port)
    }

    /// The proxy's URL, when the stack has one.
    pub fn proxy_url(&self) -> Option<String> {
        self.proxy_port.map(|p| format!("http://{}:{p}", self.host))
    }

    /// What Grafana's Prometheus datasource points at: the proxy when there is one.
    pub fn datasource_url(&self) -> String {
        self.proxy_url().unwrap_or_else(|| self.prometheus_url())
    }

    /// `k6gate stack proxy`'s flags, when the stack has a proxy.
    pub fn proxy_args(&self) -> Option<Vec<String>> {
        let port = self.proxy_port?;
        Some(vec![format!("--upstream={}", self.prometheus_url()), format!("--listen={}:{port}", self.host)])
    }

    /// Prometheus's flags, relative to the stack directory (its working directory).
    pub fn prometheus_args(&self) -> Vec<String> {
        vec![
            "--config.file=prometheus/prometheus.yml".into(),
            "--storage.tsdb.path=data/prometheus".into(),
            format!("--web.listen-address={}:{}", self.host, self.prometheus_port),
            format!("--web.external-url={}", self.prometheus_url()),
            "--web.enable-remote-write-receiver".into(),
            "--enable-feature=native-histograms".into(),
            "--web.enable-lifecycle".into(),
            format!("--rules.alert.resend-delay={}", self.resend_delay),
        ]
    }

    /// Alertmanager `i`'s flags (0 or 1): its own ports, the other one as its cluster peer.
    pub fn alertmanager_args(&self, i: usize) -> Vec<String> {
        let ([a1, a2], [c1, c2]) = (self.alertmanager_ports, self.cluster_ports);
        let (n, port, cluster, peer) = if i == 0 { (1, a1, c1, c2) } else { (2, a2, c2, c1) };
        vec![
            "--config.file=alertmanager/alertmanager.yml".into(),
            format!("--storage.path=data/alertmanager-{n}"),
            format!("--web.listen-address={}:{port}", self.host),
            format!("--web.external-url=http://{}:{port}", self.host),
            format!("--cluster.listen-address={}:{cluster}", self.host),
            format!("--cluster.peer={}:{peer}", self.host),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_each_bad_value_names_its_parameter() {
        StackParams::default().check().unwrap();
        let with = |f: fn(&mut StackParams)| {
            let mut p = StackParams::default();
            f(&mut p);
            p.check().unwrap_err().to_string()
        };
        assert!(
            with(|p| p.alertmanager_ports[1] = 9090)
                .contains("the alertmanager port 9090 is already the prometheus port")
        );
        assert!(with(|p| p.webhook_url = "ftp://x".into()).contains("webhook-url"));
        assert!(with(|p| p.webhook_url = "http://x/a b".into()).contains("without spaces"));
        assert!(with(|p| p.resend_delay = "5 minutes".into()).contains("resend-delay"));
        assert!(with(|p| p.resend_delay = "5".into()).contains("not a Prometheus duration"));
        assert!(with(|p| p.scrape = vec!["shop=localhost".parse().unwrap()]).contains("is not HOST:PORT"));
        assert!(with(|p| p.scrape = vec!["prometheus=a:1".parse().unwrap()]).contains("not prometheus"));
        duration("x", "1h30m").unwrap();
    }

    #[test]
    fn each_alertmanager_names_the_other_as_its_peer() {
        let p = StackParams::default();
        assert!(p.alertmanager_args(0).contains(&"--cluster.peer=127.0.0.1:9195".to_string()));
        assert!(p.alertmanager_args(1).contains(&"--cluster.peer=127.0.0.1:9194".to_string()));
        assert!(p.alertmanager_args(1).contains(&"--storage.path=data/alertmanager-2".to_string()));
    }
}
