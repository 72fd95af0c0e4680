//! `lamina serve`: compose the platform and its HTTP surface, run until SIGINT or SIGTERM,
//! then drain in-flight invocations, stop every environment and exit 0.
//!
//! Layout: [`args`] (the flags, in groups, and the configurations made from them),
//! [`compose`] (the composition root), [`banner`] (what the server says once ready),
//! [`memory`] (the process's heap).

mod args;
mod banner;
mod compose;
mod memory;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

pub use args::Args;
pub use compose::default_data_dir;
pub use memory::{BLOCKING_THREAD_KEEP_ALIVE, prepare_allocator};

/// Runs the server.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    memory::bound_sqlite_caches()?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LAMINA_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let gate = Arc::new(gate(&args)?);
    let listen = args.server.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let url_listener = match args.server.url_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (--url-listen)"))?,
        ),
        None => None,
    };
    // URLs name the port they are served on, known once bound (`--listen 127.0.0.1:0`).
    let url_port = url_listener
        .as_ref()
        .unwrap_or(&listener)
        .local_addr()?
        .port();
    let url_host = format!("{}:{url_port}", args.server.url_domain);
    let endpoint = format!("http://{}", listener.local_addr()?);
    let server = compose::compose(&args, url_host, &endpoint).await?;
    banner::announce(&server, &args, listener.local_addr()?);
    memory::give_back_freed_memory_when_quiet();
    let grace = Duration::from_secs(args.server.shutdown_grace);
    let platform = server.platform.clone();
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut stopping = stopping.clone();
        async move {
            let _ = stopping.wait_for(|s| *s).await;
        }
    };
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let s3 = match &server.s3_client {
        Some(client) => Some(lamina_api::services::s3::S3Surface::proxied(
            platform.clone(),
            gate.clone(),
            client.clone(),
        )),
        None => lamina_api::services::s3::S3Surface::new(platform.clone(), gate.clone()),
    };
    let urls = url_listener.map(|l| {
        tokio::spawn(lamina_api::serve(
            l,
            lamina_api::url_router(platform.clone(), gate.clone()),
            server.http,
            stopped(),
            grace,
        ))
    });
    lamina_api::serve(
        listener,
        lamina_api::router(platform.clone(), gate.clone(), s3),
        server.http,
        stopped(),
        grace,
    )
    .await?;
    if let Some(urls) = urls {
        urls.await??;
    }
    eprintln!("lamina: stopping execution environments");
    platform.shutdown(grace).await;
    if let Some(spans) = &server.spans {
        spans.shutdown();
    }
    eprintln!("lamina: stopped");
    Ok(ExitCode::SUCCESS)
}

/// Who may call: the keys of `--credentials`, or anyone, which is refused off loopback
/// unless `--insecure-no-auth` says so.
fn gate(args: &Args) -> anyhow::Result<lamina_api::Gate> {
    let server = &args.server;
    if let Some(path) = &server.credentials {
        let keys = lamina_sigv4::KeyRing::load(path)
            .with_context(|| format!("--credentials {}", path.display()))?;
        eprintln!(
            "lamina: API requests must be signed by one of the {} access keys in {}",
            keys.len(),
            path.display()
        );
        let gate = lamina_api::Gate::with_keys(keys);
        return Ok(match &server.metrics_token {
            Some(token) => gate.with_metrics_token(token),
            None => gate,
        });
    }
    let exposed: Vec<std::net::SocketAddr> = std::iter::once(server.listen)
        .chain(server.url_listen)
        .filter(|a| !a.ip().is_loopback())
        .collect();
    if let Some(addr) = exposed.first() {
        if !server.insecure_no_auth {
            anyhow::bail!(
                "refusing to listen on {addr} without authentication: anyone who can reach it \
                 could deploy and run code. Give --credentials FILE (AWS shared-credentials \
                 format) so that requests must be signed, listen on loopback, or pass \
                 --insecure-no-auth to accept the risk"
            );
        }
        eprintln!(
            "lamina: WARNING: listening on {addr} with --insecure-no-auth: anyone who can reach \
             it can deploy and run code"
        );
    } else {
        eprintln!("lamina: no --credentials: any signature is accepted (loopback only)");
    }
    Ok(lamina_api::Gate::open())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without signal handlers the server still runs; it is then stopped by being killed.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = int.recv() => eprintln!("lamina: SIGINT received, finishing in-flight invocations"),
        _ = term.recv() => eprintln!("lamina: SIGTERM received, finishing in-flight invocations"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate_of(flags: &[&str]) -> anyhow::Result<lamina_api::Gate> {
        gate(&args::parse(flags))
    }

    #[test]
    fn exposed_addresses_need_credentials_or_an_explicit_risk() {
        assert!(!gate_of(&[]).unwrap().checks_signatures());
        let refused = gate_of(&["--listen", "0.0.0.0:9000"])
            .unwrap_err()
            .to_string();
        assert!(refused.contains("--credentials FILE"), "{refused}");
        assert!(
            !refused.contains("  "),
            "one sentence, no runs of spaces: {refused}"
        );
        assert!(gate_of(&["--url-listen", "192.0.2.1:9001"]).is_err());
        let risky = gate_of(&["--listen", "0.0.0.0:9000", "--insecure-no-auth"]).unwrap();
        assert!(!risky.checks_signatures());
        assert!(gate_of(&["--listen", "[::1]:9000"]).is_ok());
    }
}
