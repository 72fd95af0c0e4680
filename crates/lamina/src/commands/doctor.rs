//! `lamina doctor`: what isolation this host can give environments, primitive by primitive,
//! proven by starting a trial sandbox.

use std::process::ExitCode;

use anyhow::Context;

use super::output::{Format, Output, Table};

/// Flags of `lamina doctor`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    output: Output,
}

/// Runs the checks and prints one line per primitive; exits 1 if a full sandbox is not
/// possible here.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("locating the lamina binary")?;
    let work = tempfile_dir()?;
    let findings = tokio::task::spawn_blocking({
        let work = work.clone();
        move || lamina_sandbox::doctor::run(&exe, &work)
    })
    .await?;
    let _ = std::fs::remove_dir_all(&work);
    let mut table = Table::new(&["STATUS", "PRIMITIVE", "DETAIL"]);
    for f in &findings {
        let status = if f.ok { "available" } else { "MISSING" };
        table.row(vec![status.into(), f.name.into(), f.detail.clone()]);
    }
    let sandbox = findings
        .iter()
        .find(|f| f.name == "trial sandbox")
        .is_some_and(|f| f.ok);
    let json: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| serde_json::json!({"Name": f.name, "Available": f.ok, "Detail": f.detail}))
        .collect();
    args.output.print(&table, &json)?;
    if args.output.format() != Format::Table {
        return Ok(if sandbox {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    println!();
    if sandbox {
        println!("`lamina serve` will run every environment in a sandbox.");
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "`lamina serve` cannot sandbox environments here: it will warn and run them as plain processes."
        );
        Ok(ExitCode::FAILURE)
    }
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("lamina-doctor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
