//! `lamina ps`: what the server is running: environments per function version and state,
//! concurrent executions, throttles and invocation metrics since it started.

use std::process::ExitCode;

use super::Endpoint;

/// Flags of `lamina ps`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    endpoint: Endpoint,
    /// Print the status as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let s = args.endpoint.client().status().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "concurrency: {} running of {} ({} unreserved); {} environments; \
         frozen {} times, thawed {} (mean {:.0} us, max {:.0} us); reaped {}, stopped for memory {}",
        s.concurrent_executions,
        s.concurrency_limit,
        s.unreserved_concurrency,
        s.environments,
        s.freezes,
        s.thaws,
        s.thaw_mean_us,
        s.thaw_max_us,
        s.reaped,
        s.evicted
    );
    let q = &s.event_queue;
    println!(
        "asynchronous events: {} ready, {} waiting to retry, {} running, {} failed kept; \
         {} accepted and {} refused since start; {} of at most {} events, {} of {} MB",
        q.ready,
        q.delayed,
        q.running,
        q.failed,
        q.accepted,
        q.refused,
        q.ready + q.delayed + q.running,
        q.max_events,
        q.bytes / (1024 * 1024),
        q.max_bytes / (1024 * 1024)
    );
    if !s.nodes.is_empty() {
        println!();
        println!(
            "{:<40} {:<26} {:>10}  RESERVATION SLOTS",
            "NODE", "ENDPOINT", "SILENT MS"
        );
        for n in &s.nodes {
            let holds: Vec<String> = n
                .holds
                .iter()
                .map(|(scope, held)| format!("{}={held}", scope.trim_start_matches("reserved:")))
                .collect();
            let id = if n.this_node {
                format!("{} (this)", n.id)
            } else {
                n.id.clone()
            };
            println!(
                "{id:<40} {:<26} {:>10}  {}",
                n.endpoint,
                n.silent_ms,
                holds.join(" ")
            );
        }
    }
    println!();
    println!(
        "{:<28} {:<8} {:>5} {:>5} {:>5} {:>6} {:>5} {:>5} {:>7}",
        "FUNCTION", "VERSION", "INIT", "IDLE", "BUSY", "FROZEN", "PROV", "WAIT", "CREATED"
    );
    for f in &s.functions {
        for v in &f.versions {
            println!(
                "{:<28} {:<8} {:>5} {:>5} {:>5} {:>6} {:>5} {:>5} {:>7}",
                f.name,
                v.version,
                v.initialising,
                v.idle,
                v.busy,
                v.frozen,
                v.provisioned,
                v.waiting,
                v.created
            );
        }
    }
    println!();
    println!(
        "{:<28} {:>8} {:>8} {:>9} {:>11} {:>7} {:>6} {:>10} {:>10}",
        "FUNCTION",
        "RESERVED",
        "RUNNING",
        "THROTTLES",
        "INVOCATIONS",
        "ERRORS",
        "COLD",
        "AVG MS",
        "GB-S"
    );
    for f in &s.functions {
        let avg = if f.invocations == 0 {
            0.0
        } else {
            f.duration_ms / f.invocations as f64
        };
        println!(
            "{:<28} {:>8} {:>8} {:>9} {:>11} {:>7} {:>6} {:>10.2} {:>10.3}",
            f.name,
            f.reserved_concurrency
                .map_or("-".to_string(), |r| r.to_string()),
            f.concurrent_executions,
            f.throttles,
            f.invocations,
            f.errors,
            f.cold_starts,
            avg,
            f.billed_mb_ms as f64 / 1_024_000.0
        );
    }
    Ok(ExitCode::SUCCESS)
}
