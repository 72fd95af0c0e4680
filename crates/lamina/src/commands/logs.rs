//! `lamina logs NAME [--follow]`: print a function's log events, oldest first, through the
//! CloudWatch Logs API the server exposes.

use std::collections::HashSet;
use std::process::ExitCode;
use std::time::Duration;

use super::Endpoint;

/// Flags of `lamina logs`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Function name.
    name: String,
    /// Keep printing new events as they arrive.
    #[arg(long, short)]
    follow: bool,
    /// Only events from the last N minutes.
    #[arg(long)]
    since_minutes: Option<i64>,
    #[command(flatten)]
    endpoint: Endpoint,
}

/// Runs the command.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = args.endpoint.client();
    let config = match client.get_configuration(&args.name).await {
        Ok(c) => c,
        Err(e) => return Err(super::suggesting(&client, &args.name, e).await),
    };
    let group = config
        .logging_config
        .and_then(|l| l.log_group)
        .unwrap_or_else(|| format!("/aws/lambda/{}", args.name));
    let mut start = args
        .since_minutes
        .map(|m| chrono::Utc::now().timestamp_millis() - m * 60_000);
    let mut seen: HashSet<String> = HashSet::new();
    loop {
        let mut token: Option<String> = None;
        loop {
            let page = match client
                .filter_log_events(&group, start, token.as_deref())
                .await
            {
                Ok(p) => p,
                // No invocation has written to the group yet.
                Err(e) if e.is_not_found() => break,
                Err(e) => return Err(e.into()),
            };
            for event in page.events {
                if seen.insert(event.event_id.clone()) {
                    println!("{}", event.message);
                    start = Some(start.map_or(event.timestamp, |s| s.max(event.timestamp)));
                }
            }
            match page.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        if !args.follow {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
