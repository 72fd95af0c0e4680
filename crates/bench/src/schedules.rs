//! Fire-time accuracy of schedules: `--at-schedules` one-time `at()` schedules, one second
//! apart, each delivering its scheduled time to a Python function that logs when it ran;
//! lateness is that time minus the due time (the timer, the durable queue, the dispatcher
//! and the invocation together), read back from the function's logs.

use std::time::Duration;

use chrono::{DateTime, Utc};
use lamina_model::function::CreateFunctionRequest;
use serde_json::{Value, json};

use base64::Engine;

use crate::http::summary;

const LATE: &str = "import time\n\
def handler(event, context):\n    \
    print('LATE', event['due'], int(time.time() * 1000))\n";

/// Creates the schedules, waits for every fire, and gives the lateness figures.
pub async fn lateness(
    client: &lamina_client::Client,
    count: usize,
    tag: u32,
) -> anyhow::Result<Value> {
    let package = crate::echo::zip(&[("app.py", LATE.as_bytes(), 0o644)])?;
    let function = format!("bench-late-{tag}");
    let request: CreateFunctionRequest = serde_json::from_value(json!({
        "FunctionName": function, "Runtime": "python3.11", "Handler": "app.handler",
        "Role": "arn:aws:iam::000000000000:role/bench",
        "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(package)}}))?;
    client.create_function(&request).await?;
    let arn = format!("arn:aws:lambda:us-east-1:000000000000:function:{function}");
    // Whole seconds, the first far enough ahead for every schedule to be made in time.
    let first = Utc::now().timestamp() + 3;
    for i in 0..count {
        let due = DateTime::from_timestamp(first + i as i64, 0).unwrap_or_default();
        client
            .create_schedule(
                &format!("bench-at-{tag}-{i}"),
                &json!({
                    "ScheduleExpression": format!("at({})", due.format("%Y-%m-%dT%H:%M:%S")),
                    "FlexibleTimeWindow": {"Mode": "OFF"},
                    "ActionAfterCompletion": "DELETE",
                    "Target": {"Arn": arn, "RoleArn": "arn:aws:iam::000000000000:role/bench",
                               "Input": "{\"due\": \"<aws.scheduler.scheduled-time>\"}"}
                }),
            )
            .await?;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(count as u64 + 30);
    let mut late_ms: Vec<i64> = Vec::new();
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        late_ms = logged(client, &function).await?;
        if late_ms.len() >= count {
            break;
        }
    }
    let _ = client.delete_function(&function).await;
    let fired = late_ms.len();
    let lateness = late_ms
        .into_iter()
        .map(|ms| Duration::from_millis(ms.max(0) as u64))
        .collect();
    Ok(json!({
        "schedules": count,
        "fired": fired,
        "lateness": summary(lateness),
    }))
}

/// Each logged fire's lateness, in ms.
async fn logged(client: &lamina_client::Client, function: &str) -> anyhow::Result<Vec<i64>> {
    let group = format!("/aws/lambda/{function}");
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = match client
            .filter_log_events(&group, None, token.as_deref())
            .await
        {
            Ok(page) => page,
            // No log group until the first invocation.
            Err(e) if e.is_not_found() => return Ok(out),
            Err(e) => return Err(e.into()),
        };
        for e in &page.events {
            let mut words = e.message.split_whitespace();
            if words.next() != Some("LATE") {
                continue;
            }
            let (Some(due), Some(ran)) = (words.next(), words.next()) else {
                continue;
            };
            let due = DateTime::parse_from_rfc3339(due).map(|d| d.timestamp_millis());
            if let (Ok(due), Ok(ran)) = (due, ran.parse::<i64>()) {
                out.push(ran - due);
            }
        }
        match page.next_token {
            Some(t) if !page.events.is_empty() => token = Some(t),
            _ => return Ok(out),
        }
    }
}
