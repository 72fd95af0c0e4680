//! One subscription's buffer and its delivery task: records written by the publishers into
//! one growing JSON array (bounded in count and bytes), cut into batches of at most
//! `maxItems` records and `maxBytes` bytes once `timeoutMs` has passed since a batch's first
//! record (or at once when the batch is full or flushed), and posted over a kept-alive
//! connection into the environment.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::sync::Notify;

use super::record::{self, Clock, Json, TelemetryRecord};
use super::{Buffering, Connect};

/// Records held per subscription beyond which new ones are dropped.
const MAX_RECORDS: usize = 20_000;
/// Bytes held per subscription beyond which new records are dropped: a flood of long lines
/// to a slow listener costs the platform at most this much per subscription.
const MAX_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Default)]
struct Held {
    /// `[` and the records held, comma-separated: the next batch's body before its `]`.
    /// Empty when no record is held.
    body: Vec<u8>,
    /// Where each held record ends in `body`.
    ends: VecDeque<usize>,
    clock: Clock,
    /// The last batch's size: the next body is reserved at once rather than grown.
    last_batch: usize,
    dropped_records: u64,
    dropped_bytes: u64,
    flush: bool,
}

/// A subscription's records on their way to its listener.
#[derive(Debug)]
pub(super) struct Buffer {
    buffering: Buffering,
    // Held to write or take records; never across an await.
    held: Mutex<Held>,
    /// Wakes the delivery task: a batch started, is full, is flushed, or the end came.
    wake: Notify,
    closed: AtomicBool,
}

impl Buffer {
    /// A buffer and its delivery task to `port` (`path`) inside the environment.
    pub(super) fn start(
        buffering: Buffering,
        port: u16,
        path: String,
        connect: Connect,
    ) -> Arc<Buffer> {
        let buffer = Arc::new(Buffer {
            buffering,
            held: Mutex::new(Held::default()),
            wake: Notify::new(),
            closed: AtomicBool::new(false),
        });
        tokio::spawn(deliver(buffer.clone(), port, path, connect));
        buffer
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes a record that happened `at`, or counts it dropped when the buffer is full.
    pub(super) fn push(&self, at: SystemTime, record: &dyn TelemetryRecord) {
        let mut guard = self.lock();
        let held = &mut *guard;
        let start = held.body.len();
        if start == 0 {
            held.body.reserve(held.last_batch.max(4096));
            held.body.push(b'[');
        } else {
            held.body.push(b',');
        }
        record::write(&mut held.body, &mut held.clock, at, record);
        if held.ends.len() >= MAX_RECORDS || held.body.len() > MAX_BYTES {
            held.dropped_records += 1;
            held.dropped_bytes += (held.body.len() - start - 1) as u64;
            held.body.truncate(start);
            return;
        }
        held.ends.push_back(held.body.len());
        let wake = held.ends.len() == 1 || self.due(held);
        drop(guard);
        if wake {
            self.wake.notify_one();
        }
    }

    fn due(&self, held: &Held) -> bool {
        held.flush
            || held.ends.len() >= self.buffering.max_items
            || held.body.len() >= self.buffering.max_bytes
    }

    /// Delivers what is held now.
    pub(super) fn flush(&self) {
        self.lock().flush = true;
        self.wake.notify_one();
    }

    /// Delivers what is held, then stops.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn is_empty(&self) -> bool {
        self.lock().ends.is_empty()
    }

    /// Takes one batch, at most `maxItems` records and `maxBytes` bytes (always at least one
    /// record), with a `platform.logsDropped` record after them if any were dropped since the
    /// last one: the JSON array to post, or nothing when no record was waiting.
    fn take_batch(&self) -> Option<Vec<u8>> {
        let mut guard = self.lock();
        let held = &mut *guard;
        if held.ends.is_empty() && held.dropped_records == 0 {
            held.flush = false;
            return None;
        }
        let fits = held
            .ends
            .partition_point(|end| end < &self.buffering.max_bytes)
            .max(1);
        let n = fits.min(self.buffering.max_items).min(held.ends.len());
        let mut batch = if n == held.ends.len() {
            held.ends.clear();
            std::mem::take(&mut held.body)
        } else {
            // The rest starts a new array: `[` where the comma after the batch was, so the
            // rest's offsets move down by the batch's length.
            let cut = held.ends[n - 1];
            let mut rest = Vec::with_capacity(held.last_batch.max(held.body.len() - cut));
            rest.push(b'[');
            rest.extend_from_slice(&held.body[cut + 1..]);
            let mut batch = std::mem::replace(&mut held.body, rest);
            batch.truncate(cut);
            held.ends.drain(..n);
            for end in &mut held.ends {
                *end -= cut;
            }
            batch
        };
        if held.ends.is_empty() {
            held.flush = false;
        }
        if held.dropped_records > 0 {
            batch.push(if batch.is_empty() { b'[' } else { b',' });
            let dropped = Json::new(
                "platform.logsDropped",
                json!({
                    "reason": "Some logs were dropped because the subscriber could not keep up",
                    "droppedRecords": held.dropped_records,
                    "droppedBytes": held.dropped_bytes,
                }),
            );
            record::write(&mut batch, &mut held.clock, SystemTime::now(), &dropped);
            held.dropped_records = 0;
            held.dropped_bytes = 0;
        }
        held.last_batch = batch.len();
        drop(guard);
        batch.push(b']');
        Some(batch)
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn deliver(buffer: Arc<Buffer>, port: u16, path: String, connect: Connect) {
    let mut conn: Option<Sender> = None;
    loop {
        // A batch starts with its first record.
        while buffer.is_empty() {
            if buffer.is_closed() {
                return;
            }
            buffer.wake.notified().await;
        }
        // It leaves when full, flushed, ended, or `timeoutMs` after it started.
        let until = tokio::time::Instant::now() + buffer.buffering.timeout;
        while !buffer.due(&buffer.lock()) && !buffer.is_closed() {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => break,
                _ = buffer.wake.notified() => {}
            }
        }
        let Some(body) = buffer.take_batch() else {
            continue;
        };
        if post(&mut conn, port, &path, &connect, Bytes::from(body))
            .await
            .is_err()
        {
            conn = None;
        }
    }
}

async fn post(
    conn: &mut Option<Sender>,
    port: u16,
    path: &str,
    connect: &Connect,
    body: Bytes,
) -> io::Result<()> {
    if conn.as_ref().is_none_or(|c| c.is_closed()) {
        let connect = connect.clone();
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
    let req = Request::post(path)
        .header("host", format!("sandbox.localdomain:{port}"))
        .header("content-type", "application/json")
        .body(Full::new(body))
        .map_err(io::Error::other)?;
    let resp = sender.send_request(req).await.map_err(io::Error::other)?;
    // The body is drained so that the connection can carry the next batch.
    let _ = http_body_util::BodyExt::collect(resp.into_body()).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::Line;
    use std::time::Duration;

    /// A buffer whose batches are taken by the test: its delivery task waits 30 s for a
    /// batch and cannot connect anyway.
    fn unposted(max_items: usize, max_bytes: usize) -> Arc<Buffer> {
        let buffering = Buffering {
            max_items,
            max_bytes,
            timeout: Duration::from_secs(30),
        };
        let nowhere: Connect = Arc::new(|_| Err(io::Error::other("no listener")));
        Buffer::start(buffering, 1, "/".into(), nowhere)
    }

    #[tokio::test]
    async fn a_full_buffer_drops_and_says_so_in_the_next_batch() {
        let b = unposted(1000, 1_048_576);
        // No await: the delivery task has not run yet.
        for i in 0..MAX_RECORDS + 2 {
            let text = format!("r{i}");
            b.push(
                SystemTime::now(),
                &Line::new("function", text.as_bytes(), false),
            );
        }
        let batch: Vec<serde_json::Value> =
            serde_json::from_slice(&b.take_batch().unwrap()).unwrap();
        assert_eq!(batch.len(), 1001, "a full batch, then the drop record");
        assert_eq!(batch[0]["record"], "r0");
        assert_eq!(batch[999]["record"], "r999");
        let dropped = &batch[1000];
        assert_eq!(dropped["type"], "platform.logsDropped");
        assert_eq!(dropped["record"]["droppedRecords"], 2);
        assert!(dropped["record"]["droppedBytes"].as_u64().unwrap() > 0);
        let next: Vec<serde_json::Value> =
            serde_json::from_slice(&b.take_batch().unwrap()).unwrap();
        assert_eq!(next.len(), 1000);
        assert_eq!(next[0]["record"], "r1000");
        assert!(!next.iter().any(|r| r["type"] == "platform.logsDropped"));
    }

    #[tokio::test]
    async fn batches_keep_to_max_bytes_and_the_rest_follows_in_order() {
        let b = unposted(1000, 300);
        let long = "x".repeat(400);
        let texts: Vec<String> = (0..20)
            .map(|i| {
                if i == 7 {
                    long.clone()
                } else {
                    format!("r{i}")
                }
            })
            .collect();
        for text in &texts {
            b.push(
                SystemTime::now(),
                &Line::new("function", text.as_bytes(), false),
            );
        }
        let mut seen = Vec::new();
        let mut batches = 0;
        while let Some(body) = b.take_batch() {
            batches += 1;
            let batch: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
            let alone = batch.iter().any(|r| r["record"] == long.as_str());
            assert!(
                body.len() <= 300 || (alone && batch.len() == 1),
                "{batch:?}"
            );
            seen.extend(
                batch
                    .iter()
                    .map(|r| r["record"].as_str().unwrap().to_string()),
            );
        }
        assert_eq!(seen, texts, "every record once, in order");
        assert!(batches >= 4, "cut by bytes, not items: {batches} batches");
    }
}
