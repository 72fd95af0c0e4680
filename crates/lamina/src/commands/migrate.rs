//! `lamina migrate`: moves one node's embedded data directory into a cluster's PostgreSQL
//! database, so that the functions it served keep running on a cluster: every function with
//! its published versions, aliases, settings and URLs; layer versions with their numbers;
//! every package; queued and failed asynchronous events. Logs stay in the data directory.
//! What the database has already (a function of the same name) is left alone, so an
//! interrupted migration is simply run again; the events file, once moved, is set aside
//! (`events.sqlite3.migrated`), so that no event runs twice. The server of that data directory must be
//! stopped (its lock is taken).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use lamina_store::postgres::import;
use lamina_store::{
    CodeStore, DataDirLock, FunctionStore, PackageArchive, PgPackages, PgPool, SqliteStore,
};

/// Flags of `lamina migrate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The embedded data directory to move [default: as `lamina serve`'s].
    #[arg(long, env = "LAMINA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The cluster's database (`postgres://user:password@host:port/db`).
    #[arg(long, env = "LAMINA_DATABASE_URL")]
    database: String,
}

/// Runs the migration and says what moved.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(super::serve::default_data_dir);
    let _lock =
        DataDirLock::acquire(&dir).context("the data directory's server must be stopped")?;
    let store = SqliteStore::open(&dir.join("functions.sqlite3"))?;
    let code = CodeStore::open(&dir.join("code"))?;
    let pool = PgPool::new(&args.database, 4).context("--database")?;
    pool.migrate()
        .await
        .context("bringing the database's schema up to date")?;
    let archive = PgPackages::new(pool.clone());
    let package = async |id: &str| -> anyhow::Result<()> {
        let zip =
            std::fs::read(code.zip_path(id)).with_context(|| format!("reading package {id}"))?;
        archive.save(id, &zip).await?;
        Ok(())
    };

    let (mut functions, mut skipped) = (0, 0);
    for latest in store.all().await? {
        let versions = store.versions(&latest.name).await?;
        for c in std::iter::once(&latest).chain(versions.iter()) {
            package(&c.code.id).await?;
            for l in &c.layers {
                package(&l.code_id).await?;
            }
        }
        if import::import_function(&pool, &latest, &versions).await? {
            functions += 1;
        } else {
            eprintln!(
                "lamina: {} is in the database already; left as it is",
                latest.name
            );
            skipped += 1;
        }
    }
    let mut layers = 0;
    for layer in store.layer_versions().await? {
        package(&layer.code.id).await?;
        if import::import_layer(&pool, &layer).await? {
            layers += 1;
        }
    }
    let queue = dir.join("events.sqlite3");
    let (mut events, mut failed) = (0, 0);
    if queue.exists() {
        let (messages, failures) = lamina_queue::EmbeddedQueue::export(&queue)?;
        for (m, due) in &messages {
            import::import_event(&pool, m, *due).await?;
            events += 1;
        }
        for f in &failures {
            import::import_failed(&pool, f).await?;
            failed += 1;
        }
        // Moved, so set aside: neither a second migration nor this directory's server
        // would run them again.
        for suffix in ["", "-wal", "-shm"] {
            let from = dir.join(format!("events.sqlite3{suffix}"));
            if from.exists() {
                std::fs::rename(&from, dir.join(format!("events.sqlite3{suffix}.migrated")))
                    .with_context(|| format!("setting {} aside", from.display()))?;
            }
        }
    }
    println!(
        "moved {functions} functions ({skipped} already there), {layers} layer versions, \
         {events} queued and {failed} failed events from {} into the database; start the \
         nodes with --database",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
