//! `lamina schedules`, `lamina rules`, `lamina queues` and `lamina mappings`: what fires
//! functions, with when it fires next and how its last fire (or, for a rule's pattern, its
//! last matched event) went; queues with their messages by state; mappings with their state,
//! last result and lag.

use std::process::ExitCode;

use lamina_model::status::LastResult;

use super::Endpoint;
use super::output::{Output, Table};

/// Flags of `lamina schedules`, `rules`, `queues` and `mappings`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    endpoint: Endpoint,
    #[command(flatten)]
    output: Output,
}

fn when(t: &Option<String>) -> String {
    t.as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| "-".into())
}

fn last(l: &Option<LastResult>) -> String {
    match l {
        Some(l) => format!("{} {}", when(&Some(l.at.clone())), l.result),
        None => "-".into(),
    }
}

/// `lamina schedules`.
pub async fn schedules(args: Args) -> anyhow::Result<ExitCode> {
    let t = args.endpoint.client().lamina().triggers().await?;
    let mut table = Table::new(&[
        "GROUP/NAME",
        "EXPRESSION",
        "STATE",
        "NEXT FIRE (UTC)",
        "LAST (UTC)",
    ]);
    for s in &t.schedules {
        let expression = match &s.timezone {
            Some(tz) => format!("{} {tz}", s.expression),
            None => s.expression.clone(),
        };
        table.row(vec![
            format!("{}/{}", s.group, s.name),
            expression,
            s.state.to_string(),
            when(&s.next_fire),
            last(&s.last),
        ]);
    }
    args.output.print(&table, &t.schedules)?;
    Ok(ExitCode::SUCCESS)
}

/// `lamina rules`.
pub async fn rules(args: Args) -> anyhow::Result<ExitCode> {
    let t = args.endpoint.client().lamina().triggers().await?;
    let mut table = Table::new(&[
        "BUS/NAME",
        "STATE",
        "TARGETS>",
        "TRIGGER",
        "NEXT FIRE (UTC)",
        "LAST (UTC)",
    ]);
    for r in &t.rules {
        let trigger = match (&r.schedule, &r.pattern) {
            (Some(s), _) => s.clone(),
            (None, Some(_)) => "event pattern".into(),
            (None, None) => "-".into(),
        };
        table.row(vec![
            format!("{}/{}", r.bus, r.name),
            r.state.to_string(),
            r.targets.len().to_string(),
            trigger,
            when(&r.next_fire),
            last(&r.last),
        ]);
    }
    args.output.print(&table, &t.rules)?;
    Ok(ExitCode::SUCCESS)
}

/// `lamina queues`.
pub async fn queues(args: Args) -> anyhow::Result<ExitCode> {
    let t = args.endpoint.client().lamina().triggers().await?;
    let mut table = Table::new(&[
        "QUEUE",
        "VISIBLE>",
        "IN FLIGHT>",
        "DELAYED>",
        "OLDEST (S)>",
        "DEAD-LETTER QUEUE",
    ]);
    for q in &t.queues {
        table.row(vec![
            q.name.clone(),
            q.visible.to_string(),
            q.in_flight.to_string(),
            q.delayed.to_string(),
            q.oldest_age_s.map_or("-".into(), |s| s.to_string()),
            q.dead_letter_queue.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    args.output.print(&table, &t.queues)?;
    Ok(ExitCode::SUCCESS)
}

/// `lamina mappings`.
pub async fn mappings(args: Args) -> anyhow::Result<ExitCode> {
    let t = args.endpoint.client().lamina().triggers().await?;
    let mut table = Table::new(&[
        "UUID",
        "SOURCE",
        "FUNCTION",
        "STATE",
        "BATCH>",
        "BACKLOG>",
        "LAG (S)>",
        "LAST RESULT",
    ]);
    let last = |arn: &str| arn.rsplit(':').next().unwrap_or(arn).to_string();
    for m in &t.mappings {
        let function = m
            .function
            .split(":function:")
            .nth(1)
            .unwrap_or(&m.function)
            .to_string();
        table.row(vec![
            m.uuid.clone(),
            last(&m.source),
            function,
            m.state.to_string(),
            m.batch_size.to_string(),
            m.backlog.to_string(),
            m.lag_s.map_or("-".into(), |s| s.to_string()),
            m.last_result.to_string(),
        ]);
    }
    args.output.print(&table, &t.mappings)?;
    Ok(ExitCode::SUCCESS)
}
