//! The bench's own HTTP client: keep-alive HTTP/1.1 connections made with hyper, the
//! percentiles it reports, and the same-run baselines (a bare loopback round trip, a bare
//! process start of each runtime).

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::bail;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// The event every echo function gets, and answers with.
pub const EVENT: &[u8] = br#"{"hello":"world","n":42}"#;

/// A keep-alive HTTP/1.1 connection.
pub struct Conn {
    pub sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    pub host: String,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Conn> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Conn {
            sender,
            host: addr.to_string(),
        })
    }

    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Bytes,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<(u16, http::HeaderMap, Bytes)> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.sender.ready().await?;
        let resp = self.sender.send_request(req.body(Full::new(body))?).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, headers, body))
    }

    pub async fn invoke(&mut self, function: &str) -> anyhow::Result<Duration> {
        let path = format!("/2015-03-31/functions/{function}/invocations");
        let t = Instant::now();
        let (status, _, body) = self
            .request("POST", &path, Bytes::from_static(EVENT), &[])
            .await?;
        let took = t.elapsed();
        if status != 200 || body.as_ref() != EVENT && !body.starts_with(b"{\"hello\"") {
            bail!(
                "invocation of {function} answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(took)
    }
}

/// Percentile of sorted durations, in microseconds.
pub fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

pub fn summary(mut samples: Vec<Duration>) -> Value {
    samples.sort();
    json!({
        "n": samples.len(),
        "p50_us": pct(&samples, 50.0),
        "p99_us": pct(&samples, 99.0),
        "p999_us": pct(&samples, 99.9),
    })
}

pub fn spawn_baseline(program: &str, args: &[&str]) -> Option<f64> {
    let mut samples = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let ok = Command::new(program)
            .args(args)
            .env_clear()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        if !ok.success() {
            return None;
        }
        samples.push(t.elapsed());
    }
    samples.sort();
    Some(samples[samples.len() / 2].as_secs_f64() * 1000.0)
}
