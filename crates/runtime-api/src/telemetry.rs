//! The Telemetry API (2022-07-01) of one environment: extensions subscribe to the
//! `platform`, `function` and `extension` streams, and each subscription's records are
//! buffered and delivered by HTTP `POST` (a JSON array) to the extension's listener inside
//! the environment, as Lambda does.
//!
//! Publishing costs one atomic load while nobody is subscribed, so the invoke path pays
//! nothing for the feature it does not use. Each subscription has a bounded queue and its
//! own delivery task: a slow or stuck listener loses records (counted, and reported to it
//! in a `platform.logsDropped` record) but never holds up the environment or the platform.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

/// How the platform opens a connection to a port inside the environment.
pub type Connect = Arc<dyn Fn(u16) -> io::Result<std::net::TcpStream> + Send + Sync>;

/// Records queued per subscription beyond which new ones are dropped.
const QUEUE_RECORDS: usize = 20_000;

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
    tx: mpsc::Sender<Value>,
    dropped: Arc<AtomicU64>,
    flush: Arc<Notify>,
}

/// The subscriptions of one environment.
#[derive(Default)]
pub struct Telemetry {
    active: AtomicBool,
    // Held only to clone senders or to add a subscription; never across an await.
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
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

impl Telemetry {
    /// Sets how deliveries reach the environment (once; the launcher knows how).
    pub fn set_connect(&self, connect: Connect) {
        let _ = self.connect.set(connect);
    }

    /// Whether anyone is subscribed to `stream`.
    pub fn wants(&self, stream: TelemetryStream) -> bool {
        self.active.load(Ordering::Relaxed)
            && self
                .subs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .any(|s| s.streams & stream.bit() != 0)
    }

    /// Publishes a record of `kind` (`platform.start`, `function`, ...) on `stream`, built
    /// only if someone listens.
    pub fn publish(&self, stream: TelemetryStream, kind: &str, record: impl FnOnce() -> Value) {
        if !self.active.load(Ordering::Relaxed) {
            return;
        }
        let subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        let mut record = Some(record);
        let mut item: Option<Value> = None;
        for sub in subs.iter().filter(|s| s.streams & stream.bit() != 0) {
            if item.is_none() {
                let body = record.take().map(|f| f()).unwrap_or(Value::Null);
                item = Some(json!({
                    "time": record_time(chrono::Utc::now()),
                    "type": kind,
                    "record": body,
                }));
            }
            if let Some(v) = &item
                && sub.tx.try_send(v.clone()).is_err()
            {
                sub.dropped.fetch_add(1, Ordering::Relaxed);
            }
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
        let (tx, rx) = mpsc::channel(QUEUE_RECORDS);
        let dropped = Arc::new(AtomicU64::new(0));
        let flush = Arc::new(Notify::new());
        let _ = tx.try_send(json!({
            "time": record_time(chrono::Utc::now()),
            "type": "platform.telemetrySubscription",
            "record": {"name": name, "state": "Subscribed", "types": types},
        }));
        tokio::spawn(deliver(Delivery {
            rx,
            buffering,
            port,
            path,
            connect,
            dropped: dropped.clone(),
            flush: flush.clone(),
        }));
        let mut subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        subs.retain(|s| s.name != name);
        subs.push(Subscription {
            name: name.to_string(),
            streams,
            tx,
            dropped,
            flush,
        });
        self.active.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Asks every subscription to deliver what it holds now.
    pub fn flush(&self) {
        for sub in self.subs.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            sub.flush.notify_one();
        }
    }

    /// Ends every subscription: what is queued is delivered if it still can be.
    pub fn close(&self) {
        self.active.store(false, Ordering::Relaxed);
        self.subs.lock().unwrap_or_else(|p| p.into_inner()).clear();
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

struct Delivery {
    rx: mpsc::Receiver<Value>,
    buffering: Buffering,
    port: u16,
    path: String,
    connect: Connect,
    dropped: Arc<AtomicU64>,
    flush: Arc<Notify>,
}

async fn deliver(mut d: Delivery) {
    let mut conn: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>> = None;
    let mut open = true;
    while open {
        let Some(first) = d.rx.recv().await else {
            return;
        };
        let mut batch = vec![first];
        let mut bytes = 0usize;
        let until = tokio::time::Instant::now() + d.buffering.timeout;
        while batch.len() < d.buffering.max_items && bytes < d.buffering.max_bytes {
            tokio::select! {
                next = d.rx.recv() => match next {
                    Some(v) => {
                        bytes += v.to_string().len();
                        batch.push(v);
                    }
                    None => { open = false; break; }
                },
                _ = tokio::time::sleep_until(until) => break,
                _ = d.flush.notified() => break,
            }
        }
        let lost = d.dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            batch.push(json!({
                "time": record_time(chrono::Utc::now()),
                "type": "platform.logsDropped",
                "record": {
                    "reason": "Some logs were dropped because the subscriber could not keep up",
                    "droppedRecords": lost,
                    "droppedBytes": 0,
                },
            }));
        }
        let body = Bytes::from(Value::Array(batch).to_string());
        if post(&mut conn, &d, body).await.is_err() {
            conn = None;
        }
    }
}

async fn post(
    conn: &mut Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
    d: &Delivery,
    body: Bytes,
) -> io::Result<()> {
    if conn.as_ref().is_none_or(|c| c.is_closed()) {
        let connect = d.connect.clone();
        let port = d.port;
        let stream = tokio::task::spawn_blocking(move || connect(port))
            .await
            .map_err(io::Error::other)??;
        stream.set_nonblocking(true)?;
        let stream = tokio::net::TcpStream::from_std(stream)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(io::Error::other)?;
        tokio::spawn(connection);
        *conn = Some(sender);
    }
    let Some(sender) = conn.as_mut() else {
        return Err(io::Error::other("no connection"));
    };
    sender.ready().await.map_err(io::Error::other)?;
    let req = Request::post(d.path.as_str())
        .header("host", format!("sandbox.localdomain:{}", d.port))
        .header("content-type", "application/json")
        .body(Full::new(body))
        .map_err(io::Error::other)?;
    let resp = sender.send_request(req).await.map_err(io::Error::other)?;
    // The body is drained so that the connection can carry the next batch.
    let _ = http_body_util::BodyExt::collect(resp.into_body()).await;
    Ok(())
}
