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

/// A record's body written by hand: a JSON object whose keys are the API's fixed names, for
/// the records every invocation makes (`platform.start`, `platform.runtimeDone`,
/// `platform.report`), where serde's general path (escaping each key, formatting each
/// float) was most of the records' cost.
#[derive(Debug)]
pub struct Object<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Object<'a> {
    /// Opens an object at the end of `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Object<'a> {
        out.push(b'{');
        Object { out, empty: true }
    }

    fn key(&mut self, key: &'static str) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        // Keys are the API's names: letters only, nothing to escape.
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// A string member.
    pub fn str(&mut self, key: &'static str, value: &str) -> &mut Self {
        self.key(key);
        write_str(self.out, value);
        self
    }

    /// An integer member.
    pub fn uint(&mut self, key: &'static str, value: u64) -> &mut Self {
        self.key(key);
        self.out
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        self
    }

    /// A duration in milliseconds, rounded to hundredths as Lambda gives them.
    pub fn millis(&mut self, key: &'static str, ms: f64) -> &mut Self {
        self.key(key);
        write_hundredths(self.out, ms);
        self
    }

    /// An object member, written by `body`.
    pub fn object(&mut self, key: &'static str, body: impl FnOnce(&mut Object<'_>)) -> &mut Self {
        self.key(key);
        let mut inner = Object::new(self.out);
        body(&mut inner);
        inner.out.push(b'}');
        self
    }

    /// Closes the object.
    pub fn end(self) {
        self.out.push(b'}');
    }
}

/// A JSON string: copied as it is when nothing in it needs escaping (ids, ARNs, trace
/// headers), through serde_json otherwise.
fn write_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else if serde_json::to_writer(&mut *out, s).is_err() {
        out.extend_from_slice(b"null");
    }
}

/// `ms` rounded to hundredths, written as serde_json writes that float (the shortest form
/// that reads back the same: `12.3`, `5.0`), without formatting a float: where a float's
/// spacing is far below a hundredth (under 10^10 ms), the decimal of at most two places is
/// that shortest form.
fn write_hundredths(out: &mut Vec<u8>, ms: f64) {
    let hundredths = (ms * 100.0).round();
    if !(0.0..1.0e12).contains(&hundredths) {
        if serde_json::to_writer(&mut *out, &(hundredths / 100.0)).is_err() {
            out.extend_from_slice(b"null");
        }
        return;
    }
    // In range and whole: the cast is exact.
    let h = hundredths as u64;
    out.extend_from_slice(itoa::Buffer::new().format(h / 100).as_bytes());
    let (tens, ones) = ((h / 10 % 10) as u8, (h % 10) as u8);
    out.push(b'.');
    out.push(b'0' + tens);
    if ones != 0 {
        out.push(b'0' + ones);
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
    fn hand_written_objects_read_as_serde_writes_them() {
        for ms in [
            0.0,
            0.004,
            0.005,
            0.05,
            0.1,
            0.3,
            1.0,
            5.0,
            12.3,
            12.34,
            12.345,
            99.99,
            99.995,
            1234.56,
            0.1 + 0.2,
            9_999_999_999.99,
            3e13,
            -1.0,
            1e20,
            f64::NAN,
        ] {
            let mut out = Vec::new();
            let mut o = Object::new(&mut out);
            o.millis("durationMs", ms);
            o.end();
            let rounded = (ms * 100.0).round() / 100.0;
            let serde = serde_json::to_vec(&json!({"durationMs": rounded})).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                String::from_utf8(serde).unwrap(),
                "{ms}"
            );
        }
        let mut out = Vec::new();
        let mut o = Object::new(&mut out);
        o.str("requestId", "r-1")
            .str("text", "say \"hi\"\\ \n\u{1}é")
            .uint("memorySizeMB", 128)
            .object("metrics", |m| {
                m.millis("durationMs", 1.5)
                    .uint("billedDurationMs", u64::MAX);
            });
        o.end();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            json!({"requestId": "r-1", "text": "say \"hi\"\\ \n\u{1}é", "memorySizeMB": 128,
                   "metrics": {"durationMs": 1.5, "billedDurationMs": u64::MAX}})
        );
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
