//! `lamina logs NAME`: print a function's log events, oldest first, each with its time (UTC)
//! and stream, through the CloudWatch Logs API the server exposes: `--since 10m`, `--filter`
//! (a CloudWatch Logs filter pattern), `--limit`, and `--follow`, which keeps printing new
//! events and waits out a server that goes away (a restart) instead of ending. `--output
//! json` prints each event as one JSON object per line (CloudWatch Logs' shape, so it
//! streams under `--follow`); `--output text` separates time, stream and message by tabs.

use std::collections::HashSet;
use std::process::ExitCode;
use std::time::Duration;

use super::Endpoint;
use super::output::{Format, Output};

/// Flags of `lamina logs`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Function name.
    name: String,
    /// Keep printing new events as they arrive (through server restarts).
    #[arg(long, short)]
    follow: bool,
    /// Only events of the last DURATION: `90s`, `10m`, `2h`, `1d` (a bare number is minutes).
    #[arg(long, value_name = "DURATION", value_parser = since_ms)]
    since: Option<i64>,
    /// Only events matching this CloudWatch Logs filter pattern (`ERROR`, `"two words"`).
    #[arg(long, value_name = "PATTERN")]
    filter: Option<String>,
    /// At most this many events (the oldest first).
    #[arg(long, conflicts_with = "follow")]
    limit: Option<usize>,
    /// Print the messages only, without time and stream.
    #[arg(long)]
    bare: bool,
    #[command(flatten)]
    endpoint: Endpoint,
    #[command(flatten)]
    output: Output,
}

/// A duration (`90s`, `10m`, `2h`, `1d`, or minutes) in milliseconds.
fn since_ms(text: &str) -> Result<i64, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "m"),
    };
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 90s, 10m, 2h or 1d"))?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{text:?}: the unit is s, m, h or d")),
    };
    Ok(n * unit_ms)
}

fn line(event: &lamina_model::logs::FilteredEvent, bare: bool, format: Format) -> String {
    if format == Format::Json {
        return serde_json::to_string(event).unwrap_or_default();
    }
    if bare {
        return event.message.clone();
    }
    let time = chrono::DateTime::from_timestamp_millis(event.timestamp)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_default();
    let sep = if format == Format::Text { "\t" } else { " " };
    format!("{time}{sep}{}{sep}{}", event.log_stream_name, event.message)
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
        .since
        .map(|ms| chrono::Utc::now().timestamp_millis() - ms);
    let mut seen: HashSet<String> = HashSet::new();
    let mut printed = 0usize;
    let mut away = false;
    loop {
        let mut token: Option<String> = None;
        loop {
            let page = match client
                .filter_log_events_matching(&group, start, args.filter.as_deref(), token.as_deref())
                .await
            {
                Ok(p) => p,
                // No invocation has written to the group yet.
                Err(e) if e.is_not_found() => break,
                // Followed through a restart: say so once, and wait for the server.
                Err(lamina_client::ClientError::Unreachable { endpoint, .. }) if args.follow => {
                    if !away {
                        eprintln!("lamina: {endpoint} does not answer; waiting for it");
                        away = true;
                    }
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            if away {
                eprintln!("lamina: {} answers again", args.endpoint.endpoint);
                away = false;
            }
            for event in page.events {
                if seen.insert(event.event_id.clone()) {
                    println!("{}", line(&event, args.bare, args.output.format()));
                    start = Some(start.map_or(event.timestamp, |s| s.max(event.timestamp)));
                    printed += 1;
                    if args.limit.is_some_and(|l| printed >= l) {
                        return Ok(ExitCode::SUCCESS);
                    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(since_ms("90s"), Ok(90_000));
        assert_eq!(since_ms("10m"), Ok(600_000));
        assert_eq!(since_ms("2h"), Ok(7_200_000));
        assert_eq!(since_ms("1d"), Ok(86_400_000));
        assert_eq!(since_ms("5"), Ok(300_000));
        assert!(since_ms("10w").is_err());
        assert!(since_ms("ten").is_err());
    }
}
