//! The Prometheus export (`GET /metrics`, OpenMetrics text by `prometheus-client`): what a
//! scrape reads is gathered first (`gather`: the counters, the pools, the queues), then
//! encoded, so nothing is held while the text is written and nothing is kept between
//! scrapes.
//!
//! Label sets are bounded by what exists: `function` (a function's name), `version`
//! (`$LATEST` or a published version that ran), `state` (an environment's), `prestarted`
//! (`none`, `sandbox`, `runtime`), `queue` (an SQS queue's name), `mapping` (an event source
//! mapping's UUID). A deleted function's series go with it.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lamina_model::status::{MappingLine, QueueLine, ServerStatus};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::{Counter, PRESTARTED, Snapshot};
use crate::Platform;

/// The content type of the export.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Everything one scrape shows, read at one moment.
#[derive(Debug)]
struct Scrape {
    status: ServerStatus,
    counters: Vec<(String, Arc<Counter>)>,
    provisioned: Vec<(String, u64)>,
    unreserved_running: u32,
    queues: Vec<QueueLine>,
    mappings: Vec<MappingLine>,
}

/// The export's text.
pub async fn render(p: &Platform) -> String {
    let scrape = gather(p).await;
    let mut registry = Registry::with_prefix("lamina");
    registry.register_collector(Box::new(scrape));
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        let _ = writeln!(out, "# the export failed: {e}");
    }
    out
}

async fn gather(p: &Platform) -> Scrape {
    let status = p.status();
    let counters = status
        .functions
        .iter()
        .map(|f| (f.name.clone(), p.inner.concurrency.counters(&f.name)))
        .collect();
    let provisioned = status
        .functions
        .iter()
        .map(|f| {
            let live: usize = f.versions.iter().map(|v| v.provisioned).sum();
            (f.name.clone(), live as u64)
        })
        .collect();
    Scrape {
        status,
        counters,
        provisioned,
        unreserved_running: p.inner.concurrency.unreserved_in_flight(),
        queues: p.sqs().status().await.unwrap_or_default(),
        mappings: p.event_source_mappings().status().await.unwrap_or_default(),
    }
}

/// A counter's or a gauge's value, or a histogram, as one series.
#[derive(Debug)]
enum Value {
    Counter(u64),
    CounterF(f64),
    Gauge(i64),
    Histogram(Snapshot),
}

impl EncodeMetric for Value {
    fn encode(&self, mut e: MetricEncoder) -> Result<(), std::fmt::Error> {
        match self {
            Value::Counter(v) => e.encode_counter::<NoLabelSet, _, u64>(v, None),
            Value::CounterF(v) => e.encode_counter::<NoLabelSet, _, f64>(v, None),
            Value::Gauge(v) => e.encode_gauge(v),
            Value::Histogram(h) => {
                e.encode_histogram::<NoLabelSet>(h.sum_s, h.count, &h.buckets, None)
            }
        }
    }

    fn metric_type(&self) -> MetricType {
        match self {
            Value::Counter(_) | Value::CounterF(_) => MetricType::Counter,
            Value::Gauge(_) => MetricType::Gauge,
            Value::Histogram(_) => MetricType::Histogram,
        }
    }
}

type Labels = Vec<(&'static str, String)>;

/// Writes one family: its description, then each series.
fn family(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    series: Vec<(Labels, Value)>,
) -> Result<(), std::fmt::Error> {
    let Some(kind) = series.first().map(|(_, v)| v.metric_type()) else {
        return Ok(());
    };
    let mut m = e.encode_descriptor(name, help, unit, kind)?;
    if let [(labels, value)] = series.as_slice()
        && labels.is_empty()
    {
        return value.encode(m);
    }
    for (labels, value) in &series {
        value.encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

fn function(name: &str) -> Labels {
    vec![("function", name.to_string())]
}

impl Collector for Scrape {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.lambda(&mut e)?;
        self.platform(&mut e)?;
        self.sources(&mut e)
    }
}

impl Scrape {
    /// Lambda's metric set, per function and version.
    fn lambda(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let versions: Vec<(Labels, Arc<super::VersionMetrics>)> = self
            .counters
            .iter()
            .flat_map(|(f, c)| {
                c.versions()
                    .into_iter()
                    .map(move |(v, m)| (vec![("function", f.clone()), ("version", v)], m))
            })
            .collect();
        let per_version = |f: &dyn Fn(&super::VersionMetrics) -> Value| {
            versions
                .iter()
                .map(|(l, m)| (l.clone(), f(m)))
                .collect::<Vec<_>>()
        };
        let per_function = |f: &dyn Fn(&Counter) -> Value| {
            self.counters
                .iter()
                .map(|(n, c)| (function(n), f(c)))
                .collect::<Vec<_>>()
        };
        let seconds = Some(&Unit::Seconds);
        family(
            e,
            "invocations",
            "Invocations that ran (Lambda's Invocations).",
            None,
            per_version(&|m| Value::Counter(load(&m.invocations))),
        )?;
        family(
            e,
            "errors",
            "Invocations that ended in a function error (Errors).",
            None,
            per_version(&|m| Value::Counter(load(&m.errors))),
        )?;
        family(
            e,
            "duration",
            "Time in the handler (Duration).",
            seconds,
            per_version(&|m| Value::Histogram(m.duration.snapshot())),
        )?;
        family(
            e,
            "init_duration",
            "Init Duration of cold starts (InitDuration).",
            seconds,
            per_version(&|m| Value::Histogram(m.init.snapshot())),
        )?;
        family(
            e,
            "billed_gb_seconds",
            "Billed duration times memory, in GB-seconds.",
            None,
            per_version(&|m| Value::CounterF(load(&m.billed_mb_ms) as f64 / 1_024_000.0)),
        )?;
        family(
            e,
            "throttles",
            "Invocations refused for concurrency (Throttles).",
            None,
            per_function(&|c| Value::Counter(load(&c.throttles))),
        )?;
        family(
            e,
            "concurrent_executions",
            "Invocations running now (ConcurrentExecutions).",
            None,
            per_function(&|c| Value::Gauge(i64::from(c.in_flight.load(Ordering::Relaxed)))),
        )?;
        family(
            e,
            "provisioned_concurrent_executions",
            "Provisioned environments live now (ProvisionedConcurrentExecutions).",
            None,
            self.provisioned
                .iter()
                .map(|(f, n)| (function(f), Value::Gauge(*n as i64)))
                .collect(),
        )?;
        family(
            e,
            "unreserved_concurrent_executions",
            "Invocations running now against the unreserved pool (UnreservedConcurrentExecutions).",
            None,
            vec![(vec![], Value::Gauge(i64::from(self.unreserved_running)))],
        )?;
        family(
            e,
            "async_events_received",
            "Asynchronous events accepted (AsyncEventsReceived).",
            None,
            per_function(&|c| Value::Counter(load(&c.async_received))),
        )?;
        family(
            e,
            "async_events_dropped",
            "Asynchronous events given up with no destination to take them (AsyncEventsDropped).",
            None,
            per_function(&|c| Value::Counter(load(&c.async_dropped))),
        )?;
        family(
            e,
            "async_event_age",
            "From an event's acceptance to its run (AsyncEventAge).",
            seconds,
            per_function(&|c| Value::Histogram(c.async_age.snapshot())),
        )?;
        family(
            e,
            "dead_letter_errors",
            "Events the dead-letter queue would not take (DeadLetterErrors).",
            None,
            per_function(&|c| Value::Counter(load(&c.dead_letter_errors))),
        )?;
        family(
            e,
            "destination_delivery_failures",
            "Records a destination would not take (DestinationDeliveryFailures).",
            None,
            per_function(&|c| Value::Counter(load(&c.destination_failures))),
        )
    }

    /// The platform's own: environments, cold starts, set-up time, the event queue.
    fn platform(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut environments = Vec::new();
        for f in &self.status.functions {
            for v in &f.versions {
                for (state, n) in [
                    ("initialising", v.initialising),
                    ("idle", v.idle),
                    ("busy", v.busy),
                    ("frozen", v.frozen),
                ] {
                    let labels = vec![
                        ("function", f.name.clone()),
                        ("version", v.version.clone()),
                        ("state", state.to_string()),
                    ];
                    environments.push((labels, Value::Gauge(n as i64)));
                }
            }
        }
        family(
            e,
            "environments",
            "Execution environments by state.",
            None,
            environments,
        )?;
        let mut cold = Vec::new();
        let mut setup = Vec::new();
        for (f, c) in &self.counters {
            for (v, m) in c.versions() {
                for (i, ahead) in PRESTARTED.iter().enumerate() {
                    let labels = vec![
                        ("function", f.clone()),
                        ("version", v.clone()),
                        ("prestarted", ahead.to_string()),
                    ];
                    cold.push((labels, Value::Counter(load(&m.cold_starts[i]))));
                }
                let labels = vec![("function", f.clone()), ("version", v)];
                setup.push((labels, Value::Histogram(m.setup.snapshot())));
            }
        }
        family(
            e,
            "cold_starts",
            "Cold starts, by what had been started ahead of them.",
            None,
            cold,
        )?;
        family(
            e,
            "sandbox_setup",
            "Of each cold start, the environment's set-up before its \
            runtime ran.",
            Some(&Unit::Seconds),
            setup,
        )?;
        let q = &self.status.event_queue;
        let depth = [
            ("ready", q.ready),
            ("delayed", q.delayed),
            ("running", q.running),
            ("failed", q.failed),
        ]
        .into_iter()
        .map(|(s, n)| (vec![("state", s.to_string())], Value::Gauge(n as i64)))
        .collect();
        family(
            e,
            "event_queue_depth",
            "Asynchronous events queued, by state.",
            None,
            depth,
        )?;
        family(
            e,
            "concurrency_limit",
            "The server's concurrent executions limit.",
            None,
            vec![(
                vec![],
                Value::Gauge(i64::from(self.status.concurrency_limit)),
            )],
        )
    }

    /// SQS queues and event source mappings.
    fn sources(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut messages = Vec::new();
        for q in &self.queues {
            for (state, n) in [
                ("visible", q.visible),
                ("in_flight", q.in_flight),
                ("delayed", q.delayed),
            ] {
                let labels = vec![("queue", q.name.clone()), ("state", state.to_string())];
                messages.push((labels, Value::Gauge(n as i64)));
            }
        }
        family(
            e,
            "sqs_messages",
            "Messages in each SQS queue, by state.",
            None,
            messages,
        )?;
        let oldest = self
            .queues
            .iter()
            .map(|q| {
                (
                    vec![("queue", q.name.clone())],
                    Value::Gauge(q.oldest_age_s.unwrap_or(0) as i64),
                )
            })
            .collect();
        family(
            e,
            "sqs_oldest_message_age",
            "Age of each queue's oldest message.",
            Some(&Unit::Seconds),
            oldest,
        )?;
        let mapping = |m: &MappingLine| {
            let function = m.function.split(":function:").nth(1).unwrap_or(&m.function);
            vec![
                ("mapping", m.uuid.clone()),
                ("function", function.to_string()),
            ]
        };
        family(
            e,
            "mapping_backlog",
            "Messages waiting in each event source mapping's source.",
            None,
            self.mappings
                .iter()
                .map(|m| (mapping(m), Value::Gauge(m.backlog as i64)))
                .collect(),
        )?;
        family(
            e,
            "mapping_lag",
            "Age of the oldest message waiting in each mapping's source.",
            Some(&Unit::Seconds),
            self.mappings
                .iter()
                .map(|m| (mapping(m), Value::Gauge(m.lag_s.unwrap_or(0) as i64)))
                .collect(),
        )?;
        family(
            e,
            "mapping_batch_size",
            "Each mapping's BatchSize.",
            None,
            self.mappings
                .iter()
                .map(|m| (mapping(m), Value::Gauge(i64::from(m.batch_size))))
                .collect(),
        )
    }
}
