//! The Telemetry API (2022-07-01) of one environment: extensions subscribe to the
//! `platform`, `function` and `extension` streams, and each subscription's records are
//! buffered and delivered by HTTP `POST` (a JSON array) to the extension's listener inside
//! the environment, as Lambda does.
//!
//! Publishing costs one atomic load while nobody is subscribed, so the invoke path pays
//! nothing for the feature it does not use. A subscriber's record is written at once, as the
//! JSON Lambda delivers (`record`), into the subscription's bounded buffer (`delivery`): one
//! array the delivery task only cuts into batches; it wakes when a batch starts and when it
//! is due (full, timed out, flushed), not for each record. A slow or stuck listener loses
//! records (counted, and reported to it in a `platform.logsDropped` record) but never holds
//! up the environment or the platform.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use http::Uri;
use serde_json::{Value, json};

mod delivery;
mod record;

use delivery::Buffer;
pub use record::{Json, Line, Object, TelemetryRecord};

/// How the platform opens a connection to a port inside the environment.
pub type Connect = Arc<dyn Fn(u16) -> io::Result<std::net::TcpStream> + Send + Sync>;

/// A telemetry stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TelemetryStream {
    /// `platform.*` records.
    Platform,
    /// What the function wrote.
    Function,
    /// What extensions wrote.
    Extension,
}

impl TelemetryStream {
    fn bit(self) -> u8 {
        match self {
            TelemetryStream::Platform => 1,
            TelemetryStream::Function => 2,
            TelemetryStream::Extension => 4,
        }
    }
}

/// Why a subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeError(pub String);

/// A subscription's buffering settings, as Lambda takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Buffering {
    max_items: usize,
    max_bytes: usize,
    timeout: Duration,
}

#[derive(Debug)]
struct Subscription {
    name: String,
    streams: u8,
    buffer: Arc<Buffer>,
}

/// The subscriptions of one environment.
#[derive(Default)]
pub struct Telemetry {
    active: AtomicBool,
    // Held only to append to buffers or to add a subscription; never across an await.
    subs: Mutex<Vec<Subscription>>,
    connect: OnceLock<Connect>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// Lambda's record time: UTC, milliseconds, `Z`.
pub fn record_time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Telemetry {
    /// Sets how deliveries reach the environment (once; the launcher knows how).
    pub fn set_connect(&self, connect: Connect) {
        let _ = self.connect.set(connect);
    }

    /// Publishes a record on `stream`: `record` makes it, only if someone listens, and it is
    /// written into each listening subscription's buffer.
    pub fn publish<R: TelemetryRecord>(&self, stream: TelemetryStream, record: impl FnOnce() -> R) {
        if !self.active.load(Ordering::Relaxed) {
            return;
        }
        let subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        let mut listening = subs
            .iter()
            .filter(|s| s.streams & stream.bit() != 0)
            .peekable();
        if listening.peek().is_none() {
            return;
        }
        let record = record();
        let at = SystemTime::now();
        // Each subscription writes its own copy with its own clock: a second subscriber is
        // rare, and serializing again (about 0.2 us) costs what copying through a scratch
        // buffer would.
        for sub in listening {
            sub.buffer.push(at, &record);
        }
    }

    /// `PUT /2022-07-01/telemetry` from extension `name`: validates the subscription,
    /// replaces the extension's earlier one, and starts delivering.
    pub fn subscribe(&self, name: &str, body: &[u8]) -> Result<(), SubscribeError> {
        let (streams, types, buffering, port, path) = parse(body)?;
        let connect =
            self.connect.get().cloned().unwrap_or_else(|| {
                Arc::new(|port| std::net::TcpStream::connect(("127.0.0.1", port)))
            });
        let buffer = Buffer::start(buffering, port, path, connect);
        buffer.push(
            SystemTime::now(),
            &Json::new(
                "platform.telemetrySubscription",
                json!({"name": name, "state": "Subscribed", "types": types}),
            ),
        );
        let mut subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        for old in subs.iter().filter(|s| s.name == name) {
            old.buffer.close();
        }
        subs.retain(|s| s.name != name);
        subs.push(Subscription {
            name: name.to_string(),
            streams,
            buffer,
        });
        self.active.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Asks every subscription to deliver what it holds now.
    pub fn flush(&self) {
        for sub in self.subs.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            sub.buffer.flush();
        }
    }

    /// Ends every subscription: what is queued is delivered if it still can be.
    pub fn close(&self) {
        self.active.store(false, Ordering::Relaxed);
        for sub in self
            .subs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            sub.buffer.close();
        }
    }
}

type Parsed = (u8, Vec<String>, Buffering, u16, String);

fn parse(body: &[u8]) -> Result<Parsed, SubscribeError> {
    let bad = |m: &str| SubscribeError(m.to_string());
    let doc: Value =
        serde_json::from_slice(body).map_err(|e| bad(&format!("Invalid JSON: {e}")))?;
    match doc.get("schemaVersion").and_then(Value::as_str) {
        Some("2022-07-01" | "2022-12-13" | "2025-01-29") | None => {}
        Some(other) => return Err(bad(&format!("Unsupported schemaVersion: {other}"))),
    }
    let mut streams = 0u8;
    let mut types = Vec::new();
    for t in doc
        .get("types")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("types is required"))?
    {
        let stream = match t.as_str() {
            Some("platform") => TelemetryStream::Platform,
            Some("function") => TelemetryStream::Function,
            Some("extension") => TelemetryStream::Extension,
            _ => return Err(bad(&format!("Unknown telemetry type: {t}"))),
        };
        streams |= stream.bit();
        types.push(t.as_str().unwrap_or_default().to_string());
    }
    let b = doc.get("buffering");
    let field = |name: &str, default: u64, min: u64, max: u64| -> Result<u64, SubscribeError> {
        match b.and_then(|b| b.get(name)) {
            None => Ok(default),
            Some(v) => v
                .as_u64()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| bad(&format!("buffering.{name} must be between {min} and {max}"))),
        }
    };
    let buffering = Buffering {
        max_items: field("maxItems", 10_000, 1_000, 10_000)? as usize,
        max_bytes: field("maxBytes", 262_144, 262_144, 1_048_576)? as usize,
        timeout: Duration::from_millis(field("timeoutMs", 1_000, 25, 30_000)?),
    };
    let dest = doc
        .get("destination")
        .ok_or_else(|| bad("destination is required"))?;
    if dest.get("protocol").and_then(Value::as_str) != Some("HTTP") {
        return Err(bad("destination.protocol must be HTTP"));
    }
    let uri: Uri = dest
        .get("URI")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("destination.URI is required"))?
        .parse()
        .map_err(|_| bad("destination.URI is not a URI"))?;
    if uri.scheme_str() != Some("http")
        || !matches!(
            uri.host(),
            Some("sandbox.localdomain" | "localhost" | "127.0.0.1")
        )
    {
        return Err(bad(
            "destination.URI must be http://sandbox.localdomain:PORT/...",
        ));
    }
    let port = uri
        .port_u16()
        .ok_or_else(|| bad("destination.URI needs a port"))?;
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    Ok((streams, types, buffering, port, path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::Request;
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::TokioIo;
    use tokio::sync::mpsc;

    /// A listener that hands each POSTed body to the test.
    async fn listener() -> (u16, mpsc::UnboundedReceiver<Vec<Value>>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let (stream, _) = l.accept().await.unwrap();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let service =
                        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            let tx = tx.clone();
                            async move {
                                let body = req.into_body().collect().await.unwrap().to_bytes();
                                tx.send(serde_json::from_slice(&body).unwrap()).unwrap();
                                Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                                    Bytes::new(),
                                )))
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (port, rx)
    }

    fn subscription(port: u16, types: &[&str]) -> Vec<u8> {
        json!({
            "schemaVersion": "2022-12-13",
            "types": types,
            "buffering": {"maxItems": 1000, "maxBytes": 262144, "timeoutMs": 25},
            "destination": {"protocol": "HTTP", "URI": format!("http://sandbox.localdomain:{port}/in")},
        })
        .to_string()
        .into_bytes()
    }

    #[tokio::test]
    async fn records_of_subscribed_streams_are_delivered_in_batches() {
        let (port, mut rx) = listener().await;
        let t = Telemetry::default();
        // Nobody listens yet: nothing is built.
        t.publish(TelemetryStream::Platform, || -> Json<Value> {
            panic!("built without a subscriber")
        });
        t.subscribe("probe", &subscription(port, &["platform", "function"]))
            .unwrap();
        t.publish(TelemetryStream::Platform, || {
            Json::new("platform.start", json!({"requestId": "r1"}))
        });
        t.publish(TelemetryStream::Function, || {
            Line::new("function", b"hello", false)
        });
        t.publish(TelemetryStream::Extension, || {
            Line::new("extension", b"not asked for", false)
        });
        let mut got = Vec::new();
        while got.len() < 3 {
            got.extend(rx.recv().await.unwrap());
        }
        let types: Vec<&str> = got.iter().map(|r| r["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            [
                "platform.telemetrySubscription",
                "platform.start",
                "function"
            ]
        );
        assert_eq!(got[0]["record"]["name"], "probe");
        assert_eq!(got[1]["record"]["requestId"], "r1");
        assert_eq!(got[2]["record"], "hello");
        assert!(got[1]["time"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn subscriptions_are_checked_as_lambda_checks_them() {
        let t = Telemetry::default();
        let refused = |body: Value| t.subscribe("x", body.to_string().as_bytes()).unwrap_err().0;
        let dest = json!({"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243"});
        assert!(
            refused(
                json!({"types": ["platform"], "buffering": {"timeoutMs": 5}, "destination": dest})
            )
            .contains("timeoutMs must be between 25 and 30000")
        );
        assert!(
            refused(json!({"types": ["metrics"], "destination": dest}))
                .contains("Unknown telemetry type")
        );
        assert!(
            refused(
                json!({"types": ["platform"], "destination": {"protocol": "TCP", "port": 4243}})
            )
            .contains("protocol must be HTTP")
        );
        assert!(refused(json!({"types": ["platform"], "destination": {"protocol": "HTTP", "URI": "http://example.com:80"}}))
            .contains("sandbox.localdomain"));
        assert!(refused(json!({"types": ["platform"], "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain"}}))
            .contains("needs a port"));
        assert!(
            t.subscribe("x", b"not json")
                .unwrap_err()
                .0
                .contains("Invalid JSON")
        );
    }
}
