//! Streamed responses: `POST /runtime/invocation/{id}/response` with
//! `Lambda-Runtime-Function-Response-Mode: streaming`. The body's chunks are handed on as
//! they arrive (the caller's first byte does not wait for the handler's end), up to
//! [`STREAM_MAX_BYTES`]; an error the runtime reports mid-stream comes as the trailers
//! `Lambda-Runtime-Function-Error-Type` and `Lambda-Runtime-Function-Error-Body` (base64).

use base64::Engine;
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::{mpsc, oneshot};

/// Largest streamed response, as Lambda allows (200 MB).
pub const STREAM_MAX_BYTES: usize = 200 * 1024 * 1024;

/// A response being streamed by the runtime.
#[derive(Debug)]
pub struct ResponseStream {
    /// The runtime's `Content-Type` (for function URLs,
    /// `application/vnd.awslambda.http-integration-response`).
    pub content_type: Option<String>,
    /// The body's chunks, in order; closed at the body's end.
    pub chunks: mpsc::Receiver<Bytes>,
    /// How the body ended, sent once `chunks` is closed.
    pub end: oneshot::Receiver<StreamEnd>,
}

/// How a streamed body ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEnd {
    /// Whole, without an error.
    Complete,
    /// Whole, with the error the runtime reported in its trailers.
    Error {
        /// `Lambda-Runtime-Function-Error-Type`.
        error_type: String,
        /// The error document (`Lambda-Runtime-Function-Error-Body`, decoded).
        body: Bytes,
    },
    /// Larger than [`STREAM_MAX_BYTES`]: cut there.
    TooLarge,
    /// The runtime's connection broke before the body's end.
    Broken,
}

/// The channels of a new stream: what the runtime side writes into, and what the reader
/// gets.
pub(crate) fn channel(content_type: Option<String>) -> (Writer, ResponseStream) {
    // A few chunks of slack: beyond, the runtime's writes wait for the reader (TCP
    // backpressure all the way to the function).
    let (tx, chunks) = mpsc::channel(16);
    let (end_tx, end) = oneshot::channel();
    (
        Writer { tx, end: end_tx },
        ResponseStream {
            content_type,
            chunks,
            end,
        },
    )
}

/// The runtime's side of a stream.
pub(crate) struct Writer {
    tx: mpsc::Sender<Bytes>,
    end: oneshot::Sender<StreamEnd>,
}

impl Writer {
    /// Moves `body` into the stream until its end; returns how it ended. A reader that went
    /// away does not stop the reading: the function runs to its end, as on Lambda.
    pub(crate) async fn pump(self, mut body: Incoming) -> StreamEnd {
        let mut total = 0usize;
        let mut reader = Some(self.tx);
        let ended = loop {
            match body.frame().await {
                None => break StreamEnd::Complete,
                Some(Err(_)) => break StreamEnd::Broken,
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        total += data.len();
                        if total > STREAM_MAX_BYTES {
                            break StreamEnd::TooLarge;
                        }
                        if let Some(tx) = &reader
                            && tx.send(data).await.is_err()
                        {
                            reader = None;
                        }
                    }
                    Err(frame) => {
                        if let Some(trailers) = frame.trailers_ref()
                            && let Some(error) = error_of(trailers)
                        {
                            break error;
                        }
                    }
                },
            }
        };
        drop(reader);
        let _ = self.end.send(ended.clone());
        ended
    }
}

/// The error reported in a stream's trailers, if any.
fn error_of(trailers: &HeaderMap) -> Option<StreamEnd> {
    let text = |name: &str| {
        trailers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let error_type = text("lambda-runtime-function-error-type")?;
    let body = text("lambda-runtime-function-error-body")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(Bytes::from)
        .unwrap_or_else(|| {
            Bytes::from(
                serde_json::json!({ "errorType": error_type, "errorMessage": "" }).to_string(),
            )
        });
    Some(StreamEnd::Error { error_type, body })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use http::Request;
    use http_body_util::StreamBody;
    use hyper::body::Frame;
    use hyper_util::rt::TokioIo;
    use tokio::sync::oneshot;

    use super::*;
    use crate::{Invocation, Reply, Session};

    /// A runtime streams two chunks and ends with error trailers: the reader gets the chunks
    /// as they come, then the error.
    #[tokio::test]
    async fn chunks_then_trailers_reach_the_reader() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let session = Arc::new(Session::new());
        tokio::spawn(crate::serve(
            listener,
            session.clone(),
            1024,
            crate::ConnectionBudget::default().for_environment(),
        ));
        let (ptx, _prx) = oneshot::channel();
        let (rtx, rrx) = oneshot::channel();
        session
            .assign(Invocation {
                request_id: "req-s".into(),
                payload: Bytes::from_static(b"{}"),
                timeout: Duration::from_secs(3),
                invoked_function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
                trace_id: "Root=1-0-0".into(),
                client_context: None,
                picked_up: ptx,
                reply: rtx,
                on_pickup: None,
            })
            .unwrap();
        let next = reqwest::get(format!("http://{addr}/2018-06-01/runtime/invocation/next"))
            .await
            .unwrap();
        assert_eq!(next.status(), 200);

        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let (frames_tx, frames_rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
        let body = StreamBody::new(tokio_stream_of(frames_rx));
        let req = Request::post("/2018-06-01/runtime/invocation/req-s/response")
            .header("host", "runtime")
            .header("lambda-runtime-function-response-mode", "streaming")
            .header("content-type", "text/plain")
            .header("transfer-encoding", "chunked")
            .header(
                "trailer",
                "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body",
            )
            .body(body)
            .unwrap();
        let answered = tokio::spawn(async move { send.send_request(req).await.unwrap().status() });
        frames_tx
            .send(Ok(Frame::data(Bytes::from_static(b"one "))))
            .await
            .unwrap();
        let Reply::Stream(mut stream) = rrx.await.unwrap() else {
            panic!("expected a stream");
        };
        assert_eq!(stream.content_type.as_deref(), Some("text/plain"));
        // The first chunk arrives while the body is still open.
        assert_eq!(stream.chunks.recv().await.unwrap(), "one ");
        frames_tx
            .send(Ok(Frame::data(Bytes::from_static(b"two"))))
            .await
            .unwrap();
        let mut trailers = HeaderMap::new();
        trailers.insert(
            "lambda-runtime-function-error-type",
            "TypeError".parse().unwrap(),
        );
        trailers.insert(
            "lambda-runtime-function-error-body",
            base64::engine::general_purpose::STANDARD
                .encode(br#"{"errorType":"TypeError","errorMessage":"late"}"#)
                .parse()
                .unwrap(),
        );
        frames_tx.send(Ok(Frame::trailers(trailers))).await.unwrap();
        drop(frames_tx);
        assert_eq!(stream.chunks.recv().await.unwrap(), "two");
        assert!(stream.chunks.recv().await.is_none());
        match stream.end.await.unwrap() {
            StreamEnd::Error { error_type, body } => {
                assert_eq!(error_type, "TypeError");
                assert!(String::from_utf8_lossy(&body).contains("late"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(answered.await.unwrap(), 202);
    }

    /// A stream of the receiver's items.
    fn tokio_stream_of<T: Send + 'static>(
        rx: mpsc::Receiver<T>,
    ) -> impl futures_util::Stream<Item = T> {
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|t| (t, rx)) })
    }
}
