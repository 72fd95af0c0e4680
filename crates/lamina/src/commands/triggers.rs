//! `lamina schedules`, `lamina rules`, `lamina queues` and `lamina mappings`: what fires
//! functions, with when it fires next and how its last fire (or, for a rule's pattern, its
//! last matched event) went; queues with their messages by state; mappings with their state,
//! last result and lag.

use std::process::ExitCode;

use lamina_model::status::LastResult;

use super::Endpoint;

/// Flags of `lamina schedules`, `rules`, `queues` and `mappings`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    endpoint: Endpoint,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
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
    let t = args.endpoint.client().triggers().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&t.schedules)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<32} {:<28} {:<9} {:<20} LAST (UTC)",
        "GROUP/NAME", "EXPRESSION", "STATE", "NEXT FIRE (UTC)"
    );
    for s in &t.schedules {
        let expression = match &s.timezone {
            Some(tz) => format!("{} {tz}", s.expression),
            None => s.expression.clone(),
        };
        println!(
            "{:<32} {:<28} {:<9} {:<20} {}",
            format!("{}/{}", s.group, s.name),
            expression,
            s.state,
            when(&s.next_fire),
            last(&s.last)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `lamina rules`.
pub async fn rules(args: Args) -> anyhow::Result<ExitCode> {
    let t = args.endpoint.client().triggers().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&t.rules)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<32} {:<9} {:>7} {:<20} {:<20} LAST (UTC)",
        "BUS/NAME", "STATE", "TARGETS", "TRIGGER", "NEXT FIRE (UTC)"
    );
    for r in &t.rules {
        let trigger = match (&r.schedule, &r.pattern) {
            (Some(s), _) => s.clone(),
            (None, Some(_)) => "event pattern".into(),
            (None, None) => "-".into(),
        };
        println!(
            "{:<32} {:<9} {:>7} {:<20} {:<20} {}",
            format!("{}/{}", r.bus, r.name),
            r.state,
            r.targets.len(),
            trigger,
            when(&r.next_fire),
            last(&r.last)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `lamina queues`.
pub async fn queues(args: Args) -> anyhow::Result<ExitCode> {
    let t = args.endpoint.client().triggers().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&t.queues)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<40} {:>9} {:>9} {:>8} {:>10}  DEAD-LETTER QUEUE",
        "QUEUE", "VISIBLE", "IN FLIGHT", "DELAYED", "OLDEST (S)"
    );
    for q in &t.queues {
        println!(
            "{:<40} {:>9} {:>9} {:>8} {:>10}  {}",
            q.name,
            q.visible,
            q.in_flight,
            q.delayed,
            q.oldest_age_s.map_or("-".into(), |s| s.to_string()),
            q.dead_letter_queue.as_deref().unwrap_or("-")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `lamina mappings`.
pub async fn mappings(args: Args) -> anyhow::Result<ExitCode> {
    let t = args.endpoint.client().triggers().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&t.mappings)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<36}  {:<24} {:<24} {:<9} {:>5} {:>8} {:>7}  LAST RESULT",
        "UUID", "SOURCE", "FUNCTION", "STATE", "BATCH", "BACKLOG", "LAG (S)"
    );
    let last = |arn: &str| arn.rsplit(':').next().unwrap_or(arn).to_string();
    for m in &t.mappings {
        let function = m
            .function
            .split(":function:")
            .nth(1)
            .unwrap_or(&m.function)
            .to_string();
        println!(
            "{:<36}  {:<24} {:<24} {:<9} {:>5} {:>8} {:>7}  {}",
            m.uuid,
            last(&m.source),
            function,
            m.state,
            m.batch_size,
            m.backlog,
            m.lag_s.map_or("-".into(), |s| s.to_string()),
            m.last_result
        );
    }
    Ok(ExitCode::SUCCESS)
}
