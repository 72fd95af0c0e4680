//! One subscription's buffer and its delivery task: records appended by the publishers
//! (bounded in count and bytes), taken in batches of at most `maxItems` records and
//! `maxBytes` bytes once `timeoutMs` has passed since a batch's first record (or at once when
//! the batch is full or flushed), serialized into one JSON array, and posted over a
//! kept-alive connection into the environment.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::sync::Notify;

use super::record::{Json, Queued};
use super::{Buffering, Connect};

/// Records held per subscription beyond which new ones are dropped.
const MAX_RECORDS: usize = 20_000;
/// Bytes held per subscription beyond which new records are dropped: a flood of long lines
/// to a slow listener costs the platform at most this much per subscription.
const MAX_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Default)]
struct Held {
    records: VecDeque<Queued>,
    bytes: usize,
    dropped_records: u64,
    dropped_bytes: u64,
    flush: bool,
}

/// A subscription's records on their way to its listener.
#[derive(Debug)]
pub(super) struct Buffer {
    buffering: Buffering,
    // Held to append or take records; never across an await.
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

    /// Appends a record, or counts it dropped when the buffer is full.
    pub(super) fn push(&self, record: Queued) {
        let size = record.size();
        let mut held = self.lock();
        if held.records.len() >= MAX_RECORDS || held.bytes + size > MAX_BYTES {
            held.dropped_records += 1;
            held.dropped_bytes += size as u64;
            return;
        }
        held.records.push_back(record);
        held.bytes += size;
        let wake = held.records.len() == 1 || self.due(&held);
        drop(held);
        if wake {
            self.wake.notify_one();
        }
    }

    fn due(&self, held: &Held) -> bool {
        held.flush
            || held.records.len() >= self.buffering.max_items
            || held.bytes >= self.buffering.max_bytes
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

    /// Takes one batch, at most `maxItems` records and about `maxBytes` bytes, with a
    /// `platform.logsDropped` record after them if any were dropped since the last one, and
    /// serializes it: the JSON array to post, or nothing when no record was waiting.
    fn take_batch(&self) -> Option<Vec<u8>> {
        let mut batch = Vec::new();
        let mut bytes = 0;
        {
            let mut held = self.lock();
            while batch.len() < self.buffering.max_items && bytes < self.buffering.max_bytes {
                let Some(record) = held.records.pop_front() else {
                    break;
                };
                bytes += record.size();
                batch.push(record);
            }
            held.bytes -= bytes;
            if held.records.is_empty() {
                held.flush = false;
            }
            if held.dropped_records > 0 {
                batch.push(Queued::now(Json::new(
                    "platform.logsDropped",
                    json!({
                        "reason": "Some logs were dropped because the subscriber could not keep up",
                        "droppedRecords": held.dropped_records,
                        "droppedBytes": held.dropped_bytes,
                    }),
                )));
                held.dropped_records = 0;
                held.dropped_bytes = 0;
            }
        }
        if batch.is_empty() {
            return None;
        }
        // Serialized outside the lock.
        Some(Queued::json_array(&batch, bytes))
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn deliver(buffer: Arc<Buffer>, port: u16, path: String, connect: Connect) {
    let mut conn: Option<Sender> = None;
    loop {
        // A batch starts with its first record.
        while buffer.lock().records.is_empty() {
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

    #[tokio::test]
    async fn a_full_buffer_drops_and_says_so_in_the_next_batch() {
        let buffering = Buffering {
            max_items: 1000,
            max_bytes: 1_048_576,
            timeout: Duration::from_secs(30),
        };
        let nowhere: Connect = Arc::new(|_| Err(io::Error::other("no listener")));
        let b = Buffer::start(buffering, 1, "/".into(), nowhere);
        // No await: the delivery task has not run yet.
        for i in 0..MAX_RECORDS + 2 {
            b.push(Queued::now(Line::new(
                "function",
                format!("r{i}").as_bytes(),
                false,
            )));
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
}
