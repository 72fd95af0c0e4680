//! `lamina deploy NAME PATH`: zip a directory (or take a .zip) and create the function, or
//! update its code and configuration if it exists.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use base64::Engine;

use super::Endpoint;

/// Flags of `lamina deploy`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Function name.
    name: String,
    /// A directory to zip, or a .zip file.
    path: PathBuf,
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
}

/// Runs the command.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let zip = package(&args.path)?;
    let client = args.endpoint.client();
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
    let config = match client.get_configuration(&args.name).await {
        Ok(_) => {
            let mut config = client.update_code(&args.name, &zip).await?;
            if !changes.is_empty() {
                config = client
                    .update_configuration(
                        &args.name,
                        &serde_json::from_value(serde_json::Value::Object(changes))?,
                    )
                    .await?;
            }
            eprintln!("updated {}", config.function_arn);
            config
        }
        Err(e) if e.is_not_found() => {
            if args.runtime.is_none() || args.handler.is_none() {
                anyhow::bail!(
                    "function {} does not exist yet: give --runtime and --handler to create it",
                    args.name
                );
            }
            let mut request = changes;
            request.insert("FunctionName".into(), args.name.clone().into());
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
        Err(e) => return Err(e.into()),
    };
    println!("{}", serde_json::to_string_pretty(&config)?);
    Ok(ExitCode::SUCCESS)
}

/// The bytes of the package: the file itself if it is a file, else a zip of the directory
/// with file modes kept (a `bootstrap` must stay executable).
fn package(path: &Path) -> anyhow::Result<Vec<u8>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_file() {
        return std::fs::read(path).with_context(|| format!("cannot read {}", path.display()));
    }
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut stack = vec![path.to_path_buf()];
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    for file in files {
        let rel = file
            .strip_prefix(path)?
            .to_string_lossy()
            .replace('\\', "/");
        let mode = std::fs::metadata(&file)?.permissions().mode() & 0o777;
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(mode);
        writer.start_file(rel, options)?;
        writer.write_all(&std::fs::read(&file)?)?;
    }
    Ok(writer.finish()?.into_inner())
}
