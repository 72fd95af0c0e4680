//! `lamina serve`: compose the platform and its HTTP surface, run until SIGINT or SIGTERM,
//! then drain in-flight invocations, stop every environment and exit 0.
//!
//! Layout: [`args`] (the flags, in groups, and the configurations made from them),
//! [`compose`] (the composition root), [`banner`] (what the server says once ready).

mod args;
mod banner;
mod compose;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

pub use args::Args;

/// Keeps large buffers (code packages of tens of MB, 6 MB payloads) out of the heap. glibc
/// raises its mmap threshold to the size of each large block freed, up to 32 MiB, so after one
/// deployment of a big package later ones land in the heap and stay there once freed: a
/// server that served a few 60 MB deployments kept 90 MiB instead of 11. A fixed threshold
/// turns that adjustment off and hands such buffers back as soon as they are freed.
fn keep_large_buffers_out_of_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes an allocator parameter and takes glibc's arena locks, so
    // it is safe beside other threads; a refusal (returns 0) leaves the default in place.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Runs the server.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    keep_large_buffers_out_of_the_heap();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LAMINA_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let server = compose::compose(&args).await?;
    let listen = args.server.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    banner::announce(&server, &args, listener.local_addr()?);
    let grace = Duration::from_secs(args.server.shutdown_grace);
    let platform = server.platform.clone();
    lamina_api::serve(
        listener,
        platform.clone(),
        server.http,
        shutdown_signal(),
        grace,
    )
    .await?;
    eprintln!("lamina: stopping execution environments");
    platform.shutdown(grace).await;
    eprintln!("lamina: stopped");
    Ok(ExitCode::SUCCESS)
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
