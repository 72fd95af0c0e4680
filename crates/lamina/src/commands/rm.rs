//! `lamina rm NAME`: delete a function.

use std::process::ExitCode;

use super::Endpoint;

/// Flags of `lamina rm`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Function name or ARN.
    name: String,
    #[command(flatten)]
    endpoint: Endpoint,
}

/// Runs the command.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    args.endpoint.client().delete_function(&args.name).await?;
    eprintln!("deleted {}", args.name);
    Ok(ExitCode::SUCCESS)
}
