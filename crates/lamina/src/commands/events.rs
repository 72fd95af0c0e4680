//! `lamina events`: the asynchronous events that failed for good (after their retries, or
//! too old), kept by the server when no destination took them, and their replay.

use std::process::ExitCode;

use super::Endpoint;
use super::output::{Output, Table};

/// Flags of `lamina events`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: EventsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum EventsCommand {
    /// List the failed events of a function (of every function without a name).
    Failed {
        /// The function.
        name: Option<String>,
        #[command(flatten)]
        output: Output,
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Put failed events back in their function's queue: the ones given, or all of the
    /// function's with `--all NAME`.
    Replay {
        /// Ids, as `lamina events failed` shows them.
        ids: Vec<i64>,
        /// Replay every failed event of this function.
        #[arg(long, value_name = "NAME")]
        all: Option<String>,
        #[command(flatten)]
        endpoint: Endpoint,
    },
}

/// Runs the command.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        EventsCommand::Failed {
            name,
            output,
            endpoint,
        } => {
            let failed = endpoint
                .client()
                .lamina()
                .failed_events(name.as_deref())
                .await?;
            let mut table = Table::new(&[
                "ID>",
                "FUNCTION",
                "ATTEMPTS>",
                "FAILED AT",
                "REASON",
                "PAYLOAD",
            ]);
            for e in &failed {
                let at = chrono::DateTime::from_timestamp_millis(e.failed_at as i64)
                    .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                    .unwrap_or_default();
                table.row(vec![
                    e.id.to_string(),
                    e.function_name.clone(),
                    e.attempts.to_string(),
                    at,
                    e.reason.clone(),
                    e.payload.to_string(),
                ]);
            }
            output.print(&table, &failed)?;
            Ok(ExitCode::SUCCESS)
        }
        EventsCommand::Replay { ids, all, endpoint } => {
            let client = endpoint.client();
            let mut ids = ids;
            if let Some(name) = &all {
                let failed = client.lamina().failed_events(Some(name)).await?;
                ids.extend(failed.iter().map(|e| e.id));
            }
            if ids.is_empty() {
                anyhow::bail!("give the ids of failed events, or --all NAME");
            }
            for id in ids {
                let new_id = client.lamina().replay_failed_event(id).await?;
                println!("replayed {id} as {new_id}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
