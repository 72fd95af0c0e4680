//! `lamina deploy NAME PATH`: build a directory ([`super::build`]: its dependencies
//! installed, then zipped as [`super::package`] says) or take a .zip, and create the
//! function, or update its code and configuration if it exists. Without a name, or with
//! `--template`, it deploys a SAM template ([`super::app`]). `--watch` keeps deploying
//! each change ([`super::app::watch`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use base64::Engine;

use super::Endpoint;

/// Flags of `lamina deploy`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Function name (none to deploy a template).
    name: Option<String>,
    /// A directory to build and zip (symbolic links followed; `.git/`, `.aws-sam/`,
    /// `.lamina/`, `__pycache__/`, `node_modules/.cache/` and what `.laminaignore` names
    /// left out), or a .zip file.
    path: Option<PathBuf>,
    #[command(flatten)]
    template: super::app::TemplateArgs,
    /// After deploying, watch the sources and update the function whose code changed on
    /// each save, printing its new CodeSha256 and the time from save to ready.
    #[arg(long)]
    watch: bool,
    /// Runtime (python3.12, nodejs20.x, provided.al2023, ...); required to create.
    #[arg(long)]
    runtime: Option<String>,
    /// Handler (app.handler, index.handler; anything for provided runtimes); required to
    /// create.
    #[arg(long)]
    handler: Option<String>,
    /// Memory in MB.
    #[arg(long)]
    memory: Option<u32>,
    /// Timeout in seconds.
    #[arg(long)]
    timeout: Option<u32>,
    /// Environment variable KEY=VALUE (repeatable); replaces the whole set when given.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Execution role ARN, stored as Lambda stores it.
    #[arg(long, default_value = "arn:aws:iam::000000000000:role/lamina")]
    role: String,
    #[command(flatten)]
    endpoint: Endpoint,
    #[command(flatten)]
    output: super::output::Output,
}

/// Runs the command.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = args.endpoint.client();
    let (name, path) = match (&args.name, &args.path) {
        (Some(_), None) => anyhow::bail!("give the directory or .zip to deploy after the name"),
        (Some(n), Some(p)) if args.template.template.is_none() => (n.clone(), p.clone()),
        _ => {
            let one_function_flags = args.runtime.is_some()
                || args.handler.is_some()
                || args.memory.is_some()
                || args.timeout.is_some()
                || !args.env.is_empty();
            if one_function_flags {
                anyhow::bail!(
                    "--runtime, --handler, --memory, --timeout and --env are for one function \
                     (lamina deploy NAME PATH); a template says them itself"
                );
            }
            super::app::deploy(&client, &args.template, &args.output).await?;
            if args.watch {
                super::app::watch::template(&client, &args.template, &args.output).await?;
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    let config = one(&client, &args, &name, &path).await?;
    let mut table = super::output::Table::new(&["FUNCTION", "RUNTIME", "STATE", "CODESHA256"]);
    table.row(vec![
        config.function_name.clone(),
        config.runtime.clone().unwrap_or_default(),
        config.state.clone(),
        config.code_sha256.clone(),
    ]);
    args.output.print(&table, &config)?;
    if args.watch {
        super::app::watch::function(
            &client,
            &name,
            &path,
            config.runtime.as_deref(),
            config.handler.as_deref(),
        )
        .await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Deploys one function from `path`.
async fn one(
    client: &lamina_client::Client,
    args: &Args,
    name: &str,
    path: &Path,
) -> anyhow::Result<lamina_model::function::FunctionConfiguration> {
    let existing = match client.get_configuration(name).await {
        Ok(config) => Some(config),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };
    let runtime = args
        .runtime
        .clone()
        .or_else(|| existing.as_ref().and_then(|c| c.runtime.clone()));
    let handler = args
        .handler
        .clone()
        .or_else(|| existing.as_ref().and_then(|c| c.handler.clone()));
    let zip = package(name, path, runtime.as_deref(), handler.as_deref())?;
    let mut changes = serde_json::Map::new();
    if let Some(r) = &args.runtime {
        changes.insert("Runtime".into(), r.clone().into());
    }
    if let Some(h) = &args.handler {
        changes.insert("Handler".into(), h.clone().into());
    }
    if let Some(m) = args.memory {
        changes.insert("MemorySize".into(), m.into());
    }
    if let Some(t) = args.timeout {
        changes.insert("Timeout".into(), t.into());
    }
    if !args.env.is_empty() {
        let mut vars = serde_json::Map::new();
        for kv in &args.env {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("--env {kv:?} is not KEY=VALUE"))?;
            vars.insert(k.to_string(), v.into());
        }
        changes.insert(
            "Environment".into(),
            serde_json::json!({ "Variables": vars }),
        );
    }
    let config = match existing {
        Some(_) => {
            let mut config = client.update_code(name, &zip).await?;
            if !changes.is_empty() {
                config = client
                    .update_configuration(
                        name,
                        &serde_json::from_value(serde_json::Value::Object(changes))?,
                    )
                    .await?;
            }
            eprintln!("updated {}", config.function_arn);
            config
        }
        None => {
            if args.runtime.is_none() || args.handler.is_none() {
                anyhow::bail!(
                    "function {} does not exist yet: give --runtime and --handler to create it",
                    name
                );
            }
            let mut request = changes;
            request.insert("FunctionName".into(), name.to_string().into());
            request.insert("Role".into(), args.role.clone().into());
            request.insert(
                "Code".into(),
                serde_json::json!({ "ZipFile": base64::engine::general_purpose::STANDARD.encode(&zip) }),
            );
            let config = client
                .create_function(&serde_json::from_value(serde_json::Value::Object(request))?)
                .await?;
            eprintln!("created {}", config.function_arn);
            config
        }
    };
    Ok(config)
}

/// The bytes of the package: the file itself if it is a file, else the directory built
/// (its dependencies installed; refused if it has nothing, or not the file the handler
/// names).
pub fn package(
    name: &str,
    path: &Path,
    runtime: Option<&str>,
    handler: Option<&str>,
) -> anyhow::Result<Vec<u8>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_file() {
        return std::fs::read(path).with_context(|| format!("cannot read {}", path.display()));
    }
    super::build::package_of(&super::build::Job {
        id: name,
        dir: path,
        runtime,
        handler,
        work: path.join(".lamina/build"),
    })
}
