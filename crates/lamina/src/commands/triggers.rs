//! `lamina schedules` and `lamina rules`: what fires functions, with when it fires next and
//! how its last fire (or, for a rule's pattern, its last matched event) went.

use std::process::ExitCode;

use lamina_model::status::LastResult;

use super::Endpoint;

/// Flags of `lamina schedules` and `lamina rules`.
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
