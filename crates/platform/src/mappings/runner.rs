//! Runners of event source mappings: for each enabled mapping, pollers that receive from its
//! SQS queue (long polling, up to BatchSize within the batching window, at most 6 MB), drop
//! what its filters reject (deleting it, as Lambda does), invoke the function synchronously
//! with Lambda's `{"Records": [...]}`, and delete what succeeded: the whole batch, or all but
//! the reported `batchItemFailures`. A failed batch is left to reappear after the queue's
//! visibility timeout (and to follow its redrive policy). Pollers scale from one up to the
//! mapping's MaximumConcurrency while batches come full, and back down when idle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use lamina_model::LambdaError;
use lamina_model::mapping::{
    MappingRecord, SourceKind, batch_item_failures, filterable, sqs_record,
};
use lamina_pattern::Pattern;
use serde_json::{Value, json};

use super::source::Source;
use super::{LastResults, MAPPING};
use crate::Platform;
use crate::sqs::MessageOut;

/// Pollers of one mapping at most, when its ScalingConfig says nothing.
const DEFAULT_MAX_POLLERS: usize = 20;
/// The largest payload a batch may make (Lambda's 6 MB, less room for the envelope).
const BATCH_MAX_BYTES: usize = 6 * 1024 * 1024 - 64 * 1024;

/// The runners of one platform's mappings.
#[derive(Debug, Default)]
pub(crate) struct Runners {
    state: Mutex<State>,
    pub(crate) last: LastResults,
    /// RabbitMQ brokers by ARN: their AMQP URLs (`--mq-broker`).
    pub(crate) brokers: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct State {
    generation: u64,
    latest: HashMap<String, u64>,
    running: HashMap<String, Arc<AtomicBool>>,
}

impl Runners {
    pub(crate) fn new(brokers: Vec<(String, String)>) -> Runners {
        Runners {
            brokers,
            ..Runners::default()
        }
    }

    pub(crate) fn last_result(&self, uuid: &str) -> String {
        self.last.get(uuid)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Brings the runner of `uuid` in line with its stored record (in the background).
    pub(crate) fn reconcile(&self, p: &Platform, uuid: &str) {
        let generation = {
            let mut s = self.state();
            s.generation += 1;
            let g = s.generation;
            s.latest.insert(uuid.to_string(), g);
            if let Some(stop) = s.running.remove(uuid) {
                stop.store(true, Ordering::SeqCst);
            }
            g
        };
        let p = p.clone();
        let uuid = uuid.to_string();
        tokio::spawn(async move { settle(&p, &uuid, generation).await });
    }

    /// Brings every runner in line with the stored mappings (another node changed them):
    /// runners of mappings gone are stopped, the others restarted on their record.
    pub(crate) fn reconcile_all(&self, p: &Platform) {
        let p = p.clone();
        tokio::spawn(async move {
            let Ok(all) = p.event_source_mappings().all().await else {
                return;
            };
            let stored: std::collections::HashSet<String> =
                all.iter().map(|m| m.uuid.clone()).collect();
            {
                let mut s = p.inner.mappings.state();
                s.running.retain(|uuid, stop| {
                    let keep = stored.contains(uuid);
                    if !keep {
                        stop.store(true, Ordering::SeqCst);
                    }
                    keep
                });
            }
            for m in all {
                p.inner.mappings.reconcile(&p, &m.uuid);
            }
        });
    }

    /// Stops every runner (the platform is shutting down).
    pub(crate) fn stop_all(&self) {
        for (_, stop) in self.state().running.drain() {
            stop.store(true, Ordering::SeqCst);
        }
    }
}

/// Applies a mapping's stored state: deletes it, or starts or leaves stopped its runner.
async fn settle(p: &Platform, uuid: &str, generation: u64) {
    let mappings = p.event_source_mappings();
    let Ok(Some(doc)) = p.inner.documents.get(MAPPING, uuid).await else {
        return;
    };
    let Ok(mut record) = serde_json::from_str::<MappingRecord>(&doc) else {
        return;
    };
    let runners = &p.inner.mappings;
    if runners.state().latest.get(uuid) != Some(&generation) {
        return;
    }
    if record.state == "Deleting" {
        // Give a poller that is mid-batch time to finish with it.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = p.inner.documents.delete(MAPPING, uuid).await;
        return;
    }
    let next = if record.enabled {
        let stop = Arc::new(AtomicBool::new(false));
        {
            let mut s = runners.state();
            if s.latest.get(uuid) != Some(&generation) {
                return;
            }
            s.running.insert(uuid.to_string(), stop.clone());
        }
        start(p, record.clone(), stop);
        "Enabled"
    } else {
        "Disabled"
    };
    if record.state != next {
        record.state = next.into();
        if let Err(e) = mappings.save(&record).await {
            tracing::warn!(mapping = uuid, error = %e, "could not record a mapping's state");
        }
    }
}

/// What the pollers of one mapping share.
pub(crate) struct Shared {
    pub(crate) platform: Weak<crate::Inner>,
    pub(crate) record: MappingRecord,
    /// Resolved on first use (another endpoint's queue URL is asked for).
    source: Mutex<Option<Arc<Source>>>,
    pub(crate) filters: Vec<Pattern>,
    pub(crate) stop: Arc<AtomicBool>,
    pollers: AtomicUsize,
    max_pollers: usize,
}

impl Shared {
    /// Says in the mapping's last result what keeps it from its source.
    pub(crate) fn problem(&self, p: &Platform, what: &str) {
        p.inner
            .mappings
            .last
            .set(&self.record.uuid, &format!("PROBLEM: {what}"));
    }
}

/// One connection's worth of a consumer's work, until it stops or fails.
pub(crate) type Session = for<'a> fn(
    &'a Platform,
    &'a Shared,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>,
>;

/// Runs a consumer's `session` until the mapping stops, again a second after each end (a
/// broker away, a connection lost); what ended a session is the mapping's last result.
pub(crate) async fn sessions(shared: &Shared, session: Session) {
    while !shared.stop.load(Ordering::SeqCst) {
        let Some(inner) = shared.platform.upgrade() else {
            return;
        };
        let p = Platform { inner };
        if let Err(e) = session(&p, shared).await {
            shared.problem(&p, &e);
        }
        drop(p);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn start(p: &Platform, record: MappingRecord, stop: Arc<AtomicBool>) {
    let filters = record
        .filter_criteria
        .iter()
        .flat_map(|f| &f.filters)
        .filter_map(|f| f.pattern.as_deref().and_then(|p| Pattern::parse(p).ok()))
        .collect();
    let max_pollers = record
        .maximum_concurrency
        .map_or(DEFAULT_MAX_POLLERS, |c| c as usize);
    let shared = Arc::new(Shared {
        platform: Arc::downgrade(&p.inner),
        record,
        source: Mutex::new(None),
        filters,
        stop,
        pollers: AtomicUsize::new(0),
        max_pollers,
    });
    match shared.record.kind() {
        // One consumer per queue keeps the broker's order.
        SourceKind::RabbitMq => {
            tokio::spawn(async move { super::rabbitmq::consume(&shared).await });
        }
        // One group member per mapping and node; Kafka shares the partitions among them.
        SourceKind::Kafka => {
            tokio::spawn(async move { super::kafka::consume(&shared).await });
        }
        SourceKind::Sqs => spawn_poller(shared),
    }
}

fn spawn_poller(shared: Arc<Shared>) {
    shared.pollers.fetch_add(1, Ordering::SeqCst);
    tokio::spawn(async move {
        poll(&shared).await;
        shared.pollers.fetch_sub(1, Ordering::SeqCst);
    });
}

/// One poller: batches until the mapping stops, or until it idles while others poll.
async fn poll(shared: &Arc<Shared>) {
    let mut idle_rounds = 0;
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Some(inner) = shared.platform.upgrade() else {
            return;
        };
        let p = Platform { inner };
        let received = match source(&p, shared).await {
            Ok(source) => gather(&p, shared, &source).await.map(|b| (source, b)),
            Err(e) => Err(e),
        };
        let (source, batch) = match received {
            Ok(received) => received,
            Err(e) => {
                // The source cannot be reached: said in the mapping, tried again shortly.
                shared.problem(&p, &e.to_string());
                drop(p);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if shared.stop.load(Ordering::SeqCst) {
            // Stopped while receiving: what it took goes back to the queue at once.
            let handles = batch.into_iter().map(|m| m.receipt_handle).collect();
            source.release(&p, handles).await;
            return;
        }
        if batch.is_empty() {
            idle_rounds += 1;
            if idle_rounds >= 2 && shared.pollers.load(Ordering::SeqCst) > 1 {
                return;
            }
            continue;
        }
        idle_rounds = 0;
        let full = batch.len() >= shared.record.batch_size as usize;
        if full && shared.pollers.load(Ordering::SeqCst) < shared.max_pollers {
            spawn_poller(shared.clone());
        }
        let throttled = process(&p, shared, &source, batch).await;
        drop(p);
        if throttled {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The mapping's source, resolved once.
async fn source(p: &Platform, shared: &Shared) -> Result<Arc<Source>, String> {
    if let Some(s) = shared
        .source
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
    {
        return Ok(s);
    }
    let resolved = Arc::new(Source::resolve(p, &shared.record.event_source_arn).await?);
    *shared.source.lock().unwrap_or_else(|p| p.into_inner()) = Some(resolved.clone());
    Ok(resolved)
}

/// Receives one batch: up to BatchSize messages within the batching window.
async fn gather(p: &Platform, shared: &Shared, source: &Source) -> Result<Vec<MessageOut>, String> {
    let record = &shared.record;
    let want = record.batch_size as usize;
    let window = Duration::from_secs(u64::from(record.batching_window_s));
    let deadline = tokio::time::Instant::now() + window;
    let mut batch: Vec<MessageOut> = Vec::new();
    let mut bytes = 0;
    while batch.len() < want && !shared.stop.load(Ordering::SeqCst) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        // The first receive waits long (checking every few seconds for a stop); the
        // others only as long as the window has left.
        let wait = if batch.is_empty() {
            5
        } else {
            left.as_secs().min(20) as i64
        };
        let got = source
            .receive(p, (want - batch.len()).min(10), wait)
            .await?;
        let empty = got.is_empty();
        for m in got {
            bytes += m.body.len() + 512;
            batch.push(m);
        }
        if bytes >= BATCH_MAX_BYTES
            || (empty && !batch.is_empty())
            || (!batch.is_empty() && tokio::time::Instant::now() >= deadline)
        {
            break;
        }
        if empty && batch.is_empty() {
            break;
        }
    }
    Ok(batch)
}

/// Filters, invokes and settles one batch; whether the function was throttled.
async fn process(p: &Platform, shared: &Shared, source: &Source, batch: Vec<MessageOut>) -> bool {
    let record = &shared.record;
    let region = p.identity().region.clone();
    let mut records = Vec::new();
    let mut dropped = Vec::new();
    for m in &batch {
        let r = sqs_record(
            &m.message_id,
            &m.receipt_handle,
            &m.body,
            &m.attributes,
            &m.message_attributes,
            &m.md5_of_body,
            m.md5_of_message_attributes.as_deref(),
            &record.event_source_arn,
            &region,
        );
        let keep = shared.filters.is_empty() || {
            let seen = filterable(&r);
            shared.filters.iter().any(|f| f.matches(&seen))
        };
        if keep {
            records.push((m, r));
        } else {
            dropped.push(m.receipt_handle.clone());
        }
    }
    source.delete(p, dropped).await;
    if records.is_empty() {
        return false;
    }
    let payload =
        json!({"Records": records.iter().map(|(_, r)| r.clone()).collect::<Vec<Value>>()});
    let outcome = super::invoke_batch(p, record, &payload).await;
    let last = &p.inner.mappings.last;
    match outcome {
        Ok(out) if out.function_error.is_none() => {
            let failed = if record.report_batch_item_failures {
                let ids: Vec<&str> = records.iter().map(|(m, _)| m.message_id.as_str()).collect();
                batch_item_failures(&out.payload, &ids)
            } else {
                Some(Vec::new())
            };
            let Some(failed) = failed else {
                last.set(&record.uuid, "PROBLEM: Function response was not valid");
                return false;
            };
            let done: Vec<String> = records
                .iter()
                .filter(|(m, _)| !failed.contains(&m.message_id))
                .map(|(m, _)| m.receipt_handle.clone())
                .collect();
            source.delete(p, done).await;
            last.set(&record.uuid, "OK");
            false
        }
        Ok(_) => {
            last.set(&record.uuid, "PROBLEM: Function call failed");
            false
        }
        Err(LambdaError::TooManyRequests { .. }) => {
            last.set(&record.uuid, "PROBLEM: Function call throttled");
            true
        }
        Err(e) => {
            last.set(&record.uuid, &format!("PROBLEM: {e}"));
            true
        }
    }
}
