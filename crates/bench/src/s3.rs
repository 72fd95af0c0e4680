//! The S3 service's speed, measured from outside the server with keep-alive connections in
//! virtual-host style (unsigned, as a server without `--credentials` takes them): PUT and
//! GET of 4 KB and 1 MB objects from several clients (objects/s, MB/s, each request's
//! time; every PUT is synced before its answer), and the time from a PUT's answer to the
//! invocation its bucket notification causes (seen when the function's OnSuccess
//! destination message can be received). Beside them, in the same run: the bare write, sync
//! and rename of a 4 KB file in the data directory's file system, which bounds a PUT; and,
//! with `--s3-peer`, the same PUTs and GETs against another S3-compatible server.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::bail;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::http::{Conn, summary};
use crate::sqs::call;

/// Where a scenario sends: the server, and how it names a bucket.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// Virtual-host style (`bucket.s3.localhost`) for Lamina; path style for a peer.
    pub virtual_host: bool,
}

impl Target {
    async fn conn(&self, bucket: &str) -> anyhow::Result<Conn> {
        let mut conn = Conn::open(self.addr).await?;
        if self.virtual_host {
            conn.host = format!("{bucket}.s3.localhost:{}", self.addr.port());
        }
        Ok(conn)
    }

    fn path(&self, bucket: &str, key: &str) -> String {
        if self.virtual_host {
            format!("/{key}")
        } else {
            format!("/{bucket}/{key}")
        }
    }
}

async fn s3(
    conn: &mut Conn,
    method: &str,
    path: &str,
    body: Bytes,
) -> anyhow::Result<(u16, Bytes)> {
    // A type, as the SDKs send one (a peer refuses some untyped PUTs).
    let (status, _, answer) = conn
        .request(
            method,
            path,
            body,
            &[("content-type", "application/octet-stream")],
        )
        .await?;
    Ok((status, answer))
}

/// Keys each client cycles through.
const KEYS: usize = 64;

/// `clients` connections PUT (then GET) objects of `size` bytes for `seconds` each.
async fn put_get(
    t: &Target,
    bucket: &str,
    size: usize,
    clients: usize,
    seconds: f64,
) -> anyhow::Result<Value> {
    let body = Bytes::from(vec![b'x'; size]);
    let mut report = json!({"size_bytes": size, "clients": clients});
    // How many keys each client wrote (at most 64): its GETs read back only those, so that a
    // slow store's short PUT phase is not read past its end.
    let mut written = vec![KEYS; clients];
    for method in ["PUT", "GET"] {
        let deadline = Instant::now() + Duration::from_secs_f64(seconds);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for (c, keys) in written.iter().map(|n| (*n).max(1)).enumerate() {
            let (t, bucket, body) = (t.clone(), bucket.to_string(), body.clone());
            tasks.push(tokio::spawn(async move {
                let mut conn = t.conn(&bucket).await?;
                let mut samples = Vec::new();
                let mut i = 0usize;
                while Instant::now() < deadline {
                    // GETs read back the keys the PUTs wrote (at least the first ones).
                    let key = format!("o-{size}-{c}-{}", i % keys);
                    let path = t.path(&bucket, &key);
                    let sent = if method == "PUT" {
                        body.clone()
                    } else {
                        Bytes::new()
                    };
                    let start = Instant::now();
                    // A server that closes connections (some peers do) is reconnected to,
                    // inside the request's time.
                    let (status, answer) = match s3(&mut conn, method, &path, sent.clone()).await {
                        Ok(answer) => answer,
                        Err(_) => {
                            conn = t.conn(&bucket).await?;
                            s3(&mut conn, method, &path, sent).await?
                        }
                    };
                    if status != 200 || (method == "GET" && answer.len() != size) {
                        bail!(
                            "{method} {path} answered {status} with {} bytes",
                            answer.len()
                        );
                    }
                    samples.push(start.elapsed());
                    i += 1;
                }
                anyhow::Ok(samples)
            }));
        }
        let mut all = Vec::new();
        for (c, task) in tasks.into_iter().enumerate() {
            let samples = task.await??;
            if method == "PUT" {
                written[c] = samples.len().min(KEYS);
            }
            all.extend(samples);
        }
        let took = started.elapsed().as_secs_f64();
        let n = all.len();
        let mut figures = summary(all);
        figures["per_second"] = json!(n as f64 / took);
        figures["mb_per_second"] = json!((n * size) as f64 / took / 1e6);
        report[method.to_ascii_lowercase()] = figures;
    }
    Ok(report)
}

/// PUT/GET figures of 4 KB and 1 MB objects against `t`, in a new bucket.
pub async fn throughput(
    t: &Target,
    bucket: &str,
    clients: usize,
    seconds: f64,
) -> anyhow::Result<Value> {
    let mut conn = t.conn(bucket).await?;
    let path = if t.virtual_host {
        "/".to_string()
    } else {
        format!("/{bucket}")
    };
    let (status, answer) = s3(&mut conn, "PUT", &path, Bytes::new()).await?;
    if status != 200 {
        bail!(
            "CreateBucket answered {status}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    Ok(json!({
        "4KB": put_get(t, bucket, 4 * 1024, clients, seconds).await?,
        "1MB": put_get(t, bucket, 1024 * 1024, clients.min(4), seconds).await?,
    }))
}

async fn api(
    conn: &mut Conn,
    method: &str,
    path: &str,
    body: Value,
    expect: u16,
) -> anyhow::Result<Value> {
    let (status, _, answer) = conn
        .request(
            method,
            path,
            Bytes::from(body.to_string()),
            &[("content-type", "application/json")],
        )
        .await?;
    if status != expect {
        bail!(
            "{method} {path} answered {status}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    Ok(serde_json::from_slice(&answer).unwrap_or(Value::Null))
}

/// From each PUT's answer to its notification's invocation having ended (its OnSuccess
/// record received from a queue), `n` times one after another, on `function`.
pub async fn upload_to_invocation(
    addr: SocketAddr,
    function: &str,
    n: usize,
    tag: u32,
) -> anyhow::Result<Value> {
    let bucket = format!("bench-events-{tag}");
    let t = Target {
        addr,
        virtual_host: true,
    };
    let mut s3conn = t.conn(&bucket).await?;
    let mut conn = Conn::open(addr).await?;
    let queue = format!("bench-s3-done-{tag}");
    let made = call(&mut conn, "CreateQueue", json!({"QueueName": queue})).await?;
    let url = made["QueueUrl"].as_str().unwrap_or_default().to_string();
    api(
        &mut conn,
        "PUT",
        &format!("/2019-09-25/functions/{function}/event-invoke-config"),
        json!({"DestinationConfig": {"OnSuccess": {"Destination": format!("arn:aws:sqs:us-east-1:000000000000:{queue}")}}}),
        200,
    )
    .await?;
    let (status, _) = s3(&mut s3conn, "PUT", "/", Bytes::new()).await?;
    if status != 200 {
        bail!("CreateBucket answered {status}");
    }
    let config = format!(
        "<NotificationConfiguration><CloudFunctionConfiguration><Id>bench</Id>\
         <CloudFunction>arn:aws:lambda:us-east-1:000000000000:function:{function}</CloudFunction>\
         <Event>s3:ObjectCreated:*</Event></CloudFunctionConfiguration></NotificationConfiguration>"
    );
    let (status, answer) = s3(&mut s3conn, "PUT", "/?notification", Bytes::from(config)).await?;
    if status != 200 {
        bail!(
            "PutBucketNotificationConfiguration answered {status}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + 1 {
        let (status, _) = s3(
            &mut s3conn,
            "PUT",
            &format!("/k{i}"),
            Bytes::from_static(b"event"),
        )
        .await?;
        if status != 200 {
            bail!("PUT answered {status}");
        }
        let answered = Instant::now();
        let deadline = answered + Duration::from_secs(30);
        loop {
            let got = call(
                &mut conn,
                "ReceiveMessage",
                json!({"QueueUrl": url, "WaitTimeSeconds": 1}),
            )
            .await?;
            if let Some(m) = got["Messages"].as_array().and_then(|m| m.first()) {
                let took = answered.elapsed();
                call(
                    &mut conn,
                    "DeleteMessage",
                    json!({"QueueUrl": url, "ReceiptHandle": m["ReceiptHandle"]}),
                )
                .await?;
                // The first one pays the function's cold start: not counted.
                if i > 0 {
                    samples.push(took);
                }
                break;
            }
            if Instant::now() > deadline {
                bail!("the notification of k{i} never invoked {function}");
            }
        }
    }
    Ok(summary(samples))
}

/// Writes, syncs and renames 4 KB files in `dir` for `seconds`: how many a second, the
/// floor under a PUT of 4 KB.
pub fn bare_writes(dir: &std::path::Path, seconds: f64) -> anyhow::Result<Value> {
    use std::io::Write;
    let body = vec![b'x'; 4 * 1024];
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut n = 0usize;
    while Instant::now() < deadline {
        let tmp = dir.join(format!("bench-tmp-{n}"));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join("bench-blob"))?;
        n += 1;
    }
    let _ = std::fs::remove_file(dir.join("bench-blob"));
    Ok(json!({"writes_per_second": n as f64 / started.elapsed().as_secs_f64()}))
}
