//! `lamina event generate SOURCE ...`: Lambda's event shapes, as the triggers Lamina serves
//! build them (the same model functions make the real events), with the fields a test wants
//! to change as flags, printed for `lamina invoke NAME --payload -` (or `--event -`) to read.

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde_json::{Value, json};

/// Flags of `lamina event`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Print a sample event of SOURCE.
    Generate {
        #[command(subcommand)]
        source: Source,
        /// The region in ARNs and records.
        #[arg(long, global = true, default_value = "us-east-1")]
        region: String,
        /// The account in ARNs.
        #[arg(long, global = true, default_value = "000000000000")]
        account: String,
    },
}

#[derive(Debug, clap::Subcommand)]
enum Source {
    /// S3 bucket notifications (`put`: ObjectCreated:Put; `delete`: ObjectRemoved:Delete).
    S3 {
        #[arg(value_parser = ["put", "delete"])]
        kind: String,
        #[arg(long, default_value = "example-bucket")]
        bucket: String,
        #[arg(long, default_value = "test/key")]
        key: String,
        #[arg(long, default_value_t = 1024)]
        size: u64,
    },
    /// SQS messages as an event source mapping delivers them (`receive`).
    Sqs {
        #[arg(value_parser = ["receive"])]
        kind: String,
        #[arg(long, default_value = "my-queue")]
        queue: String,
        /// A message body (repeatable: one record each).
        #[arg(long = "body", default_value = "Hello from SQS!")]
        bodies: Vec<String>,
    },
    /// An HTTP API request (payload format 2.0), as function URLs deliver it (`http`).
    Apigateway {
        #[arg(value_parser = ["http"])]
        kind: String,
        #[arg(long, default_value = "GET")]
        method: String,
        #[arg(long, default_value = "/")]
        path: String,
        /// The query string, without `?`.
        #[arg(long, default_value = "")]
        query: String,
        #[arg(long, default_value = "")]
        body: String,
    },
    /// An EventBridge rule's Scheduled Event.
    Schedule {
        #[arg(long, default_value = "my-schedule")]
        rule: String,
    },
    /// An event on an EventBridge bus.
    Eventbridge {
        #[arg(long, default_value = "com.example.app")]
        source: String,
        #[arg(long, default_value = "Example")]
        detail_type: String,
        /// The detail, a JSON object.
        #[arg(long, default_value = "{}")]
        detail: String,
    },
}

fn s3(kind: &str, bucket: &str, key: &str, size: u64, region: &str) -> Value {
    let etag = "0123456789abcdef0123456789abcdef";
    let created = kind == "put";
    let event = lamina_model::s3::ObjectEvent {
        region,
        bucket,
        key,
        event_name: if created {
            "s3:ObjectCreated:Put"
        } else {
            "s3:ObjectRemoved:Delete"
        },
        size: created.then_some(size),
        etag: created.then_some(etag),
        sequence: 1,
        time_ms: chrono::Utc::now().timestamp_millis(),
        source_ip: "127.0.0.1",
        principal: "EXAMPLE",
        request_id: &lamina_model::new_id(),
    };
    json!({ "Records": [lamina_model::s3::event_record(&event, "testConfigRule")] })
}

fn sqs(queue: &str, bodies: &[String], region: &str, account: &str) -> Value {
    let arn = format!("arn:aws:sqs:{region}:{account}:{queue}");
    let now = chrono::Utc::now().timestamp_millis().to_string();
    let records: Vec<Value> = bodies
        .iter()
        .map(|body| {
            let attributes: BTreeMap<String, String> = [
                ("ApproximateReceiveCount", "1".to_string()),
                ("SentTimestamp", now.clone()),
                ("SenderId", account.to_string()),
                ("ApproximateFirstReceiveTimestamp", now.clone()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            let md5 = lamina_model::sqs::digest::body_md5(body);
            lamina_model::mapping::sqs_record(
                &lamina_model::new_id(),
                &lamina_model::new_id(),
                body,
                &attributes,
                &BTreeMap::new(),
                &md5,
                None,
                &arn,
                region,
            )
        })
        .collect();
    json!({ "Records": records })
}

fn http(method: &str, path: &str, query: &str, body: &str, region: &str) -> Value {
    let headers = vec![
        (
            "host".to_string(),
            format!("example.lambda-url.{region}.on.aws"),
        ),
        ("user-agent".to_string(), "curl/8.0".to_string()),
    ];
    let request_id = lamina_model::new_id();
    lamina_model::url::http::request_event(&lamina_model::url::http::UrlRequest {
        method,
        raw_path: path,
        raw_query: query,
        headers: &headers,
        body: body.as_bytes(),
        source_ip: "127.0.0.1",
        url_id: "example",
        domain: &format!("example.lambda-url.{region}.on.aws"),
        request_id: &request_id,
        time_epoch_ms: chrono::Utc::now().timestamp_millis(),
        caller: None,
    })
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Action::Generate {
        source,
        region,
        account,
    } = args.action;
    let event = match source {
        Source::S3 {
            kind,
            bucket,
            key,
            size,
        } => s3(&kind, &bucket, &key, size, &region),
        Source::Sqs { queue, bodies, .. } => sqs(&queue, &bodies, &region, &account),
        Source::Apigateway {
            method,
            path,
            query,
            body,
            ..
        } => http(&method, &path, &query, &body, &region),
        Source::Schedule { rule } => lamina_model::events::scheduled_event(
            &lamina_model::new_id(),
            &format!("arn:aws:events:{region}:{account}:rule/{rule}"),
            &region,
            &account,
            chrono::Utc::now(),
        ),
        Source::Eventbridge {
            source,
            detail_type,
            detail,
        } => {
            let detail: Value = serde_json::from_str(&detail)
                .map_err(|e| anyhow::anyhow!("--detail is not JSON: {e}"))?;
            if !detail.is_object() {
                anyhow::bail!("--detail must be a JSON object");
            }
            json!({
                "version": "0",
                "id": lamina_model::new_id(),
                "detail-type": detail_type,
                "source": source,
                "account": account,
                "time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "region": region,
                "resources": [],
                "detail": detail,
            })
        }
    };
    println!("{}", serde_json::to_string_pretty(&event)?);
    Ok(ExitCode::SUCCESS)
}
