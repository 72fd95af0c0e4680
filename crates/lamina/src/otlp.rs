//! Invocation spans exported over OTLP/HTTP (protobuf) with the OpenTelemetry SDK: the
//! platform's [`SpanSink`] for `serve --otlp-endpoint`. A span keeps the ids of the
//! invocation's X-Ray header (trace id = `Root` without its version and dashes, span id =
//! `Parent`), so that it joins the caller's trace, and carries OpenTelemetry's FaaS
//! attributes. The SDK's batch processor sends from its own thread: exporting costs the
//! invocation path a channel send.

use std::time::Duration;

use anyhow::Context as _;
use lamina_platform::traces::{InvocationSpan, SpanSink};
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, IdGenerator, RandomIdGenerator, SdkTracerProvider,
};

thread_local! {
    /// The ids the next span made on this thread takes (its X-Ray header's).
    static PRESET: std::cell::Cell<Option<(TraceId, SpanId)>> = const { std::cell::Cell::new(None) };
}

/// Gives a span the ids set for it on the exporting thread, so that it keeps the X-Ray
/// header's; random ones otherwise (the SDK's builder takes no ids of its own).
#[derive(Debug, Default)]
struct HeaderIds(RandomIdGenerator);

impl IdGenerator for HeaderIds {
    fn new_trace_id(&self) -> TraceId {
        PRESET
            .with(|p| p.get())
            .map_or_else(|| self.0.new_trace_id(), |(t, _)| t)
    }

    fn new_span_id(&self) -> SpanId {
        PRESET
            .with(|p| p.get())
            .map_or_else(|| self.0.new_span_id(), |(_, s)| s)
    }
}

/// The exporter.
#[derive(Debug)]
pub struct OtlpSpans {
    provider: SdkTracerProvider,
    tracer: opentelemetry_sdk::trace::SdkTracer,
}

/// The traces URL of an OTLP/HTTP endpoint: `/v1/traces` under a base URL, as the
/// OpenTelemetry exporters' `OTEL_EXPORTER_OTLP_ENDPOINT` works.
fn traces_url(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_string()
    } else {
        format!("{base}/v1/traces")
    }
}

impl OtlpSpans {
    /// An exporter to the collector at `endpoint` (`http://host:4318`).
    pub fn new(endpoint: &str) -> anyhow::Result<OtlpSpans> {
        anyhow::ensure!(
            endpoint.starts_with("http://") || endpoint.starts_with("https://"),
            "--otlp-endpoint {endpoint}: an http:// or https:// URL is needed"
        );
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(traces_url(endpoint))
            .with_timeout(Duration::from_secs(5))
            .build()
            .context("building the OTLP span exporter")?;
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_scheduled_delay(Duration::from_millis(500))
                    .build(),
            )
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_id_generator(HeaderIds::default())
            .with_resource(Resource::builder().with_service_name("lamina").build())
            .build();
        let tracer = provider.tracer("lamina");
        Ok(OtlpSpans { provider, tracer })
    }

    /// Sends what is buffered and stops.
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "the OTLP exporter did not shut down cleanly");
        }
    }
}

impl SpanSink for OtlpSpans {
    fn export(&self, s: InvocationSpan) {
        let (Ok(trace_id), Ok(span_id)) =
            (TraceId::from_hex(&s.trace_id), SpanId::from_hex(&s.span_id))
        else {
            return;
        };
        let mut attributes = vec![
            KeyValue::new("faas.name", s.function.clone()),
            KeyValue::new("faas.version", s.version),
            KeyValue::new("faas.invocation_id", s.request_id),
            KeyValue::new("faas.coldstart", s.init_ms.is_some()),
            KeyValue::new("faas.max_memory", i64::from(s.memory_mb) * 1024 * 1024),
            KeyValue::new("cloud.provider", "lamina"),
            KeyValue::new("cloud.resource_id", s.invoked_arn),
            KeyValue::new("lamina.billed_duration_ms", s.billed_ms as i64),
            KeyValue::new("lamina.max_memory_used_mb", s.max_memory_used_mb as i64),
        ];
        if let Some(init) = s.init_ms {
            attributes.push(KeyValue::new("lamina.init_duration_ms", init));
        }
        let parent = match s.parent_span_id.as_deref().map(SpanId::from_hex) {
            Some(Ok(parent)) => Context::new().with_remote_span_context(SpanContext::new(
                trace_id,
                parent,
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            )),
            _ => Context::new(),
        };
        PRESET.with(|p| p.set(Some((trace_id, span_id))));
        let mut span = self
            .tracer
            .span_builder(s.function)
            .with_kind(SpanKind::Server)
            .with_start_time(s.start)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &parent);
        PRESET.with(|p| p.set(None));
        if let Some(error) = s.error_type {
            span.set_status(Status::error(error));
        }
        span.end_with_timestamp(s.end);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_traces_path_is_added_once() {
        assert_eq!(
            super::traces_url("http://127.0.0.1:4318"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            super::traces_url("http://c:4318/v1/traces/"),
            "http://c:4318/v1/traces"
        );
    }
}
