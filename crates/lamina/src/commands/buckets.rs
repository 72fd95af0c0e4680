//! `lamina buckets`: the buckets of this server's S3 service with their objects, bytes and
//! notification rules, and the other stores' buckets whose notifications reach functions
//! through the webhook; `lamina buckets notify BUCKET FILE` sets such a bucket's rules.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use lamina_model::s3::wire::WireConfiguration;

use super::Endpoint;
use super::output::{Format, Output, Table};

/// Flags of `lamina buckets`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    endpoint: Endpoint,
    #[command(flatten)]
    output: Output,
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Route the notifications another S3-compatible store (MinIO, Ceph RGW) posts to
    /// /_lamina/s3-events for its bucket BUCKET: FILE is a notification configuration in
    /// S3's JSON form (LambdaFunctionConfigurations, QueueConfigurations), as
    /// `aws s3api put-bucket-notification-configuration` takes; an empty `{}` removes it.
    Notify {
        /// The other store's bucket.
        bucket: String,
        /// The configuration, or `-` for standard input.
        file: PathBuf,
    },
}

fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `lamina buckets`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = args.endpoint.client();
    if let Some(Action::Notify { bucket, file }) = args.action {
        let text = if file.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin())?
        } else {
            std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?
        };
        let config: WireConfiguration = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a notification configuration", file.display()))?;
        let stored = client
            .lamina()
            .set_external_bucket(&bucket, &config)
            .await?;
        println!("{}", serde_json::to_string_pretty(&stored)?);
        return Ok(ExitCode::SUCCESS);
    }
    let buckets = client.lamina().buckets().await?;
    let mut table = Table::new(&["BUCKET", "KIND", "OBJECTS>", "SIZE>", "RULES"]);
    let one_line = args.output.format() == Format::Text;
    for b in &buckets {
        let objects = b.objects.map_or("-".to_string(), |n| n.to_string());
        let bytes = b.bytes.map_or("-".to_string(), size);
        let rules = if one_line {
            vec![b.rules.join("; ")]
        } else {
            b.rules.clone()
        };
        let mut rules = rules.into_iter();
        table.row(vec![
            b.name.clone(),
            b.kind.to_string(),
            objects,
            bytes,
            rules.next().unwrap_or_else(|| "-".into()),
        ]);
        // Each further rule on a line of its own, under the first.
        for more in rules {
            table.row(vec![
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                more,
            ]);
        }
    }
    args.output.print(&table, &buckets)?;
    Ok(ExitCode::SUCCESS)
}
