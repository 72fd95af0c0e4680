//! `lamina ls`: one line per function.

use std::process::ExitCode;

use super::Endpoint;

/// Flags of `lamina ls`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    endpoint: Endpoint,
}

/// Runs the command.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let functions = args.endpoint.client().list_functions().await?;
    println!(
        "{:<32} {:<16} {:>7} {:>8}  LAST MODIFIED",
        "NAME", "RUNTIME", "MEMORY", "TIMEOUT"
    );
    for f in functions {
        println!(
            "{:<32} {:<16} {:>5}MB {:>7}s  {}",
            f.function_name,
            f.runtime.unwrap_or_default(),
            f.memory_size,
            f.timeout,
            f.last_modified
        );
    }
    Ok(ExitCode::SUCCESS)
}
