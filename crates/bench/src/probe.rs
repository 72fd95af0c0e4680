//! Sequential latencies measured with a blocking keep-alive connection on a thread of its
//! own. The async client ([`Conn`](crate::http::Conn)) hands each request to hyper's
//! connection task and back, across the bench's own worker threads: on a 2-vCPU VM those
//! wake-ups added tens of microseconds to every figure, the server's and the baselines'
//! alike. A sequential figure is the server's, not the client's, so it is taken with the
//! leanest client there is: one `write`, then `read`s until the response is whole. The bare
//! loopback round trip these figures are set beside is taken with it too.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::http::{EVENT, summary};

/// A blocking keep-alive HTTP/1.1 connection that invokes functions.
pub struct Probe {
    stream: TcpStream,
    host: String,
    buf: Vec<u8>,
}

impl Probe {
    pub fn open(addr: SocketAddr) -> anyhow::Result<Probe> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Probe {
            stream,
            host: addr.to_string(),
            buf: Vec::with_capacity(4096),
        })
    }

    /// One POST of `body` to `path`: the status, the response body and how long it took.
    pub fn post(&mut self, path: &str, body: &[u8]) -> anyhow::Result<(u16, Vec<u8>, Duration)> {
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nhost: {}\r\ncontent-length: {}\r\n\r\n",
            self.host,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        let t = Instant::now();
        self.stream.write_all(&request)?;
        self.buf.clear();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                bail!("the server closed the connection");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).context("response head")?;
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("status line")?;
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .context("a response without content-length")?;
        while self.buf.len() < head_end + length {
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                bail!("the server closed the connection");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        let took = t.elapsed();
        Ok((status, self.buf[head_end..head_end + length].to_vec(), took))
    }

    /// One invocation of `function` with [`EVENT`], which it must echo.
    pub fn invoke(&mut self, function: &str) -> anyhow::Result<Duration> {
        let path = format!("/2015-03-31/functions/{function}/invocations");
        let (status, body, took) = self.post(&path, EVENT)?;
        if status != 200 || body != EVENT && !body.starts_with(b"{\"hello\"") {
            bail!(
                "invocation of {function} answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(took)
    }
}

/// `n` sequential invocations of a warm `function`, after a tenth as many to warm it: how
/// long each took.
pub async fn warm(addr: SocketAddr, function: &str, n: usize) -> anyhow::Result<Vec<Duration>> {
    let function = function.to_string();
    tokio::task::spawn_blocking(move || {
        let mut probe = Probe::open(addr)?;
        for _ in 0..n / 10 + 1 {
            probe.invoke(&function)?;
        }
        (0..n).map(|_| probe.invoke(&function)).collect()
    })
    .await?
}

/// `n` invocations of `function`, each after `pause` without any: how long each took.
pub async fn paused(
    addr: SocketAddr,
    function: &str,
    (n, pause): (usize, Duration),
) -> anyhow::Result<Vec<Duration>> {
    let function = function.to_string();
    tokio::task::spawn_blocking(move || {
        let mut probe = Probe::open(addr)?;
        probe.invoke(&function)?;
        (0..n)
            .map(|_| {
                std::thread::sleep(pause);
                probe.invoke(&function)
            })
            .collect()
    })
    .await?
}

/// A bare loopback HTTP round trip: hyper serving an echo on this process's runtime, with
/// the same client as the sequential figures.
pub async fn bare_http_baseline(n: usize) -> anyhow::Result<Value> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(body)))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    // The same client as the sequential figures it is set beside.
    let samples = tokio::task::spawn_blocking(move || {
        let mut probe = Probe::open(addr)?;
        (0..n + n / 10)
            .map(|_| probe.post("/", EVENT).map(|(_, _, took)| took))
            .collect::<anyhow::Result<Vec<_>>>()
    })
    .await??;
    Ok(summary(samples[n / 10..].to_vec()))
}
