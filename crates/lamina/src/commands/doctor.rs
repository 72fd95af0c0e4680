//! `lamina doctor`: what isolation this host can give environments, primitive by primitive,
//! proven by starting a trial sandbox; and, on a VM whose idle cores halt at once, what that
//! costs invocations.

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
    if let Some(note) = idle_cores_note() {
        println!("{note}\n");
    }
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

/// Where a KVM guest's kernel says how long an idle core polls before it halts.
const HALT_POLL: &str = "/sys/module/haltpoll/parameters/guest_halt_poll_ns";

/// On a VM whose idle cores halt at once (`guest_halt_poll_ns` 0), every wake-up of a thread
/// on an idle core is an interrupt to a halted core, and an invocation wakes three threads
/// (the server's, the runtime's, the caller's): the figures are `lamina-bench`'s on a 2-vCPU
/// VM with polling off and at 200 us.
fn idle_cores_note() -> Option<String> {
    let ns: u64 = std::fs::read_to_string(HALT_POLL)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (ns == 0).then(|| {
        format!(
            "Note: this VM's idle cores halt at once ({HALT_POLL} is 0), so each wake-up of a \
             thread on an idle core takes an interrupt to a halted core. Measured by \
             lamina-bench on a 2-vCPU VM, against 200 us of polling: a wake-up on another core \
             31 against 9 us, a warm invocation of a native echo 132 against 55 us at p50, and \
             0.76x the invocations per second for 8 callers. As root, `echo 200000 > \
             {HALT_POLL}` buys that back with the host's CPU (idle cores spin up to 200 us \
             before they halt)."
        )
    })
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("lamina-doctor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
