//! A node of a cluster following the changes the others make: each announced change of a
//! function (and, after the notifications' connection was lost, every function) is read
//! back from the shared store and, where it differs from this node's cache, replaces the
//! cache entry after fetching the packages it needs; environments of a `$LATEST` that
//! changed, of versions removed, or of a function deleted are retired, as on the node that
//! made the change. The node's own changes come back too, and find the cache already equal.
//!
//! Each refresh holds the control lock, so it never interleaves with a local change.

use std::collections::BTreeSet;
use std::sync::Arc;

use lamina_store::Change;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::{Platform, packages};

/// Follows `changes` for as long as the platform lives.
pub(crate) fn follow(p: &Platform, mut changes: UnboundedReceiver<Change>) {
    let weak = Arc::downgrade(&p.inner);
    tokio::spawn(async move {
        while let Some(change) = changes.recv().await {
            let Some(inner) = weak.upgrade() else {
                return;
            };
            let p = Platform { inner };
            match change {
                Change::Function(name) => refresh(&p, &name).await,
                Change::Documents(kind) => documents_changed(&p, &kind),
                Change::Resync => {
                    documents_changed(&p, "schedule");
                    documents_changed(&p, "rule");
                    documents_changed(&p, "sqs-queue");
                    documents_changed(&p, "event-source-mapping");
                    resync(&p).await
                }
            }
        }
    });
}

/// Another node changed documents of `kind`: what caches them reads them again.
fn documents_changed(p: &Platform, kind: &str) {
    match kind {
        "schedule" => p.inner.timer.changed(),
        "sqs-queue" => p.inner.sqs.changed(),
        "event-source-mapping" => p.inner.mappings.reconcile_all(p),
        "rule" => {
            p.inner.rules.changed();
            p.inner.timer.changed();
        }
        _ => {}
    }
}

/// Compares every function, stored or cached.
async fn resync(p: &Platform) {
    let stored = match p.registry().store().all().await {
        Ok(all) => all,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the functions to catch up");
            return;
        }
    };
    let names: BTreeSet<String> = stored
        .into_iter()
        .map(|c| c.name)
        .chain(p.registry().entries().iter().map(|c| c.config.name.clone()))
        .collect();
    for name in names {
        refresh(p, &name).await;
    }
}

/// Makes this node's entry of `name` what the store holds.
async fn refresh(p: &Platform, name: &str) {
    let registry = p.registry();
    let _guard = registry.lock().await;
    let store = registry.store();
    let latest = match store.get(name).await {
        Ok(latest) => latest,
        Err(e) => {
            tracing::warn!(function = name, error = %e, "could not read a changed function");
            return;
        }
    };
    let cached = registry.cached(name);
    let Some(latest) = latest else {
        if cached.is_some() {
            registry.forget(name);
            p.inner.concurrency.forget(name);
            p.inner.executor.retire_function(name);
            recount_reservations(p);
        }
        return;
    };
    let versions = match store.versions(name).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(function = name, error = %e, "could not read a changed function");
            return;
        }
    };
    let numbers = |vs: &[lamina_model::FunctionConfig]| -> BTreeSet<String> {
        vs.iter().map(|v| v.version.clone()).collect()
    };
    let now_published = numbers(&versions);
    let was_published: BTreeSet<String> = cached
        .as_ref()
        .map(|c| c.published.keys().map(u64::to_string).collect())
        .unwrap_or_default();
    if let Some(c) = &cached
        && c.config == latest
        && was_published == now_published
    {
        return;
    }
    if let Some(archive) = &p.inner.archive {
        let ids: Vec<String> = std::iter::once(&latest)
            .chain(versions.iter())
            .flat_map(|c| {
                std::iter::once(c.code.id.clone()).chain(c.layers.iter().map(|l| l.code_id.clone()))
            })
            .collect();
        if let Err(e) = packages::fetch_missing(registry.code(), archive.as_ref(), &ids).await {
            tracing::warn!(function = name, error = %e, "could not fetch a changed function's packages");
            return;
        }
    }
    packages::merge_layers(registry.code(), &latest, &versions).await;
    for v in std::iter::once(&latest).chain(versions.iter()) {
        p.inner
            .executor
            .prepare_package(&registry.code().task_dir(&v.code.id))
            .await;
    }
    let new_code = cached
        .as_ref()
        .is_some_and(|c| c.config.revision_id != latest.revision_id);
    registry.put_with(latest, versions);
    if new_code {
        p.inner.executor.retire_version(name, "$LATEST");
    }
    for gone in was_published.difference(&now_published) {
        p.inner.executor.retire_version(name, gone);
    }
    recount_reservations(p);
}

/// Sets the sum of reserved concurrency from the cache, after a change another node made.
fn recount_reservations(p: &Platform) {
    let reserved: u32 = p
        .registry()
        .entries()
        .iter()
        .filter_map(|c| c.config.reserved_concurrency)
        .sum();
    p.inner
        .concurrency
        .reserved_total
        .store(reserved, std::sync::atomic::Ordering::SeqCst);
}

/// Every second: gives back the reservation slots this node has not needed lately, and
/// spreads provisioned concurrency again if the live nodes changed; every two, writes this
/// node's invocation metrics for the cluster.
pub(crate) fn trim_grants(p: &Platform) {
    if p.inner.grants.is_none() {
        return;
    }
    let weak = Arc::downgrade(&p.inner);
    tokio::spawn(async move {
        let mut tick = 0u64;
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let Some(inner) = weak.upgrade() else { return };
            tick += 1;
            if tick.is_multiple_of(2) {
                save_metrics(&Platform {
                    inner: inner.clone(),
                })
                .await;
            }
            if let Some(grants) = &inner.grants {
                let concurrency = inner.concurrency.clone();
                grants.trim(|f| concurrency.in_flight(f)).await;
                // Provisioned concurrency follows the live nodes.
                let members = grants.members();
                let live = members.live();
                if let Some(index) = live.iter().position(|id| id == members.id()) {
                    inner.registry.set_share((index, live.len()));
                }
            }
        }
    });
}

/// Writes this node's invocation metrics (cumulative) for the cluster to sum.
async fn save_metrics(p: &Platform) {
    let (Some(metrics), Some(grants)) = (&p.inner.metrics, &p.inner.grants) else {
        return;
    };
    let mine: std::collections::BTreeMap<String, lamina_store::FunctionMetrics> = p
        .registry()
        .entries()
        .iter()
        .map(|c| {
            let counter = p.inner.concurrency.counters(&c.config.name);
            let n = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
            (
                c.config.name.clone(),
                lamina_store::FunctionMetrics {
                    invocations: n(&counter.invocations),
                    errors: n(&counter.errors),
                    throttles: n(&counter.throttles),
                    cold_starts: n(&counter.cold_starts),
                    duration_us: n(&counter.duration_us),
                    billed_mb_ms: n(&counter.billed_mb_ms),
                },
            )
        })
        .collect();
    if let Err(e) = metrics.save(grants.members().id(), &mine).await {
        tracing::debug!(error = %e, "could not write this node's metrics");
    }
}

/// This node's view of its cluster (nothing to see for one node).
#[derive(Debug, Clone, Copy)]
pub struct Cluster<'a> {
    pub(crate) p: &'a Platform,
}

impl Cluster<'_> {
    /// In a cluster, reads `function` back from the shared store before an operation on it,
    /// so that no node answers from a state older than a change another node made (a
    /// client behind a load balancer reads its own writes). Nothing for one node.
    pub async fn catch_up(&self, function: &str) {
        if self.p.inner.grants.is_some() {
            let name = lamina_model::FunctionRef::parse(function, self.p.identity())
                .map(|r| r.name)
                .unwrap_or_else(|_| function.to_string());
            refresh(self.p, &name).await;
        }
    }

    /// In a cluster, adds to `status` every live node with the slots it holds (this one
    /// marked), and makes each function's invocation metrics the cluster's totals (as of
    /// the nodes' last writes, this node's own figures taken as they are now). Nothing for
    /// one node, or when the database cannot be read.
    pub async fn status(&self, status: &mut lamina_model::status::ServerStatus) {
        if let Some(metrics) = &self.p.inner.metrics {
            save_metrics(self.p).await;
            match metrics.totals().await {
                Ok(totals) => {
                    for f in &mut status.functions {
                        if let Some(t) = totals.get(&f.name) {
                            f.invocations = t.invocations;
                            f.errors = t.errors;
                            f.throttles = t.throttles;
                            f.cold_starts = t.cold_starts;
                            f.duration_ms = t.duration_us as f64 / 1000.0;
                            f.billed_mb_ms = t.billed_mb_ms;
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not read the cluster's metrics"),
            }
        }
        status.nodes = cluster_nodes(self.p).await;
    }
}

/// In a cluster, every live node with the slots it holds (this one marked); none for one
/// node, or when the database cannot be read.
async fn cluster_nodes(p: &Platform) -> Vec<lamina_model::status::NodeStatus> {
    let Some(grants) = &p.inner.grants else {
        return Vec::new();
    };
    let members = grants.members();
    match members.nodes().await {
        Ok(nodes) => nodes
            .into_iter()
            .map(|n| lamina_model::status::NodeStatus {
                this_node: n.id == members.id(),
                id: n.id,
                endpoint: n.endpoint,
                silent_ms: n.silent_ms,
                holds: n.holds.into_iter().collect(),
            })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the cluster's nodes");
            Vec::new()
        }
    }
}
