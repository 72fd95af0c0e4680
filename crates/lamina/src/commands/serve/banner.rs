//! What `lamina serve` says when it is ready: the human banner on standard error (the values
//! in use), then one machine-readable JSON line on standard output.

use std::io::Write;
use std::net::SocketAddr;

use super::args::Args;
use super::compose::Server;

/// Prints the banner, then the readiness line.
pub fn announce(server: &Server, args: &Args, addr: SocketAddr) {
    let platform = &server.platform;
    eprintln!(
        "lamina {} listening on http://{addr}",
        env!("CARGO_PKG_VERSION")
    );
    eprintln!("  data directory: {}", server.data_dir.display());
    let health = platform.health();
    eprintln!("  functions: {}", health.functions);
    eprintln!("  runtimes: {}", health.runtimes.join(", "));
    eprintln!("  isolation: {}", health.isolation);
    eprintln!(
        "  worker threads: {} (of {} CPU cores)",
        args.server.worker_threads(),
        lamina_executor::host_cores()
    );
    eprintln!(
        "  concurrency: {} concurrent executions",
        platform.reservations().concurrency_limit()
    );
    let ex = &server.config.executor;
    eprintln!(
        "  scaling: {} new environments per function per 10 s, {} may wait up to {} ms",
        ex.scale_rate_per_10s,
        ex.scale_queue,
        ex.scale_wait.as_millis()
    );
    eprintln!(
        "  idle environments: frozen after {}, stopped after {} s; memory budget {}, reserve {}",
        match ex.freeze_after {
            None => "never".to_string(),
            Some(d) if ex.keep_thawed > d => format!(
                "{} ms (a function's next one after {} ms unless it uses CPU)",
                d.as_millis(),
                ex.keep_thawed.as_millis()
            ),
            Some(d) => format!("{} ms", d.as_millis()),
        },
        ex.idle_timeout.as_secs(),
        mb_or_none(ex.memory_budget_mb),
        mb_or_none(ex.memory_reserve_mb),
    );
    let q = platform.async_invoke().event_queue_stats();
    let retry = server.config.events.retry_delay.as_millis();
    eprintln!(
        "  asynchronous events: {} queued ({} failed kept), at most {} events and {} MB; \
         retries after {retry} ms, then {} ms",
        q.ready + q.delayed,
        q.failed,
        q.max_messages,
        q.max_bytes / (1024 * 1024),
        retry * 2
    );
    let http = &server.http;
    eprintln!(
        "  descriptors: {}; API connections at most {} (closed after {} s idle; heads within \
         {} s, bodies within {} s); functions' connections at most {}",
        server.descriptors,
        http.max_connections,
        http.idle_timeout.as_secs(),
        http.header_timeout.as_secs(),
        http.body_timeout.as_secs(),
        server.function_descriptors
    );
    eprintln!(
        "  region {} account {}",
        args.server.region, args.server.account
    );
    let also = match args.server.url_listen {
        Some(_) => String::new(),
        None => format!(", and http://{addr}/lambda-url/<url-id>/"),
    };
    eprintln!(
        "  function URLs: http://<url-id>.lambda-url.{}.{}/{also}",
        args.server.region, server.config.url_host
    );
    ready_line(addr, server);
}

/// The only line the server writes on standard output, once it accepts requests:
/// `{"lamina":"ready","endpoint":"http://127.0.0.1:9000","pid":1234,"version":"0.1.0","data_dir":"/var/lib/lamina"}`.
fn ready_line(addr: SocketAddr, server: &Server) {
    let line = serde_json::json!({
        "lamina": "ready",
        "endpoint": format!("http://{addr}"),
        "pid": std::process::id(),
        "version": env!("CARGO_PKG_VERSION"),
        "data_dir": server.data_dir,
    });
    let mut out = std::io::stdout().lock();
    // A closed standard output (nobody listening) is not an error of the server.
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

fn mb_or_none(mb: u64) -> String {
    if mb == 0 {
        "none".into()
    } else {
        format!("{mb} MB")
    }
}
