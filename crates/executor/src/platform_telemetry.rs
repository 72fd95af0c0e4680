//! The platform's own records, as Lambda writes them: on the Telemetry API (`platform.*`
//! records for subscribed extensions) and, for extensions, in the log stream (`EXTENSION`
//! lines in the text format, `platform.extension` records in JSON).

use lamina_runtime_api::{Extensions, Telemetry, TelemetryStream};
use serde_json::json;

use crate::invocation::Report;
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

    fn fields(self, record: &mut serde_json::Value) {
        record["status"] = self.status.into();
        if let Some(t) = self.error_type {
            record["errorType"] = t.into();
        }
    }
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
    t.publish(PLATFORM, "platform.initStart", || {
        init(json!({
            "functionName": version.name,
            "functionVersion": version.version,
            "runtimeVersion": version.runtime.to_string(),
        }))
    });
    t.publish(PLATFORM, "platform.initRuntimeDone", || {
        init(json!({"status": "success"}))
    });
    t.publish(PLATFORM, "platform.initReport", || {
        init(json!({"status": "success", "metrics": {"durationMs": round2(init_ms)}}))
    });
}

/// `platform.start`.
pub(crate) fn start(t: &Telemetry, request_id: &str, version: &str, trace: &str) {
    t.publish(PLATFORM, "platform.start", || {
        json!({
            "requestId": request_id,
            "version": version,
            "tracing": {"type": "X-Amzn-Trace-Id", "value": trace},
        })
    });
}

/// `platform.runtimeDone`: the runtime answered (or failed to).
pub(crate) fn runtime_done(t: &Telemetry, request_id: &str, status: Status, duration_ms: f64) {
    t.publish(PLATFORM, "platform.runtimeDone", || {
        let mut r = json!({
            "requestId": request_id,
            "metrics": {"durationMs": round2(duration_ms)},
        });
        status.fields(&mut r);
        r
    });
}

/// `platform.report`: the invocation's figures, as on the REPORT line.
pub(crate) fn report(t: &Telemetry, request_id: &str, status: Status, report: &Report) {
    t.publish(PLATFORM, "platform.report", || {
        let mut metrics = json!({
            "durationMs": report.duration_ms,
            "billedDurationMs": report.billed_ms,
            "memorySizeMB": report.memory_mb,
            "maxMemoryUsedMB": report.max_memory_mb,
        });
        if let Some(init) = report.init_ms {
            metrics["initDurationMs"] = round2(init).into();
        }
        let mut r = json!({"requestId": request_id, "metrics": metrics});
        status.fields(&mut r);
        r
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
