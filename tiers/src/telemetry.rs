//! The tier's OpenTelemetry set-up: a tracer provider whose resource names the tier
//! (`service.name`, `host.name`, `service.instance.id`), a batch processor with a short delay
//! (`--batch-delay-ms`) flushed on shutdown, and the OTLP/HTTP JSON exporter. `tracing` spans
//! become OpenTelemetry spans (`tracing-opentelemetry`); the same spans' fields and the
//! events go to a JSON log on stderr, so the correlation id is a log field too.

use std::time::Duration;

use bytes::Bytes;
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::TierError;

/// The exporter's HTTP client: the tier's async reqwest client, run on the tier's tokio
/// runtime. The SDK's batch processor exports from its own thread (`futures_executor::
/// block_on`), where reqwest's async client finds no reactor; the request is spawned onto the
/// runtime and its result awaited from there. Hand-written (a few lines) because the
/// crate's built-in choice for that thread is reqwest's `blocking` feature, which would change
/// the features of the reqwest the whole workspace shares.
#[derive(Debug)]
struct OnRuntime {
    client: reqwest::Client,
    rt: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let request = reqwest::Request::try_from(request)?;
        let answer = self
            .rt
            .spawn(async move {
                let r = client.execute(request).await?;
                let (status, headers) = (r.status(), r.headers().clone());
                Ok::<_, reqwest::Error>((status, headers, r.bytes().await?))
            })
            .await??;
        let (status, headers, body) = answer;
        let mut out = http::Response::builder().status(status).body(body)?;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

/// Owns the tracer provider: [`Telemetry::shutdown`] exports what is still buffered.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

pub struct Options<'a> {
    pub service: &'a str,
    /// The full OTLP/HTTP traces URL (`http://host:4318/v1/traces`); `None`: spans are made
    /// (and logged) but not exported.
    pub endpoint: Option<&'a str>,
    pub batch_delay: Duration,
    pub host_name: String,
}

/// Sets up the provider and the global `tracing` subscriber. Call it from outside the runtime
/// `rt` belongs to; export requests run on `rt`.
pub fn init(o: &Options<'_>, rt: tokio::runtime::Handle) -> Result<Telemetry, TierError> {
    let resource = Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.name", o.service.to_string()),
            KeyValue::new("host.name", o.host_name.clone()),
            KeyValue::new("service.instance.id", format!("{}-{}", o.service, std::process::id())),
        ])
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if let Some(endpoint) = o.endpoint {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| TierError::Start(format!("OTLP client: {e}")))?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(OnRuntime { client, rt })
            .with_protocol(Protocol::HttpJson)
            .with_endpoint(endpoint)
            .with_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| TierError::Start(format!("OTLP exporter for {endpoint}: {e}")))?;
        let config = BatchConfigBuilder::default()
            .with_scheduled_delay(o.batch_delay)
            .with_max_queue_size(65_536)
            .with_max_export_batch_size(512)
            .build();
        builder = builder.with_span_processor(BatchSpanProcessor::builder(exporter).with_batch_config(config).build());
    }
    let provider = builder.build();
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("k6gate-tiers"))
        .with_filter(Targets::new().with_target("k6gate_tiers", LevelFilter::INFO));
    let log = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_writer(std::io::stderr)
        .with_filter(Targets::new().with_target("k6gate_tiers", LevelFilter::INFO));
    tracing_subscriber::registry()
        .with(otel)
        .with(log)
        .try_init()
        .map_err(|e| TierError::Start(format!("tracing subscriber: {e}")))?;
    Ok(Telemetry { provider })
}

impl Telemetry {
    /// Exports every buffered span, then stops the processor. Call it from outside the
    /// runtime (its exports run there), before the runtime is dropped.
    pub fn shutdown(self) -> Result<(), TierError> {
        self.provider
            .shutdown_with_timeout(Duration::from_secs(10))
            .map_err(|e| TierError::Start(format!("span flush: {e}")))
    }
}

/// This host's name (`host.name`), so attribution knows the tiers share a clock.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}
