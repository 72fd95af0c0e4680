//! A function's `LoggingConfig` as its environments apply it: the text format (Lambda's
//! `START`/`END`/`REPORT` lines, output as written) or JSON, where the platform writes
//! `platform.start` and `platform.report` records and keeps only what passes the levels:
//! a line of the function's output is a JSON record with a `level` (any case) or, failing
//! that, counts as `INFO`, as Lambda documents; system records are `INFO`.

use crate::logs;
use crate::report::Report;

/// Lambda's levels, least severe first.
const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
const INFO: u8 = 2;

/// How an environment's logs are written and filtered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Logging {
    /// LogFormat JSON.
    pub json: bool,
    /// The least severe application level kept (an index of Lambda's levels).
    application: u8,
    /// The least severe system level kept.
    system: u8,
}

impl Default for Logging {
    fn default() -> Logging {
        Logging {
            json: false,
            application: INFO,
            system: INFO,
        }
    }
}

fn level_of(name: &str) -> Option<u8> {
    let upper = name.to_ascii_uppercase();
    let upper = match upper.as_str() {
        "WARNING" => "WARN",
        "CRITICAL" => "FATAL",
        other => other,
    };
    LEVELS.iter().position(|l| *l == upper).map(|i| i as u8)
}

fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Logging {
    /// From a function's configuration: its LogFormat and, with JSON, its levels.
    pub fn new(format: &str, application: Option<&str>, system: Option<&str>) -> Logging {
        Logging {
            json: format == "JSON",
            application: application.and_then(level_of).unwrap_or(INFO),
            system: system.and_then(level_of).unwrap_or(INFO),
        }
    }

    /// What the runtime is told (`AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL`), so that
    /// the managed runtimes write their JSON records and skip what would be dropped.
    pub fn environment(&self) -> Vec<(String, String)> {
        if !self.json {
            return Vec::new();
        }
        vec![
            ("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()),
            (
                "AWS_LAMBDA_LOG_LEVEL".into(),
                LEVELS[self.application as usize].into(),
            ),
        ]
    }

    /// Whether a line of the function's output is kept.
    pub fn keeps(&self, line: &[u8]) -> bool {
        if !self.json || self.application <= INFO && !line.starts_with(b"{") {
            return true;
        }
        let level = serde_json::from_slice::<serde_json::Value>(line)
            .ok()
            .and_then(|r| r.get("level")?.as_str().and_then(level_of))
            .unwrap_or(INFO);
        level >= self.application
    }

    /// The line that starts an invocation, if the system level keeps it.
    pub fn start(&self, request_id: &str, version: &str) -> Vec<String> {
        if !self.json {
            return vec![logs::start_line(request_id, version)];
        }
        if self.system > INFO {
            return Vec::new();
        }
        let record = serde_json::json!({
            "time": now_iso(),
            "type": "platform.start",
            "record": {"requestId": request_id, "version": version},
        });
        vec![record.to_string()]
    }

    /// The lines that end an invocation (`END` and `REPORT`, or `platform.report` with its
    /// status), if the system level keeps them.
    pub fn end(&self, request_id: &str, report: &Report, failed: bool) -> Vec<String> {
        if !self.json {
            return vec![
                logs::end_line(request_id),
                logs::report_line(
                    request_id,
                    report.duration_ms,
                    report.billed_ms,
                    report.memory_mb,
                    report.max_memory_mb,
                    report.init_ms,
                ),
            ];
        }
        if self.system > INFO {
            return Vec::new();
        }
        let mut metrics = serde_json::json!({
            "durationMs": (report.duration_ms * 1000.0).round() / 1000.0,
            "billedDurationMs": report.billed_ms,
            "memorySizeMB": report.memory_mb,
            "maxMemoryUsedMB": report.max_memory_mb,
        });
        if let Some(init) = report.init_ms {
            metrics["initDurationMs"] = serde_json::json!((init * 1000.0).round() / 1000.0);
        }
        let record = serde_json::json!({
            "time": now_iso(),
            "type": "platform.report",
            "record": {
                "requestId": request_id,
                "metrics": metrics,
                "status": if failed { "error" } else { "success" },
            },
        });
        vec![record.to_string()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            duration_ms: 2.5,
            billed_ms: 3,
            memory_mb: 128,
            max_memory_mb: 40,
            init_ms: Some(31.25),
            setup_ms: None,
            prestarted: None,
        }
    }

    #[test]
    fn text_keeps_lambdas_lines_and_every_line() {
        let l = Logging::new("Text", None, None);
        assert_eq!(
            l.start("r", "$LATEST"),
            ["START RequestId: r Version: $LATEST"]
        );
        let end = l.end("r", &report(), false);
        assert_eq!(end[0], "END RequestId: r");
        assert!(end[1].starts_with("REPORT RequestId: r\tDuration: 2.50 ms"));
        assert!(l.keeps(br#"{"level": "DEBUG"}"#));
        assert!(l.environment().is_empty());
    }

    #[test]
    fn json_writes_platform_records_and_filters_by_level() {
        let l = Logging::new("JSON", Some("WARN"), Some("INFO"));
        let start: serde_json::Value = serde_json::from_str(&l.start("r", "3")[0]).unwrap();
        assert_eq!(start["type"], "platform.start");
        assert_eq!(
            start["record"],
            serde_json::json!({"requestId": "r", "version": "3"})
        );
        let end = l.end("r", &report(), true);
        assert_eq!(end.len(), 1);
        let rep: serde_json::Value = serde_json::from_str(&end[0]).unwrap();
        assert_eq!(rep["type"], "platform.report");
        assert_eq!(rep["record"]["status"], "error");
        assert_eq!(rep["record"]["metrics"]["billedDurationMs"], 3);
        assert_eq!(rep["record"]["metrics"]["initDurationMs"], 31.25);
        assert!(rep["time"].as_str().unwrap().ends_with('Z'));
        for (line, kept) in [
            (&br#"{"level":"ERROR","message":"x"}"#[..], true),
            (br#"{"level":"warn"}"#, true),
            (br#"{"level":"WARNING"}"#, true),
            (br#"{"level":"INFO"}"#, false),
            (br#"{"level":"nonsense"}"#, false),
            (b"plain print output", false),
            (br#"{"message":"no level"}"#, false),
        ] {
            assert_eq!(l.keeps(line), kept, "{}", String::from_utf8_lossy(line));
        }
        assert_eq!(
            l.environment(),
            [
                ("AWS_LAMBDA_LOG_FORMAT".to_string(), "JSON".to_string()),
                ("AWS_LAMBDA_LOG_LEVEL".to_string(), "WARN".to_string())
            ]
        );
        let quiet = Logging::new("JSON", Some("DEBUG"), Some("WARN"));
        assert!(quiet.start("r", "1").is_empty() && quiet.end("r", &report(), false).is_empty());
        assert!(quiet.keeps(br#"{"level":"DEBUG"}"#) && !quiet.keeps(br#"{"level":"TRACE"}"#));
    }
}
