//! `lamina deploy --watch`: after the first deploy, each save rebuilds the function whose
//! sources changed and updates only its code (publishing a new version for its alias, if it
//! has one), then prints the new CodeSha256 and the time from the save to the moment the
//! function's next invocation runs the new code. A change to the template itself deploys it
//! whole. Builds reuse installed dependencies ([`crate::commands::build`]), so a code change
//! costs a zip and one upload.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use lamina_client::Client;
use notify::Watcher;
use reqwest::Method;
use serde_json::json;
use tokio::sync::mpsc;

use super::{Loaded, TemplateArgs};
use crate::commands::output::Output;
use crate::commands::style;

/// Saves come in bursts (an editor writes, renames, touches): changes closer than this are
/// one.
const SETTLE: Duration = Duration::from_millis(40);

/// Paths whose changes are not the user's: builds, caches, editors' scratch files.
fn ignored(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.components().any(|c| {
        let c = c.as_os_str().to_string_lossy();
        matches!(
            c.as_ref(),
            ".lamina" | ".git" | "__pycache__" | "node_modules" | ".aws-sam"
        )
    }) || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name == "4913"
}

/// A watch over `roots`: each batch of changed paths, with when the first of them came.
struct Changes {
    _watcher: notify::RecommendedWatcher,
    rx: mpsc::UnboundedReceiver<PathBuf>,
}

impl Changes {
    fn over(roots: &[PathBuf]) -> anyhow::Result<Changes> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
            if let Ok(e) = e
                && !matches!(e.kind, notify::EventKind::Access(_))
            {
                for p in e.paths.into_iter().filter(|p| !ignored(p)) {
                    let _ = tx.send(p);
                }
            }
        })
        .context("cannot watch files (inotify)")?;
        for r in roots {
            watcher
                .watch(r, notify::RecursiveMode::Recursive)
                .with_context(|| format!("cannot watch {}", r.display()))?;
        }
        Ok(Changes {
            _watcher: watcher,
            rx,
        })
    }

    /// The next batch of changes and when it began.
    async fn next(&mut self) -> Option<(Instant, Vec<PathBuf>)> {
        let first = self.rx.recv().await?;
        let began = Instant::now();
        let mut paths = vec![first];
        while let Ok(Some(p)) = tokio::time::timeout(SETTLE, self.rx.recv()).await {
            paths.push(p);
        }
        paths.sort();
        paths.dedup();
        Some((began, paths))
    }
}

/// Updates `name`'s code to `zip` (and its alias to a new version), waits until it is
/// ready, and prints what changed and how long since the save.
async fn update(
    client: &Client,
    label: &str,
    name: &str,
    alias: Option<&str>,
    zip: &[u8],
    began: Instant,
) -> anyhow::Result<()> {
    use base64::Engine;
    let seg = lamina_client::segment;
    let body = json!({ "ZipFile": base64::engine::general_purpose::STANDARD.encode(zip) });
    let path = format!("/2015-03-31/functions/{}/code", seg(name));
    let mut updated = client.rest(Method::PUT, &path, Some(&body)).await?;
    while updated["LastUpdateStatus"].as_str() == Some("InProgress") {
        tokio::time::sleep(Duration::from_millis(10)).await;
        updated = serde_json::to_value(client.get_configuration(name).await?)?;
    }
    if let Some(alias) = alias {
        let made = client
            .rest(
                Method::POST,
                &format!("/2015-03-31/functions/{}/versions", seg(name)),
                Some(&json!({})),
            )
            .await?;
        let path = format!("/2015-03-31/functions/{}/aliases/{}", seg(name), seg(alias));
        let body = json!({ "FunctionVersion": made["Version"] });
        client.rest(Method::PUT, &path, Some(&body)).await?;
    }
    anstream::println!(
        "{} {label}: CodeSha256 {}, ready {} ms after the save",
        style::added("updated"),
        updated["CodeSha256"].as_str().unwrap_or_default(),
        began.elapsed().as_millis()
    );
    Ok(())
}

/// Watches one function's directory (`lamina deploy NAME DIR --watch`).
pub async fn function(
    client: &Client,
    name: &str,
    dir: &Path,
    runtime: Option<&str>,
    handler: Option<&str>,
) -> anyhow::Result<()> {
    if !dir.is_dir() {
        anyhow::bail!("--watch needs a directory, not a file");
    }
    let mut changes = Changes::over(&[dir.to_path_buf()])?;
    eprintln!("watching {} for changes (Ctrl-C to stop)", dir.display());
    let mut last = super::sha256_b64(&crate::commands::deploy::package(
        name, dir, runtime, handler,
    )?);
    while let Some((began, _)) = changes.next().await {
        let zip = match crate::commands::deploy::package(name, dir, runtime, handler) {
            Ok(z) => z,
            Err(e) => {
                anstream::eprintln!("{} {e:#}", style::removed("build failed:"));
                continue;
            }
        };
        let sha = super::sha256_b64(&zip);
        if sha == last {
            continue;
        }
        match update(client, name, name, None, &zip, began).await {
            Ok(()) => last = sha,
            Err(e) => anstream::eprintln!("{} {e:#}", style::removed("update failed:")),
        }
    }
    Ok(())
}

/// Watches a template's directory (`lamina deploy --watch`).
pub async fn template(client: &Client, args: &TemplateArgs, output: &Output) -> anyhow::Result<()> {
    let mut loaded = super::load(client, args).await?;
    let root = std::fs::canonicalize(&loaded.base)?;
    let template = std::fs::canonicalize(&loaded.template)?;
    let mut changes = Changes::over(std::slice::from_ref(&root))?;
    eprintln!("watching {} for changes (Ctrl-C to stop)", root.display());
    let mut packages = super::build_all(&loaded)?;
    while let Some((began, paths)) = changes.next().await {
        let outcome = if paths.iter().any(|p| p == &template || in_layer(&loaded, p)) {
            redeploy(client, args, output, began).await.map(|l| {
                loaded = l.0;
                packages = l.1;
            })
        } else {
            code_changes(client, &loaded, &mut packages, &paths, began).await
        };
        if let Err(e) = outcome {
            anstream::eprintln!("{} {e:#}", style::removed("failed:"));
        }
    }
    Ok(())
}

fn in_layer(loaded: &Loaded, path: &Path) -> bool {
    loaded.app.layers.iter().any(|l| match &l.content {
        lamina_template::app::CodeUri::Dir(d) => {
            std::fs::canonicalize(d).is_ok_and(|d| path.starts_with(d))
        }
        lamina_template::app::CodeUri::Zip(z) => std::fs::canonicalize(z).is_ok_and(|z| path == z),
    })
}

async fn redeploy(
    client: &Client,
    args: &TemplateArgs,
    output: &Output,
    began: Instant,
) -> anyhow::Result<(Loaded, BTreeMap<String, Vec<u8>>)> {
    super::deploy(client, args, output).await?;
    anstream::println!(
        "{} the template, {} ms after the save",
        style::added("deployed"),
        began.elapsed().as_millis()
    );
    let loaded = super::load(client, args).await?;
    let packages = super::build_all(&loaded)?;
    Ok((loaded, packages))
}

/// Rebuilds the functions whose sources hold one of `paths`, and updates those whose
/// package changed; the record follows, so the next deploy sees no change.
async fn code_changes(
    client: &Client,
    loaded: &Loaded,
    packages: &mut BTreeMap<String, Vec<u8>>,
    paths: &[PathBuf],
    began: Instant,
) -> anyhow::Result<()> {
    let mut changed = Vec::new();
    for f in &loaded.app.functions {
        let lamina_template::app::CodeUri::Dir(dir) = &f.code else {
            continue;
        };
        let Ok(dir) = std::fs::canonicalize(dir) else {
            continue;
        };
        if !paths.iter().any(|p| p.starts_with(&dir)) {
            continue;
        }
        let zip = super::package(loaded, &f.logical_id, &f.code)?;
        if packages.get(&f.logical_id) == Some(&zip) {
            continue;
        }
        update(
            client,
            &f.logical_id,
            &f.name,
            f.alias.as_deref(),
            &zip,
            began,
        )
        .await?;
        packages.insert(f.logical_id.clone(), zip);
        changed.push(format!("Function:{}", f.logical_id));
    }
    if !changed.is_empty() {
        let code = packages
            .iter()
            .map(|(k, v)| (k.clone(), super::sha256_b64(v)))
            .collect();
        let desired = lamina_template::plan::desired(&loaded.app, &code);
        if let Some(mut record) = client.lamina().application(&loaded.app.name).await? {
            for r in record
                .resources
                .iter_mut()
                .filter(|r| changed.contains(&r.key))
            {
                if let Some(d) = desired.iter().find(|d| d.key == r.key) {
                    r.digest = d.digest.clone();
                }
            }
            client
                .lamina()
                .put_application(&loaded.app.name, &record)
                .await?;
        }
    }
    Ok(())
}
