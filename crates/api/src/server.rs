//! The HTTP/1.1 front door: accepting connections under a cap, the timeouts that keep slow
//! or idle clients from holding them, and graceful shutdown.
//!
//! - A connection may wait at most `idle_timeout` for its next request (hyper's header
//!   timer, which runs from the moment it is ready for one to that request's whole head),
//!   and a request's head must arrive within `header_timeout` of its first byte
//!   ([`crate::conn`]).
//! - A request's body must arrive whole within `body_timeout` of its head
//!   ([`DeadlineBody`]); a late one is the client's 400.
//! - At most `max_connections` are served at once; beyond, a connection is answered
//!   Lambda's 429 (`CallerRateLimitExceeded`, with `Retry-After`) and closed.
//! - A request whose client leaves is handled to its end all the same ([`crate::finish`]).
//! - The few answers hyper writes itself (a request line or headers too large, a head it
//!   cannot parse) are rewritten into Lambda's error shape ([`crate::conn`]).

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
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::conn::{ClientConn, HeadWatch};
use crate::error::shaped_response;

/// The bounds of the front door.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// How long a connection may wait for its next request (from connecting, or from its
    /// previous answer, to the next request's whole head).
    pub idle_timeout: Duration,
    /// From a request's first byte to its whole head.
    pub header_timeout: Duration,
    /// From a request's head to the end of its body.
    pub body_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            idle_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(10),
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
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
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
        let head = Arc::new(HeadWatch::default());
        let watch = head.clone();
        let router = app.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            watch.dispatched();
            // Here rather than as a layer: each layer boxes every request's future.
            let mut req =
                req.map(|body| Body::new(DeadlineBody::new(Body::new(body), body_timeout)));
            // Function URLs give the function its caller's address.
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            let mut router = router.clone();
            // A client that leaves does not cut its request's work off halfway.
            crate::finish::Finish::new(async move {
                tower_service::Service::call(&mut router, req).await
            })
        });
        let conn = builder.serve_connection(
            TokioIo::new(ClientConn::new(stream, head, limits.header_timeout)),
            service,
        );
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

/// Adds `x-amzn-RequestId` to an answer that has none, as AWS answers every request with
/// one (and [`crate::conn`] tells the service's answers from hyper's by it).
pub(crate) fn add_request_id(resp: &mut axum::response::Response) {
    if !resp.headers().contains_key("x-amzn-requestid")
        && let Ok(v) = HeaderValue::from_str(&lamina_model::new_id())
    {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
}
