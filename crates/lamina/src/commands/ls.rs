//! `lamina ls`: one line per function.

use std::process::ExitCode;

use super::Endpoint;
use super::output::{Output, Table};

/// Flags of `lamina ls`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    endpoint: Endpoint,
    #[command(flatten)]
    output: Output,
}

/// Runs the command.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let functions = args.endpoint.client().list_functions().await?;
    let mut table = Table::new(&[
        "NAME",
        "RUNTIME",
        "MEMORY MB>",
        "TIMEOUT S>",
        "LAST MODIFIED",
    ]);
    for f in &functions {
        table.row(vec![
            f.function_name.clone(),
            f.runtime.clone().unwrap_or_default(),
            f.memory_size.to_string(),
            f.timeout.to_string(),
            f.last_modified.clone(),
        ]);
    }
    args.output
        .print(&table, &serde_json::json!({ "Functions": functions }))?;
    Ok(ExitCode::SUCCESS)
}
