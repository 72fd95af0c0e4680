//! The platform's own records, as Lambda writes them: on the Telemetry API (`platform.*`
//! records for subscribed extensions) and, for extensions, in the log stream (`EXTENSION`
//! lines in the text format, `platform.extension` records in JSON).

use lamina_runtime_api::telemetry::{Json, Object, TelemetryRecord};
use lamina_runtime_api::{Extensions, Telemetry, TelemetryStream};
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

/// `platform.start`.
struct Start<'a> {
    request_id: &'a str,
    version: &'a str,
    trace: &'a str,
}

impl TelemetryRecord for Start<'_> {
    fn kind(&self) -> &'static str {
        "platform.start"
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = Object::new(out);
        o.str("requestId", self.request_id)
            .str("version", self.version)
            .object("tracing", |t| {
                t.str("type", "X-Amzn-Trace-Id").str("value", self.trace);
            });
        o.end();
    }
}

/// `platform.runtimeDone` (no report) and `platform.report`: how an invocation ended and its
/// figures.
struct Done<'a> {
    request_id: &'a str,
    status: Status,
    metrics: Metrics<'a>,
}

/// What a [`Done`] record measures, which also says which record it is.
enum Metrics<'a> {
    /// `platform.runtimeDone`: how long the runtime took.
    Runtime { duration_ms: f64 },
    /// `platform.report`: the REPORT line's figures.
    Report(&'a Report),
}

impl TelemetryRecord for Done<'_> {
    fn kind(&self) -> &'static str {
        match self.metrics {
            Metrics::Runtime { .. } => "platform.runtimeDone",
            Metrics::Report(_) => "platform.report",
        }
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = Object::new(out);
        o.str("requestId", self.request_id)
            .str("status", self.status.status);
        if let Some(error_type) = self.status.error_type {
            o.str("errorType", error_type);
        }
        o.object("metrics", |m| match self.metrics {
            Metrics::Runtime { duration_ms } => {
                m.millis("durationMs", duration_ms);
            }
            Metrics::Report(r) => {
                m.millis("durationMs", r.duration_ms)
                    .uint("billedDurationMs", r.billed_ms)
                    .uint("memorySizeMB", r.memory_mb.into())
                    .uint("maxMemoryUsedMB", r.max_memory_mb);
                if let Some(init_ms) = r.init_ms {
                    m.millis("initDurationMs", init_ms);
                }
            }
        });
        o.end();
    }
}

/// `platform.start`.
pub(crate) fn start(t: &Telemetry, request_id: &str, version: &str, trace: &str) {
    t.publish(PLATFORM, || Start {
        request_id,
        version,
        trace,
    });
}

/// `platform.runtimeDone`: the runtime answered (or failed to).
pub(crate) fn runtime_done(t: &Telemetry, request_id: &str, status: Status, duration_ms: f64) {
    t.publish(PLATFORM, || Done {
        request_id,
        status,
        metrics: Metrics::Runtime { duration_ms },
    });
}

/// `platform.report`: the invocation's figures, as on the REPORT line.
pub(crate) fn report(t: &Telemetry, request_id: &str, status: Status, report: &Report) {
    t.publish(PLATFORM, || Done {
        request_id,
        status,
        metrics: Metrics::Report(report),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn body(record: &dyn TelemetryRecord) -> Value {
        let mut out = Vec::new();
        record.write_json(&mut out);
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn records_have_lambdas_fields() {
        let start = Start {
            request_id: "r-1",
            version: "$LATEST",
            trace: "Root=1-5e1b4151-5ac6c58f5b5daa6532e4f2a8;Parent=1;Sampled=0",
        };
        assert_eq!(start.kind(), "platform.start");
        assert_eq!(
            body(&start),
            json!({"requestId": "r-1", "version": "$LATEST", "tracing": {"type": "X-Amzn-Trace-Id",
                   "value": "Root=1-5e1b4151-5ac6c58f5b5daa6532e4f2a8;Parent=1;Sampled=0"}})
        );
        let failed = Status {
            status: "error",
            error_type: Some("Runtime.ExitError"),
        };
        let done = Done {
            request_id: "r-1",
            status: failed,
            metrics: Metrics::Runtime {
                duration_ms: 12.345_6,
            },
        };
        assert_eq!(done.kind(), "platform.runtimeDone");
        assert_eq!(
            body(&done),
            json!({"requestId": "r-1", "status": "error", "errorType": "Runtime.ExitError",
                   "metrics": {"durationMs": 12.35}})
        );
        let mut report = Report {
            duration_ms: 12.35,
            billed_ms: 13,
            memory_mb: 128,
            max_memory_mb: 21,
            init_ms: Some(3.456),
            setup_ms: None,
            prestarted: None,
        };
        let done = Done {
            request_id: "r-1",
            status: Status::SUCCESS,
            metrics: Metrics::Report(&report),
        };
        assert_eq!(done.kind(), "platform.report");
        assert_eq!(
            body(&done),
            json!({"requestId": "r-1", "status": "success", "metrics": {"durationMs": 12.35,
                   "billedDurationMs": 13, "memorySizeMB": 128, "maxMemoryUsedMB": 21,
                   "initDurationMs": 3.46}})
        );
        report.init_ms = None;
        let warm = Done {
            request_id: "r-2",
            status: Status::SUCCESS,
            metrics: Metrics::Report(&report),
        };
        assert!(body(&warm)["metrics"].get("initDurationMs").is_none());
    }
}
