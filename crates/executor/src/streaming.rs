//! Relaying a streamed response from an environment's Runtime API to the caller, chunk by
//! chunk, within the function's deadline; or, for a caller that did not ask for a stream
//! (plain Invoke of a streaming function), gathering it into one buffered payload as Lambda
//! does, within the buffered limit.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use lamina_runtime_api::{ResponseStream, StreamEnd};
use tokio::sync::mpsc;

/// What a streaming caller receives, in order: `Start` once the function begins its
/// response, then its chunks. How the invocation ended is in its result.
#[derive(Debug, Clone)]
pub enum StreamEvent {
    /// The function began a streamed response, with this content type.
    Start {
        /// The runtime's `Content-Type`.
        content_type: Option<String>,
        /// The version that runs.
        executed_version: String,
    },
    /// A chunk of the response body.
    Chunk(Bytes),
}

/// Where a streaming caller receives its [`StreamEvent`]s.
pub type StreamSink = mpsc::Sender<StreamEvent>;

/// How relaying ended.
#[derive(Debug)]
pub(crate) enum Relayed {
    /// The stream ended (streamed to a sink, so nothing is left to hand back).
    Streamed(StreamEnd),
    /// Gathered whole for a caller without a sink.
    Gathered(Bytes),
    /// Gathered for a caller without a sink, and larger than a buffered answer may be.
    GatheredTooLarge,
    /// The deadline passed first.
    TimedOut,
}

/// Relays `stream` into `sink` (or gathers it, up to `max_gathered` bytes, when there is
/// none) until its end or `deadline`. A sink whose reader went away is written no more; the
/// stream is still read to its end, as the function runs to its end.
pub(crate) async fn relay(
    mut stream: ResponseStream,
    sink: Option<&StreamSink>,
    deadline: Instant,
    max_gathered: usize,
    executed_version: &str,
) -> Relayed {
    let deadline = tokio::time::Instant::from_std(deadline);
    let mut sink = sink.cloned();
    if let Some(s) = &sink
        && s.send(StreamEvent::Start {
            content_type: stream.content_type.clone(),
            executed_version: executed_version.to_string(),
        })
        .await
        .is_err()
    {
        sink = None;
    }
    let gather = sink.is_none();
    let mut gathered = BytesMut::new();
    let mut too_large = false;
    loop {
        let chunk = tokio::select! {
            c = stream.chunks.recv() => c,
            _ = tokio::time::sleep_until(deadline) => return Relayed::TimedOut,
        };
        let Some(chunk) = chunk else { break };
        if gather {
            if gathered.len() + chunk.len() > max_gathered {
                too_large = true;
            } else {
                gathered.extend_from_slice(&chunk);
            }
        } else if let Some(s) = &sink
            && s.send(StreamEvent::Chunk(chunk)).await.is_err()
        {
            sink = None;
        }
    }
    let end = tokio::select! {
        e = &mut stream.end => e.unwrap_or(StreamEnd::Broken),
        _ = tokio::time::sleep_until(deadline) => return Relayed::TimedOut,
    };
    match end {
        StreamEnd::Complete | StreamEnd::TooLarge if gather && too_large => {
            Relayed::GatheredTooLarge
        }
        StreamEnd::Complete if gather => Relayed::Gathered(gathered.freeze()),
        end => Relayed::Streamed(end),
    }
}
