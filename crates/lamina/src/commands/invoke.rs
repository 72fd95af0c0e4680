//! `lamina invoke NAME`: invoke synchronously and print the response; with `--log`, print
//! the invocation's log tail to stderr. `--output json` prints the whole answer as the AWS
//! CLI's `lambda invoke` reports it (StatusCode, FunctionError, ExecutedVersion, LogResult)
//! with the Payload beside it.

use std::process::ExitCode;

use anyhow::Context;

use super::Endpoint;
use super::output::{Format, Output};

/// Flags of `lamina invoke`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Function name or ARN.
    name: String,
    /// The event: JSON text, @FILE to read it from a file, or `-` (or `@-`) to read it from
    /// standard input (`lamina event generate s3 put | lamina invoke NAME --payload -`).
    #[arg(long, visible_alias = "event", default_value = "{}")]
    payload: String,
    /// Print the last 4 KB of the invocation's log to stderr.
    #[arg(long)]
    log: bool,
    /// `RequestResponse` (wait for the answer), `Event` (queue it: 202, nothing printed) or
    /// `DryRun` (check it may run: 204).
    #[arg(long, default_value = "RequestResponse", value_parser = ["RequestResponse", "Event", "DryRun"])]
    invocation_type: String,
    #[command(flatten)]
    endpoint: Endpoint,
    #[command(flatten)]
    output: Output,
}

/// Runs the command; exits with [`super::exit::FUNCTION_ERROR`] when the function failed.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let payload = match args.payload.as_str() {
        "-" | "@-" => {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
                .context("cannot read the event from standard input")?;
            bytes
        }
        p => match p.strip_prefix('@') {
            Some(file) => std::fs::read(file).with_context(|| format!("cannot read {file}"))?,
            None => args.payload.into_bytes(),
        },
    };
    let client = args.endpoint.client();
    let out = match client
        .invoke_as(&args.name, payload.into(), args.log, &args.invocation_type)
        .await
    {
        Ok(out) => out,
        Err(e) => return Err(super::suggesting(&client, &args.name, e).await),
    };
    let failed = if out.function_error.is_some() {
        ExitCode::from(super::exit::FUNCTION_ERROR)
    } else {
        ExitCode::SUCCESS
    };
    if args.output.format() == Format::Json {
        let payload = String::from_utf8_lossy(&out.payload);
        let mut answer = serde_json::json!({
            "StatusCode": out.status,
            "ExecutedVersion": out.executed_version,
            "Payload": serde_json::from_str::<serde_json::Value>(&payload)
                .unwrap_or_else(|_| payload.as_ref().into()),
        });
        if let Some(e) = &out.function_error {
            answer["FunctionError"] = e.clone().into();
        }
        if let Some(log) = &out.log {
            answer["LogResult"] = log.clone().into();
        }
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(failed);
    }
    if args.invocation_type != "RequestResponse" {
        eprintln!("accepted ({})", out.status);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(log) = &out.log {
        eprint!("{log}");
    }
    println!("{}", String::from_utf8_lossy(&out.payload));
    Ok(failed)
}
