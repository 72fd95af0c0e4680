//! `lamina ps`: what the server is running: environments per function version and state,
//! concurrent executions, throttles and invocation metrics since it started. `--output
//! text` prints the per-function metrics only, one function per line.

use std::process::ExitCode;

use super::Endpoint;
use super::output::{Format, Output, Table};

/// Flags of `lamina ps`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    endpoint: Endpoint,
    #[command(flatten)]
    output: Output,
}

/// Runs the command.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let s = args.endpoint.client().lamina().status().await?;
    let metrics = metrics(&s);
    if args.output.format() != Format::Table {
        args.output.print(&metrics, &s)?;
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
        let mut nodes = Table::new(&["NODE", "ENDPOINT", "SILENT MS>", "RESERVATION SLOTS"]);
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
            nodes.row(vec![
                id,
                n.endpoint.clone(),
                n.silent_ms.to_string(),
                holds.join(" "),
            ]);
        }
        nodes.print();
    }
    println!();
    let mut environments = Table::new(&[
        "FUNCTION", "VERSION", "INIT>", "IDLE>", "BUSY>", "FROZEN>", "PROV>", "WAIT>", "CREATED>",
    ]);
    for f in &s.functions {
        for v in &f.versions {
            environments.row(vec![
                f.name.clone(),
                v.version.clone(),
                v.initialising.to_string(),
                v.idle.to_string(),
                v.busy.to_string(),
                v.frozen.to_string(),
                v.provisioned.to_string(),
                v.waiting.to_string(),
                v.created.to_string(),
            ]);
        }
    }
    environments.print();
    println!();
    metrics.print();
    Ok(ExitCode::SUCCESS)
}

/// Each function's concurrency and invocation figures.
fn metrics(s: &lamina_model::status::ServerStatus) -> Table {
    let mut table = Table::new(&[
        "FUNCTION",
        "RESERVED>",
        "RUNNING>",
        "THROTTLES>",
        "INVOCATIONS>",
        "ERRORS>",
        "COLD>",
        "AVG MS>",
        "GB-S>",
    ]);
    for f in &s.functions {
        let avg = if f.invocations == 0 {
            0.0
        } else {
            f.duration_ms / f.invocations as f64
        };
        table.row(vec![
            f.name.clone(),
            f.reserved_concurrency
                .map_or("-".to_string(), |r| r.to_string()),
            f.concurrent_executions.to_string(),
            f.throttles.to_string(),
            f.invocations.to_string(),
            f.errors.to_string(),
            f.cold_starts.to_string(),
            format!("{avg:.2}"),
            format!("{:.3}", f.billed_mb_ms as f64 / 1_024_000.0),
        ]);
    }
    table
}
