//! The HTTP/1.1 front door: accepting connections under a cap, the timeouts that keep slow
//! or idle clients from holding them, and graceful shutdown.
//!
//! - A connection must deliver each complete request head within `header_timeout` of
//!   becoming ready for one (after connecting, or after its previous answer): this closes
//!   both idle keep-alive connections and slowloris heads.
//! - A request's body must arrive whole within `body_timeout` of its head
//!   ([`DeadlineBody`]); a late one is the client's 400.
//! - At most `max_connections` are served at once; beyond, a connection is answered
//!   Lambda's 429 (`CallerRateLimitExceeded`, with `Retry-After`) and closed.
//! - The few answers hyper writes itself (a request line or headers too large, a head it
//!   cannot parse) are rewritten into Lambda's error shape ([`ShapedParseErrors`]).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request};
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// The bounds of the front door.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// From a connection becoming ready for a request to that request's whole head.
    pub header_timeout: Duration,
    /// From a request's head to the end of its body.
    pub body_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            max_connections: 4096,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, lets
/// in-flight requests finish for up to `grace`, and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let body_timeout = limits.body_timeout;
    let app = app.layer(axum::middleware::map_request(
        move |req: Request<Body>| async move {
            req.map(|body| Body::new(DeadlineBody::new(body, body_timeout)))
        },
    ));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: keep serving
                    // the others; a short pause lets descriptors come back.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let conn = builder.serve_connection(TokioIo::new(ShapedParseErrors::new(stream)), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!("in-flight requests did not finish within {grace:?}; stopping anyway");
        }
    }
    Ok(())
}

/// Lambda's error answer, as a whole HTTP/1.1 response that closes the connection.
fn shaped_response(status: &str, error_type: &str, message: &str, extra: &str) -> Vec<u8> {
    let body = serde_json::json!({"Type": "User", "message": message}).to_string();
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nx-amzn-errortype: {error_type}\r\n\
         x-amzn-requestid: {}\r\n{extra}connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        lamina_model::new_id(),
        body.len()
    )
    .into_bytes()
}

async fn refuse(mut stream: TcpStream) {
    let answer = shaped_response(
        "429 Too Many Requests",
        "TooManyRequestsException",
        "Too many connections to this server; retry shortly.",
        "retry-after: 1\r\n",
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(&answer).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// A request body that must end within a deadline counted from its request's head. The timer
/// is armed only once the body has to be waited for, so bodies that arrived with their head
/// (nearly all) cost none.
struct DeadlineBody {
    inner: Body,
    limit: Duration,
    started: tokio::time::Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl DeadlineBody {
    fn new(inner: Body, limit: Duration) -> DeadlineBody {
        DeadlineBody {
            inner,
            limit,
            started: tokio::time::Instant::now(),
            sleep: None,
        }
    }
}

/// The error a late body ends with.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
struct BodyTimedOut(Duration);

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        let (started, limit) = (this.started, this.limit);
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(started + limit)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut(limit))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The connection as hyper sees it. hyper answers a head it will not parse (too large, a
/// request line too long, malformed) itself, with a bare status and no body, before any
/// service runs; every answer of the service carries `x-amzn-RequestId`. A response head
/// written without it is therefore hyper's, and is replaced with Lambda's error shape.
struct ShapedParseErrors {
    inner: TcpStream,
    /// The replacement being written, and how much of it is written.
    pending: Option<(Vec<u8>, usize)>,
}

impl ShapedParseErrors {
    fn new(inner: TcpStream) -> ShapedParseErrors {
        ShapedParseErrors {
            inner,
            pending: None,
        }
    }
}

/// Lambda's answer in place of hyper's own, if `head` is one of those.
fn replacement(write: &[u8]) -> Option<Vec<u8>> {
    // hyper's own answer is a bare head, written whole: a status line, `content-length: 0`
    // and the date, nothing after. A 200's head fails the first comparison, so the writes
    // of every ordinary answer cost one compare of a dozen bytes.
    let status = write.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
    let (line, error_type, message) = match status {
        b"414" => (
            "414 URI Too Long",
            "RequestTooLargeException",
            "The request line is too long.",
        ),
        b"431" => (
            "431 Request Header Fields Too Large",
            "RequestTooLargeException",
            "The request's headers are too large.",
        ),
        b"400" => (
            "400 Bad Request",
            "InvalidRequestContentException",
            "The request could not be parsed as HTTP/1.1.",
        ),
        _ => return None,
    };
    let has = |needle: &[u8]| {
        write
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
    };
    let bare = write.len() <= 512
        && write.ends_with(b"\r\n\r\n")
        && has(b"\r\ncontent-length: 0\r\n")
        && !has(b"x-amzn-requestid:");
    bare.then(|| shaped_response(line, error_type, message, ""))
}

impl AsyncRead for ShapedParseErrors {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl ShapedParseErrors {
    /// Writes what is left of the replacement; `Ready(Ok(()))` once all of it is out.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some((answer, written)) = &mut self.pending else {
            return Poll::Ready(Ok(()));
        };
        while *written < answer.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &answer[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ShapedParseErrors {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_none() {
            match replacement(buf) {
                Some(answer) => this.pending = Some((answer, 0)),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        // hyper's own answer is its last on this connection: it and what follows are
        // replaced, reported as written.
        this.poll_pending(cx).map_ok(|()| buf.len())
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_none() {
            match bufs
                .iter()
                .find(|b| !b.is_empty())
                .and_then(|b| replacement(b))
            {
                Some(answer) => this.pending = Some((answer, 0)),
                None => return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs),
            }
        }
        let total = bufs.iter().map(|b| b.len()).sum();
        this.poll_pending(cx).map_ok(|()| total)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Adds `x-amzn-RequestId` to an answer that has none, as AWS answers every request with
/// one (and [`ShapedParseErrors`] tells the service's answers from hyper's by it).
pub(crate) async fn request_id(
    req: Request<Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut resp = next.run(req).await;
    if !resp.headers().contains_key("x-amzn-requestid")
        && let Ok(v) = HeaderValue::from_str(&lamina_model::new_id())
    {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}
