//! The connection as hyper sees it: a client's socket with two duties hyper has no hook for.
//!
//! - **Header deadline.** From the first byte of a request (the first read after the
//!   previous answer was written, or after connecting) to the moment hyper hands the parsed
//!   head to the service, at most `header_timeout` may pass: a head trickled byte by byte
//!   (slowloris) is cut off. hyper's own header timer, which starts as soon as a connection
//!   is ready for a request, bounds idle keep-alive connections.
//! - **Lambda's shape for hyper's own answers.** hyper answers a head it will not parse (too
//!   large, a request line too long, malformed) itself, with a bare status and no body,
//!   before any service runs; every answer of the service carries `x-amzn-RequestId`. Such a
//!   bare head is replaced with Lambda's error shape.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use crate::error::shaped_response;

/// Whether a request head is being read on a connection: set by the connection when a
/// request's first bytes arrive, cleared by the service once hyper hands it the head.
#[derive(Debug, Default)]
pub(crate) struct HeadWatch {
    reading: AtomicBool,
}

impl HeadWatch {
    /// The head was parsed and dispatched.
    pub(crate) fn dispatched(&self) {
        self.reading.store(false, Ordering::Release);
    }
}

/// A client connection.
pub(crate) struct ClientConn {
    inner: TcpStream,
    /// hyper's own answer being replaced: the replacement, and how much of it is written.
    pending: Option<(Vec<u8>, usize)>,
    head: Arc<HeadWatch>,
    header_timeout: Duration,
    /// Whether the next bytes read start a request (nothing read since the last write).
    fresh: bool,
    /// The current head's deadline, armed once its reading has to wait.
    deadline: Option<(Instant, Option<Pin<Box<Sleep>>>)>,
}

impl ClientConn {
    pub(crate) fn new(inner: TcpStream, head: Arc<HeadWatch>, header_timeout: Duration) -> Self {
        ClientConn {
            inner,
            pending: None,
            head,
            header_timeout,
            fresh: true,
            deadline: None,
        }
    }
}

impl AsyncRead for ClientConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before && this.fresh {
                    this.fresh = false;
                    this.head.reading.store(true, Ordering::Release);
                    this.deadline = Some((Instant::now() + this.header_timeout, None));
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if !this.head.reading.load(Ordering::Acquire) {
                    this.deadline = None;
                    return Poll::Pending;
                }
                let Some((at, sleep)) = &mut this.deadline else {
                    return Poll::Pending;
                };
                let sleep = sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(*at)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the request head did not arrive in time",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl ClientConn {
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

impl AsyncWrite for ClientConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.fresh = true;
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

/// Lambda's answer in place of hyper's own, if `write` is one of those.
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
