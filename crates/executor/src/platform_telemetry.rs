//! The platform's own records, as Lambda writes them: on the Telemetry API (`platform.*`
//! records for subscribed extensions) and, for extensions, in the log stream (`EXTENSION`
//! lines in the text format, `platform.extension` records in JSON).

use lamina_runtime_api::telemetry::Json;
use lamina_runtime_api::{Extensions, Telemetry, TelemetryStream};
use serde::Serialize;
use serde_json::json;

use crate::report::Report;
use crate::version::FunctionVersion;

const PLATFORM: TelemetryStream = TelemetryStream::Platform;

/// How an invocation ended, in the records' words: `success`, `error` (the function's),
/// `timeout` or `failure` (the runtime's or the platform's), with an error type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Status {
    pub(crate) status: &'static str,
    pub(crate) error_type: Option<&'static str>,
}

impl Status {
    pub(crate) const SUCCESS: Status = Status {
        status: "success",
        error_type: None,
    };
}

/// The init phase ended (on the environment's first invocation): `platform.initStart`,
/// `platform.initRuntimeDone` and `platform.initReport`.
pub(crate) fn init_done(t: &Telemetry, version: &FunctionVersion, init_ms: f64) {
    let init = |extra: serde_json::Value| {
        let mut r = json!({"initializationType": "on-demand", "phase": "init"});
        if let (Some(r), Some(extra)) = (r.as_object_mut(), extra.as_object()) {
            r.extend(extra.clone());
        }
        r
    };
    t.publish(PLATFORM, || {
        Json::new(
            "platform.initStart",
            init(json!({
                "functionName": version.name,
                "functionVersion": version.version,
                "runtimeVersion": version.runtime.to_string(),
            })),
        )
    });
    t.publish(PLATFORM, || {
        Json::new(
            "platform.initRuntimeDone",
            init(json!({"status": "success"})),
        )
    });
    t.publish(PLATFORM, || {
        Json::new(
            "platform.initReport",
            init(json!({"status": "success", "metrics": {"durationMs": round2(init_ms)}})),
        )
    });
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StartRecord<'a> {
    request_id: &'a str,
    version: &'a str,
    tracing: Tracing<'a>,
}

#[derive(Serialize)]
struct Tracing<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    value: &'a str,
}

/// `platform.runtimeDone` and `platform.report`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DoneRecord<'a, M> {
    request_id: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_type: Option<&'static str>,
    metrics: M,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RuntimeMetrics {
    duration_ms: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportMetrics {
    duration_ms: f64,
    billed_duration_ms: u64,
    #[serde(rename = "memorySizeMB")]
    memory_size_mb: u32,
    #[serde(rename = "maxMemoryUsedMB")]
    max_memory_used_mb: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    init_duration_ms: Option<f64>,
}

/// `platform.start`.
pub(crate) fn start(t: &Telemetry, request_id: &str, version: &str, trace: &str) {
    t.publish(PLATFORM, || {
        Json::new(
            "platform.start",
            StartRecord {
                request_id,
                version,
                tracing: Tracing {
                    kind: "X-Amzn-Trace-Id",
                    value: trace,
                },
            },
        )
    });
}

/// `platform.runtimeDone`: the runtime answered (or failed to).
pub(crate) fn runtime_done(t: &Telemetry, request_id: &str, status: Status, duration_ms: f64) {
    t.publish(PLATFORM, || {
        Json::new(
            "platform.runtimeDone",
            DoneRecord {
                request_id,
                status: status.status,
                error_type: status.error_type,
                metrics: RuntimeMetrics {
                    duration_ms: round2(duration_ms),
                },
            },
        )
    });
}

/// `platform.report`: the invocation's figures, as on the REPORT line.
pub(crate) fn report(t: &Telemetry, request_id: &str, status: Status, report: &Report) {
    t.publish(PLATFORM, || {
        Json::new(
            "platform.report",
            DoneRecord {
                request_id,
                status: status.status,
                error_type: status.error_type,
                metrics: ReportMetrics {
                    duration_ms: report.duration_ms,
                    billed_duration_ms: report.billed_ms,
                    memory_size_mb: report.memory_mb,
                    max_memory_used_mb: report.max_memory_mb,
                    init_duration_ms: report.init_ms.map(round2),
                },
            },
        )
    });
}

/// The log lines Lambda writes for each registered extension once the init phase is over.
pub(crate) fn extension_lines(extensions: &Extensions, json: bool) -> Vec<String> {
    extensions
        .registered()
        .into_iter()
        .map(|(name, events)| {
            if json {
                json!({
                    "time": lamina_runtime_api::telemetry::record_time(chrono::Utc::now()),
                    "type": "platform.extension",
                    "record": {"name": name, "state": "Ready", "events": events},
                })
                .to_string()
            } else {
                format!(
                    "EXTENSION\tName: {name}\tState: Ready\tEvents: [{}]",
                    events.join(", ")
                )
            }
        })
        .collect()
}

fn round2(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}
