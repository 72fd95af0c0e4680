//! `lamina delete` (an application deployed from a template) and `lamina build` (a
//! template's packages, without deploying them).

use std::process::ExitCode;

use anyhow::Context;

use super::TemplateArgs;
use crate::commands::Endpoint;
use crate::commands::output::{Output, Table};

/// Flags of `lamina delete`.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    template: TemplateArgs,
    #[command(flatten)]
    endpoint: Endpoint,
}

/// Removes the application: everything its last deploy made, then its record.
pub async fn delete(args: DeleteArgs) -> anyhow::Result<ExitCode> {
    let name = match &args.template.stack_name {
        Some(n) => n.clone(),
        None => {
            let t = args
                .template
                .path()
                .context("no template: give --template or --stack-name")?;
            args.template.name(&t)
        }
    };
    super::delete(&args.endpoint.client(), &name).await?;
    Ok(ExitCode::SUCCESS)
}

/// Flags of `lamina build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    #[command(flatten)]
    template: TemplateArgs,
    #[command(flatten)]
    endpoint: Endpoint,
    #[command(flatten)]
    output: Output,
}

/// Builds every function and layer of the template into `.lamina/build/<LogicalId>.zip`.
pub async fn build(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let loaded = super::load(&args.endpoint.client(), &args.template).await?;
    let packages = super::build_all(&loaded)?;
    let out = loaded.base.join(".lamina/build");
    std::fs::create_dir_all(&out)?;
    let mut table = Table::new(&["RESOURCE", "PACKAGE", "BYTES>", "CODESHA256"]);
    let mut json = Vec::new();
    for (id, zip) in &packages {
        let file = out.join(format!("{id}.zip"));
        std::fs::write(&file, zip).with_context(|| format!("cannot write {}", file.display()))?;
        let sha = super::sha256_b64(zip);
        json.push(serde_json::json!({
            "LogicalId": id, "Package": file, "CodeSize": zip.len(), "CodeSha256": sha,
        }));
        table.row(vec![
            id.clone(),
            file.display().to_string(),
            zip.len().to_string(),
            sha,
        ]);
    }
    args.output.print(&table, &json)?;
    Ok(ExitCode::SUCCESS)
}
