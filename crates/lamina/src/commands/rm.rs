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
    let client = args.endpoint.client();
    if let Err(e) = client.delete_function(&args.name).await {
        return Err(super::suggesting(&client, &args.name, e).await);
    }
    eprintln!("deleted {}", args.name);
    Ok(ExitCode::SUCCESS)
}
