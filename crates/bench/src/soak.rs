//! The soak: mixed invocations at a steady rate for a long time (an hour, as the project
//! judges itself), the server's PSS sampled throughout, and the slope of a least-squares
//! line through the samples after the first tenth (the warm-up, when pools and caches fill).
//! A server that leaks shows a slope; one that does not stays flat however long it runs.
//!
//! The mix, on each runtime's echo in turn: synchronous invocations, one in ten with the
//! log tail asked for, and one in twenty asynchronous (queued, run, and its record kept),
//! from four clients, paced so that the asynchronous queue never builds up a backlog that
//! would look like a leak.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};

use crate::http::{Conn, EVENT};
use crate::procfs::pss_kib;

const CLIENTS: usize = 4;

/// Runs the soak against the server `pid` at `addr` on `functions` for `seconds` at about
/// `rate` invocations per second in all.
pub async fn soak(
    addr: SocketAddr,
    pid: u32,
    functions: &[String],
    seconds: f64,
    rate: f64,
) -> anyhow::Result<Value> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let functions = functions.to_vec();
        let gap = Duration::from_secs_f64(CLIENTS as f64 / rate.max(1.0));
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let (mut made, mut failed) = (0u64, 0u64);
            let mut next = Instant::now();
            let mut i = client;
            while Instant::now() < deadline {
                let function = &functions[i % functions.len()];
                let path = format!("/2015-03-31/functions/{function}/invocations");
                let (headers, expected): (&[(&str, &str)], u16) = if i % 20 == 7 {
                    (&[("x-amz-invocation-type", "Event")], 202)
                } else if i % 10 == 3 {
                    (&[("x-amz-log-type", "Tail")], 200)
                } else {
                    (&[], 200)
                };
                let (status, _, _) = conn
                    .request("POST", &path, Bytes::from_static(EVENT), headers)
                    .await?;
                made += 1;
                if status != expected {
                    failed += 1;
                }
                i += CLIENTS;
                next += gap;
                tokio::time::sleep_until(next.into()).await;
            }
            anyhow::Ok((made, failed))
        }));
    }
    // About 60 samples whatever the length, at most one a second.
    let every = Duration::from_secs_f64((seconds / 60.0).max(1.0));
    let mut samples = vec![(0.0, pss_kib(pid) as f64 / 1024.0)];
    while Instant::now() + every <= deadline {
        tokio::time::sleep(every).await;
        samples.push((
            started.elapsed().as_secs_f64(),
            pss_kib(pid) as f64 / 1024.0,
        ));
    }
    let (mut made, mut failed) = (0, 0);
    for t in tasks {
        let (m, f) = t.await??;
        made += m;
        failed += f;
    }
    let settled: Vec<(f64, f64)> = samples
        .iter()
        .copied()
        .filter(|(t, _)| *t >= seconds / 10.0)
        .collect();
    let mib = |v: Option<f64>| v.unwrap_or(0.0);
    Ok(json!({
        "seconds": seconds,
        "rate": rate,
        "invocations": made,
        "unexpected_answers": failed,
        "pss_mib": {
            "start": mib(samples.first().map(|s| s.1)),
            "end": mib(samples.last().map(|s| s.1)),
            "max": samples.iter().map(|s| s.1).fold(0.0, f64::max),
        },
        "slope_mib_per_hour": slope(&settled).map(|per_s| per_s * 3600.0),
        "samples": samples.iter().map(|(t, m)| json!([t, m])).collect::<Vec<_>>(),
    }))
}

/// The least-squares slope of `points` (y per unit of x), when there are at least two
/// distinct x.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    (points.len() >= 2 && sxx > 0.0).then(|| sxy / sxx)
}

#[cfg(test)]
mod tests {
    use super::slope;

    #[test]
    fn the_slope_is_the_least_squares_line_s() {
        let flat = [(0.0, 30.0), (10.0, 31.0), (20.0, 30.0), (30.0, 31.0)];
        assert!(slope(&flat).unwrap().abs() < 0.05);
        let leaking = [(0.0, 30.0), (10.0, 32.0), (20.0, 34.0), (30.0, 36.0)];
        assert!((slope(&leaking).unwrap() - 0.2).abs() < 1e-9);
        assert_eq!(slope(&[(5.0, 1.0)]), None);
        assert_eq!(slope(&[(5.0, 1.0), (5.0, 2.0)]), None);
    }
}
