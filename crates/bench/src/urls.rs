//! The front door's costs: a function URL against Invoke of the same function with the same
//! event in the same run (warm p50, and throughput at 8 clients), and SigV4 verification of a signed Invoke
//! request, measured in process.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::bail;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::http::{Conn, EVENT, summary};
use crate::procfs::tree_cpu_ms;

/// How a request reaches the echo: through its URL at a path (`/lambda-url/<id>/...`), or
/// through Invoke with a payload.
#[derive(Debug, Clone)]
enum Way {
    Url(String),
    Invoke(String, Bytes),
}

impl Way {
    /// One request; its time and the echo's answer.
    async fn once(&self, conn: &mut Conn) -> anyhow::Result<(Duration, Bytes)> {
        let t = Instant::now();
        let json = [("content-type", "application/json")];
        let (status, _, body) = match self {
            Way::Url(path) => {
                conn.request("POST", path, Bytes::from_static(EVENT), &json)
                    .await?
            }
            Way::Invoke(function, payload) => {
                let path = format!("/2015-03-31/functions/{function}/invocations");
                conn.request("POST", &path, payload.clone(), &json).await?
            }
        };
        let took = t.elapsed();
        // The echo answers the URL's event, which carries the body it was sent.
        if status != 200 || !body.windows(7).any(|w| w == b"\"hello\\") {
            bail!(
                "{self:?} answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok((took, body))
    }

    /// `warm` sequential requests (after a tenth discarded), then `seconds` of 8 clients:
    /// the warm summary and the rate.
    async fn measure(
        &self,
        addr: SocketAddr,
        warm: usize,
        seconds: f64,
        server: Option<u32>,
    ) -> anyhow::Result<Value> {
        let mut conn = Conn::open(addr).await?;
        for _ in 0..warm / 10 + 1 {
            self.once(&mut conn).await?;
        }
        let mut samples = Vec::with_capacity(warm);
        for _ in 0..warm {
            samples.push(self.once(&mut conn).await?.0);
        }
        let cpu_before = server.map(tree_cpu_ms);
        let deadline = Instant::now() + Duration::from_secs_f64(seconds);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let way = self.clone();
            tasks.push(tokio::spawn(async move {
                let mut conn = Conn::open(addr).await?;
                let mut n = 0usize;
                while Instant::now() < deadline {
                    way.once(&mut conn).await?;
                    n += 1;
                }
                anyhow::Ok(n)
            }));
        }
        let started = Instant::now();
        let mut total = 0;
        for t in tasks {
            total += t.await??;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = cpu_before.zip(server.map(tree_cpu_ms)).map(|(a, b)| b - a);
        Ok(json!({
            "warm": summary(samples),
            "per_second_8_clients": total as f64 / elapsed,
            "cpu_ms_per_1000": cpu.map(|c| c * 1000.0 / total.max(1) as f64),
        }))
    }
}

/// Gives `function` a URL, then measures `warm` sequential requests and `seconds` of 8
/// clients through it, and as many through Invoke with the same event.
pub async fn function_url(
    addr: SocketAddr,
    function: &str,
    warm: usize,
    seconds: f64,
    server: Option<u32>,
) -> anyhow::Result<Value> {
    let mut conn = Conn::open(addr).await?;
    let (status, _, made) = conn
        .request(
            "POST",
            &format!("/2021-10-31/functions/{function}/url"),
            Bytes::from_static(br#"{"AuthType":"NONE"}"#),
            &[("content-type", "application/json")],
        )
        .await?;
    if status != 201 {
        bail!(
            "CreateFunctionUrlConfig answered {status}: {}",
            String::from_utf8_lossy(&made)
        );
    }
    let made: Value = serde_json::from_slice(&made)?;
    let id = made["FunctionUrl"]
        .as_str()
        .and_then(|u| u.split("//").nth(1))
        .and_then(|h| h.split('.').next())
        .unwrap_or_default()
        .to_string();
    let url = Way::Url(format!("/lambda-url/{id}/bench"));
    // The same work for the function through Invoke: the event the URL hands it (which the
    // echo answers with), so that the difference is the URL layer's.
    let (_, event) = url.once(&mut conn).await?;
    let invoke = Way::Invoke(function.to_string(), event);
    let through_url = url.measure(addr, warm, seconds, server).await?;
    let through_invoke = invoke.measure(addr, warm, seconds, server).await?;
    Ok(json!({
        "url": through_url,
        "invoke_same_event": through_invoke,
    }))
}

/// Microseconds to verify the SigV4 signature of a signed Invoke request (the median of
/// rounds of many verifications).
pub fn sigv4_verify_us() -> Value {
    let creds = lamina_sigv4::Credentials {
        access_key_id: "AKIDBENCH".into(),
        secret_access_key: "bench/secret".into(),
        session_token: None,
    };
    let ring = lamina_sigv4::KeyRing::parse(
        "[bench]\naws_access_key_id = AKIDBENCH\naws_secret_access_key = bench/secret\n",
    )
    .expect("a key ring");
    let path = "/2015-03-31/functions/bench-echo/invocations";
    let mut headers = http::HeaderMap::new();
    headers.insert("host", http::HeaderValue::from_static("127.0.0.1:9000"));
    headers.insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    let now = chrono_now();
    lamina_sigv4::sign(
        lamina_sigv4::Unsigned {
            method: "POST",
            path,
            query: "",
            headers: &mut headers,
            body: EVENT,
        },
        &creds,
        "us-east-1",
        "lambda",
        now.0,
    );
    let req = lamina_sigv4::Request {
        method: "POST",
        path,
        query: "",
        headers: &headers,
        body: EVENT,
    };
    let rounds = 15;
    let per_round = 2000;
    let mut medians = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..per_round {
            let ok = lamina_sigv4::verify(&req, |k| ring.secret(k).map(str::to_string), now.1);
            assert!(ok.is_ok(), "the bench's own signature verifies");
        }
        medians.push(t.elapsed().as_secs_f64() * 1e6 / per_round as f64);
    }
    medians.sort_by(f64::total_cmp);
    json!({
        "verify_us_p50": medians[rounds / 2],
        "verify_us_min": medians[0],
    })
}

/// Now, as the signer and the verifier take it.
fn chrono_now() -> (chrono::DateTime<chrono::Utc>, i64) {
    let now = chrono::Utc::now();
    (now, now.timestamp())
}
