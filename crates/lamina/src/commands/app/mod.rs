//! Applications from SAM templates: `lamina deploy --template` reads the template
//! ([`lamina_template::load`]), builds each function and layer ([`super::build`]), compares
//! the result with the record of the last deploy the server keeps, shows the plan, and takes
//! its steps with a progress bar ([`apply`]), recording after each one so an interrupted
//! deploy resumes where it stopped. `lamina delete` takes the record's resources away.

mod apply;
pub mod cmds;
pub mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use lamina_client::Client;
use lamina_model::application::{Record, Recorded};
use lamina_template::Application;
use lamina_template::app::CodeUri;
use lamina_template::plan::{Action, Step};
use reqwest::Method;
use sha2::Digest;

use super::output::{Output, Table};
use super::style;

/// Where the template is and what it is deployed as.
#[derive(Debug, Clone, clap::Args)]
pub struct TemplateArgs {
    /// A SAM template (the default when `template.yaml` or `template.yml` is in the current
    /// directory and no function is named).
    #[arg(long, short = 't')]
    pub template: Option<PathBuf>,
    /// The application's name; by default the template directory's name.
    #[arg(long)]
    pub stack_name: Option<String>,
    /// Template parameters, KEY=VALUE (repeatable, or several in one argument).
    #[arg(long, value_name = "KEY=VALUE", num_args = 1..)]
    pub parameter_overrides: Vec<String>,
}

impl TemplateArgs {
    /// The template: the one given, else one in the current directory.
    pub fn path(&self) -> Option<PathBuf> {
        self.template.clone().or_else(|| {
            ["template.yaml", "template.yml"]
                .into_iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
        })
    }

    /// The application's name.
    pub fn name(&self, template: &Path) -> String {
        if let Some(n) = &self.stack_name {
            return n.clone();
        }
        let dir = std::fs::canonicalize(template)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "app".into());
        let cleaned: String = dir
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        match cleaned.chars().next() {
            Some(c) if c.is_ascii_alphabetic() => cleaned,
            _ => format!("app-{cleaned}"),
        }
    }
}

/// The SHA-256 of `bytes` in base64, as CodeSha256 says it.
pub fn sha256_b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(bytes))
}

/// A template read for a server.
pub struct Loaded {
    pub app: Application,
    pub template: PathBuf,
    pub base: PathBuf,
    pub account: String,
}

/// Reads the template for the server `client` talks to.
pub async fn load(client: &Client, args: &TemplateArgs) -> anyhow::Result<Loaded> {
    let template = args.path().context(
        "nothing to deploy: give NAME PATH for one function, or --template FILE for an \
             application (the default where template.yaml is)",
    )?;
    let text = std::fs::read_to_string(&template)
        .with_context(|| format!("cannot read {}", template.display()))?;
    let base = template
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let health = client.lamina().health().await?;
    let field = |k: &str, default: &str| {
        health[k]
            .as_str()
            .map_or_else(|| default.to_string(), str::to_string)
    };
    let mut overrides = BTreeMap::new();
    for kv in args
        .parameter_overrides
        .iter()
        .flat_map(|a| a.split_whitespace())
    {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--parameter-overrides {kv:?} is not KEY=VALUE"))?;
        overrides.insert(k.to_string(), v.to_string());
    }
    let cx = lamina_template::Context {
        app: args.name(&template),
        region: field("region", "us-east-1"),
        account: field("account", "000000000000"),
        endpoint: client.endpoint().trim_end_matches('/').to_string(),
        base: base.clone(),
        overrides,
    };
    let app = lamina_template::load(&text, &cx)
        .with_context(|| format!("{} cannot be deployed", template.display()))?;
    for note in &app.notes {
        anstream::eprintln!("{} {note}", style::note("note:"));
    }
    Ok(Loaded {
        app,
        template,
        base,
        account: cx.account,
    })
}

/// Builds a function (or layer) package of the template.
pub fn package(loaded: &Loaded, id: &str, code: &CodeUri) -> anyhow::Result<Vec<u8>> {
    let f = loaded.app.functions.iter().find(|f| f.logical_id == id);
    let field = |k: &str| f.and_then(|f| f.config.get(k)).and_then(|v| v.as_str());
    match code {
        CodeUri::Zip(p) => std::fs::read(p).with_context(|| format!("cannot read {}", p.display())),
        CodeUri::Dir(dir) => super::build::package_of(&super::build::Job {
            id,
            dir,
            runtime: field("Runtime"),
            handler: field("Handler"),
            work: loaded.base.join(".lamina/build"),
        }),
    }
}

/// Builds every package of the template, by logical id.
pub fn build_all(loaded: &Loaded) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let mut packages = BTreeMap::new();
    for l in &loaded.app.layers {
        let zip = match &l.content {
            CodeUri::Zip(p) => std::fs::read(p)?,
            CodeUri::Dir(d) => super::package::zip_of(&super::package::files_of(d)?)?,
        };
        packages.insert(l.logical_id.clone(), zip);
    }
    for f in &loaded.app.functions {
        packages.insert(
            f.logical_id.clone(),
            package(loaded, &f.logical_id, &f.code)?,
        );
    }
    Ok(packages)
}

/// Deploys the template: builds, plans against the record, applies; prints the functions
/// with their URLs (or, as JSON, the record).
pub async fn deploy(
    client: &Client,
    args: &TemplateArgs,
    output: &Output,
) -> anyhow::Result<Record> {
    let loaded = load(client, args).await?;
    let packages = build_all(&loaded)?;
    let code: BTreeMap<String, String> = packages
        .iter()
        .map(|(k, v)| (k.clone(), sha256_b64(v)))
        .collect();
    let name = loaded.app.name.clone();
    let record = client
        .lamina()
        .application(&name)
        .await?
        .unwrap_or_else(|| Record {
            name: name.clone(),
            ..Record::default()
        });
    let desired = lamina_template::plan::desired(&loaded.app, &code);
    let steps = lamina_template::plan::plan(&desired, &record);
    let touched = steps.iter().filter(|s| s.action != Action::Delete).count();
    show_plan(&name, &steps, desired.len().saturating_sub(touched));
    let layer_arns = record
        .resources
        .iter()
        .filter_map(|r| {
            Some((
                r.key.strip_prefix("Layer:")?.to_string(),
                r.physical.clone(),
            ))
        })
        .collect();
    let mut applier = apply::Applier {
        client,
        app: &loaded.app,
        packages: &packages,
        layer_arns,
        account: loaded.account.clone(),
    };
    let record = take(client, &mut applier, record, &steps).await?;
    output.print(&endpoints(client, &loaded.app).await, &record)?;
    Ok(record)
}

/// Takes `steps`, recording each as it is done. A step that makes or changes something
/// stops the deploy when it fails (what follows may need it); a deletion that fails (a
/// bucket that still holds objects) leaves its resource in the record and the others go on,
/// and the failures are reported together at the end.
async fn take(
    client: &Client,
    applier: &mut apply::Applier<'_>,
    mut record: Record,
    steps: &[Step],
) -> anyhow::Result<Record> {
    let bar = style::progress(steps.len() as u64);
    let mut kept = Vec::new();
    for step in steps {
        bar.set_message(format!("{} {}", verb(step.action), step.key));
        let done = applier
            .apply(step)
            .await
            .with_context(|| format!("{} {} failed", verb(step.action), step.key));
        let physical = match done {
            Ok(p) => p,
            Err(e) if step.action == Action::Delete => {
                kept.push(format!("{e:#}"));
                bar.inc(1);
                continue;
            }
            Err(e) => {
                bar.abandon();
                client
                    .lamina()
                    .put_application(&record.name, &record)
                    .await
                    .ok();
                return Err(e);
            }
        };
        record.resources.retain(|r| r.key != step.key);
        if let Some(physical) = physical {
            record.resources.push(Recorded {
                key: step.key.clone(),
                physical,
                digest: step.digest.clone(),
            });
        }
        client
            .lamina()
            .put_application(&record.name, &record)
            .await?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    if !kept.is_empty() {
        anyhow::bail!("{}", kept.join("\n"));
    }
    Ok(record)
}

fn verb(a: Action) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Update => "update",
        Action::Replace => "replace",
        Action::Delete => "delete",
    }
}

/// Prints the plan; `unchanged` is how many resources stay as they are.
fn show_plan(name: &str, steps: &[Step], unchanged: usize) {
    let count = |a: Action| steps.iter().filter(|s| s.action == a).count();
    anstream::eprintln!(
        "{} {name}: {} to create, {} to update, {} to replace, {} to delete, {unchanged} unchanged",
        style::bold("plan"),
        count(Action::Create),
        count(Action::Update),
        count(Action::Replace),
        count(Action::Delete),
    );
    for s in steps {
        let sign = match s.action {
            Action::Create => style::added("+"),
            Action::Update => style::changed("~"),
            Action::Replace => style::changed("±"),
            Action::Delete => style::removed("-"),
        };
        anstream::eprintln!("  {sign} {}", s.key);
    }
}

/// Each function's name, and its URL with the routes its HTTP events name.
async fn endpoints(client: &Client, app: &Application) -> Table {
    let mut table = Table::new(&["FUNCTION", "NAME", "URL", "ROUTES"]);
    for f in &app.functions {
        let mut url = String::from("-");
        if f.url.is_some() {
            let mut path = format!(
                "/2021-10-31/functions/{}/url",
                lamina_client::segment(&f.name)
            );
            if let Some(a) = &f.alias {
                path.push_str(&format!("?Qualifier={}", lamina_client::segment(a)));
            }
            if let Ok(u) = client.rest(Method::GET, &path, None).await
                && let Some(found) = u["FunctionUrl"].as_str()
            {
                url = found.to_string();
            }
        }
        let routes = if f.routes.is_empty() {
            "-".to_string()
        } else {
            f.routes.join(", ")
        };
        table.row(vec![f.logical_id.clone(), f.name.clone(), url, routes]);
    }
    table
}

/// `lamina delete`: removes what the application's record holds, then the record.
pub async fn delete(client: &Client, name: &str) -> anyhow::Result<()> {
    let record = client
        .lamina()
        .application(name)
        .await?
        .with_context(|| format!("no application {name} was deployed"))?;
    let steps = lamina_template::plan::teardown(&record);
    show_plan(name, &steps, 0);
    let app = Application::default();
    let packages = BTreeMap::new();
    let mut applier = apply::Applier {
        client,
        app: &app,
        packages: &packages,
        layer_arns: BTreeMap::new(),
        account: client.lamina().health().await?["account"]
            .as_str()
            .unwrap_or("000000000000")
            .to_string(),
    };
    let record = take(client, &mut applier, record, &steps).await?;
    if record.resources.is_empty() {
        client.lamina().delete_application(name).await?;
    }
    anstream::eprintln!("deleted {name}");
    Ok(())
}
