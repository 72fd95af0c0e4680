//! What a Telemetry API record is and how it is written: the publisher hands over its
//! figures (a small struct of borrowed fields, a log line) and the record is written at once,
//! envelope and all, into its subscription's buffer, while its fields are still in the cache.
//! The invoke path so allocates nothing per record; the delivery task only cuts the buffer
//! into batches.

use std::time::SystemTime;

use serde::Serialize;

/// A record's body, as the publisher hands it over.
pub trait TelemetryRecord {
    /// The record's type: `platform.start`, `function`, ...
    fn kind(&self) -> &'static str;
    /// Appends the record's `record` member (one JSON value) to `out`.
    fn write_json(&self, out: &mut Vec<u8>);
}

/// A record whose body is `T` serialized with serde: the platform's records.
#[derive(Debug)]
pub struct Json<T> {
    kind: &'static str,
    body: T,
}

impl<T: Serialize> Json<T> {
    /// A record of type `kind` whose body is `body`.
    pub fn new(kind: &'static str, body: T) -> Json<T> {
        Json { kind, body }
    }
}

impl<T: Serialize> TelemetryRecord for Json<T> {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        // Plain structs and JSON values: writing them into a Vec cannot fail. Should one
        // ever fail, what it wrote is replaced so that the batch stays valid JSON.
        let start = out.len();
        if serde_json::to_writer(&mut *out, &self.body).is_err() {
            out.truncate(start);
            out.extend_from_slice(b"null");
        }
    }
}

/// A line of output: the `function` or `extension` record of what was written.
#[derive(Debug)]
pub struct Line<'a> {
    kind: &'static str,
    text: &'a [u8],
    /// The function logs in the JSON format: a line that is a JSON object is the record.
    json: bool,
}

impl<'a> Line<'a> {
    /// A `kind` (`function` or `extension`) record of `text`.
    pub fn new(kind: &'static str, text: &'a [u8], json: bool) -> Line<'a> {
        Line { kind, text, json }
    }
}

impl TelemetryRecord for Line<'_> {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        if self.json
            && self.text.starts_with(b"{")
            && serde_json::from_slice::<serde::de::IgnoredAny>(self.text).is_ok()
        {
            out.extend_from_slice(self.text);
            return;
        }
        let text = String::from_utf8_lossy(self.text);
        if serde_json::to_writer(&mut *out, &text).is_err() {
            out.extend_from_slice(b"null");
        }
    }
}

/// Appends the whole record, `{"time":…,"type":…,"record":…}`, to `out`.
pub(super) fn write(
    out: &mut Vec<u8>,
    clock: &mut Clock,
    at: SystemTime,
    record: &dyn TelemetryRecord,
) {
    out.extend_from_slice(b"{\"time\":\"");
    clock.write(at, out);
    // `kind` is one of the API's fixed type names: no escaping needed.
    out.extend_from_slice(b"\",\"type\":\"");
    out.extend_from_slice(record.kind().as_bytes());
    out.extend_from_slice(b"\",\"record\":");
    record.write_json(out);
    out.push(b'}');
}

/// Writes records' times as Lambda does (UTC, milliseconds, `Z`), the date and time of day
/// formatted once per second of a batch rather than once per record.
#[derive(Debug, Default)]
pub(super) struct Clock {
    second: Option<u64>,
    /// `YYYY-MM-DDTHH:MM:SS.` of `second`.
    prefix: String,
}

impl Clock {
    fn write(&mut self, at: SystemTime, out: &mut Vec<u8>) {
        let since = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let second = since.as_secs();
        if self.second != Some(second) {
            let at: chrono::DateTime<chrono::Utc> =
                (SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(second)).into();
            self.prefix = at.format("%Y-%m-%dT%H:%M:%S.").to_string();
            self.second = Some(second);
        }
        out.extend_from_slice(self.prefix.as_bytes());
        let millis = since.subsec_millis();
        out.extend_from_slice(&[
            b'0' + (millis / 100) as u8,
            b'0' + (millis / 10 % 10) as u8,
            b'0' + (millis % 10) as u8,
            b'Z',
        ]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn written(record: impl TelemetryRecord) -> Value {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        let mut out = Vec::new();
        write(&mut out, &mut Clock::default(), at, &record);
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn times_are_lambdas_whichever_second_came_before() {
        let mut clock = Clock::default();
        let mut out = Vec::new();
        for ms in [
            1_700_000_000_123u64,
            1_700_000_000_007,
            1_700_000_001_999,
            1_700_000_000_050,
        ] {
            out.clear();
            let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(ms);
            clock.write(at, &mut out);
            assert_eq!(
                String::from_utf8(out.clone()).unwrap(),
                super::super::record_time(at.into())
            );
        }
    }

    #[test]
    fn records_are_written_in_lambdas_envelope() {
        let r = written(Json::new("platform.start", json!({"requestId": "r1"})));
        assert_eq!(r["time"], "2023-11-14T22:13:20.123Z");
        assert_eq!(r["type"], "platform.start");
        assert_eq!(r["record"]["requestId"], "r1");
    }

    #[test]
    fn lines_are_strings_unless_they_are_json_records_of_the_json_format() {
        let text = written(Line::new("function", b"say \"hi\"\t\xff", false));
        assert_eq!(text["record"], "say \"hi\"\t\u{fffd}");
        let object = br#"{"level":"INFO","message":"m"}"#;
        assert_eq!(
            written(Line::new("function", object, true))["record"]["level"],
            "INFO"
        );
        // The text format keeps even a JSON-looking line as a string; a broken one in the
        // JSON format is a string too.
        assert!(written(Line::new("function", object, false))["record"].is_string());
        assert_eq!(
            written(Line::new("extension", b"{broken", true))["record"],
            "{broken"
        );
    }
}
