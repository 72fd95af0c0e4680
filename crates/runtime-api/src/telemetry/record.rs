//! What a Telemetry API record is before it is delivered: the publisher hands over its
//! figures (a small struct, a log line) and the time; the JSON is written only when the
//! record's batch is delivered, by the delivery task, into the batch's body. The invoke path
//! so pays for one allocation per record, and the serializing code runs in one warm loop
//! per batch rather than cold on every invocation.

use std::time::SystemTime;

use serde::Serialize;

/// A record's body, serialized when its batch is delivered.
pub trait TelemetryRecord: Send + Sync {
    /// The record's type: `platform.start`, `function`, ...
    fn kind(&self) -> &'static str;
    /// Appends the record's `record` member (one JSON value) to `out`.
    fn write_json(&self, out: &mut Vec<u8>);
    /// About how many bytes [`write_json`](Self::write_json) writes, to bound the buffer
    /// before anything is serialized.
    fn size_hint(&self) -> usize;
}

/// A record whose body is `T` serialized with serde: the platform's records.
#[derive(Debug)]
pub struct Json<T> {
    kind: &'static str,
    body: T,
}

/// Bytes a platform record's body takes, about: a few short fields (`platform.start` with its
/// trace header is about 195 bytes, `runtimeDone` 100, `report` 160). Batches are cut by this
/// estimate, so it is kept near the mean: well above it, batches would leave much of
/// `maxBytes` unused and come more often.
const PLATFORM_BODY_BYTES: usize = 160;

impl<T: Serialize + Send + Sync> Json<T> {
    /// A record of type `kind` whose body is `body`.
    pub fn new(kind: &'static str, body: T) -> Json<T> {
        Json { kind, body }
    }
}

impl<T: Serialize + Send + Sync> TelemetryRecord for Json<T> {
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

    fn size_hint(&self) -> usize {
        PLATFORM_BODY_BYTES
    }
}

/// A line of output: the `function` or `extension` record of what was written.
#[derive(Debug)]
pub struct Line {
    kind: &'static str,
    text: Box<[u8]>,
    /// The function logs in the JSON format: a line that is a JSON object is the record.
    json: bool,
}

impl Line {
    /// A `kind` (`function` or `extension`) record of `text`.
    pub fn new(kind: &'static str, text: &[u8], json: bool) -> Line {
        Line {
            kind,
            text: text.into(),
            json,
        }
    }
}

impl TelemetryRecord for Line {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        if self.json
            && self.text.starts_with(b"{")
            && serde_json::from_slice::<serde::de::IgnoredAny>(&self.text).is_ok()
        {
            out.extend_from_slice(&self.text);
            return;
        }
        let text = String::from_utf8_lossy(&self.text);
        if serde_json::to_writer(&mut *out, &text).is_err() {
            out.extend_from_slice(b"null");
        }
    }

    fn size_hint(&self) -> usize {
        // Quotes, and room for a few escapes.
        self.text.len() + self.text.len() / 8 + 2
    }
}

/// A record waiting in a subscription's buffer.
#[derive(Clone)]
pub(super) struct Queued {
    pub(super) at: SystemTime,
    pub(super) record: std::sync::Arc<dyn TelemetryRecord>,
}

impl std::fmt::Debug for Queued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queued")
            .field("at", &self.at)
            .field("kind", &self.record.kind())
            .finish_non_exhaustive()
    }
}

/// Bytes of the envelope around a record's body (`{"time":…,"type":…,"record":…}`, 55 bytes
/// and the type's name).
const ENVELOPE_BYTES: usize = 72;

impl Queued {
    /// `record`, happening now.
    pub(super) fn now(record: impl TelemetryRecord + 'static) -> Queued {
        Queued {
            at: SystemTime::now(),
            record: std::sync::Arc::new(record),
        }
    }

    /// `batch` as the JSON array a delivery posts, written in one loop.
    pub(super) fn json_array(batch: &[Queued], capacity: usize) -> Vec<u8> {
        let mut body = Vec::with_capacity(capacity + 2);
        let mut clock = Clock::default();
        body.push(b'[');
        for (i, record) in batch.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            record.write(&mut body, &mut clock);
        }
        body.push(b']');
        body
    }

    /// About how many bytes the record takes in its batch.
    pub(super) fn size(&self) -> usize {
        ENVELOPE_BYTES + self.record.size_hint()
    }

    /// Appends the whole record, `{"time":…,"type":…,"record":…}`, to `out`.
    pub(super) fn write(&self, out: &mut Vec<u8>, clock: &mut Clock) {
        out.extend_from_slice(b"{\"time\":\"");
        clock.write(self.at, out);
        // `kind` is one of the API's fixed type names: no escaping needed.
        out.extend_from_slice(b"\",\"type\":\"");
        out.extend_from_slice(self.record.kind().as_bytes());
        out.extend_from_slice(b"\",\"record\":");
        self.record.write_json(out);
        out.push(b'}');
    }
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
    use std::sync::Arc;

    fn written(record: impl TelemetryRecord + 'static) -> Value {
        let queued = Queued {
            at: SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123),
            record: Arc::new(record),
        };
        let mut out = Vec::new();
        queued.write(&mut out, &mut Clock::default());
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
