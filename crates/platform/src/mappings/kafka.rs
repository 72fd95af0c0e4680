//! A self-managed Kafka mapping's consumer: a member of the mapping's consumer group (its
//! ConsumerGroupId, or its UUID) on the bootstrap servers it names, subscribed to its one
//! topic; on one node a static member, so that a restarted server resumes at once. Records
//! are gathered up to BatchSize within the batching window (500 ms when none is set, as
//! Lambda's), filtered, and given to the function as Lambda's `SelfManagedKafka` event. One
//! batch is in flight at a time, so each partition's order is kept. After the function
//! succeeds the offsets after the batch are committed (those of filtered-out records too);
//! after it fails the consumer seeks back to the batch's first offsets and the same records
//! come again, after a pause, until the function takes them, or until the mapping's
//! MaximumRetryAttempts or MaximumRecordAgeInSeconds gives up on them: then the on-failure
//! destination (an SQS queue) gets Lambda's record of the batch, and the offsets move past
//! it. Nothing is committed before the batch is settled, so a stop or a crash repeats a
//! batch and never loses one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use lamina_model::kafka::{FailedCall, GivenUp, KafkaRecord, failure_record, kafka_event};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message, Timestamp};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::runner::Shared;
use crate::Platform;

/// The largest payload a batch may make (Lambda's 6 MB, less room for the envelope).
const BATCH_MAX_BYTES: usize = 6 * 1024 * 1024 - 64 * 1024;
/// How long a blocking call to the cluster (a seek, a lookup of offsets) may take.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends librdkafka's log lines to tracing, and its errors to the mapping's last result
/// (an unreachable cluster shows in `LastProcessingResult`, as Lambda shows it).
struct Context {
    platform: std::sync::Weak<crate::Inner>,
    uuid: String,
}

impl ClientContext for Context {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        use rdkafka::config::RDKafkaLogLevel as L;
        match level {
            // Errors also reach `error` below, and show in the mapping: an unreachable cluster
            // would otherwise fill the log at every reconnection.
            L::Emerg | L::Alert | L::Critical => {
                tracing::warn!(mapping = %self.uuid, facility = fac, "kafka: {log_message}")
            }
            _ => {
                tracing::debug!(mapping = %self.uuid, facility = fac, "kafka: {log_message}")
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if let Some(inner) = self.platform.upgrade() {
            inner.mappings.last.set(
                &self.uuid,
                &format!("PROBLEM: Connection error. {error}: {reason}"),
            );
        }
    }
}

impl ConsumerContext for Context {}

/// Consumes until the mapping stops; starts again after a second when the session fails.
pub(crate) async fn consume(shared: &Shared) {
    super::runner::sessions(shared, |p, shared| Box::pin(session(p, shared))).await;
}

fn consumer(shared: &Shared) -> Result<StreamConsumer<Context>, KafkaError> {
    let record = &shared.record;
    let (position, _) = record.starting_position();
    let mut config = ClientConfig::new();
    // One node is a static member of the group (KIP-345), under a name its restart keeps: a
    // server restarted after a crash takes its partitions back at once, where a new member
    // would wait out the dead one's session (45 s). A cluster's nodes share the partitions
    // and have no lasting name, so each is a dynamic member.
    let one_node = shared
        .platform
        .upgrade()
        .is_some_and(|inner| inner.grants.is_none());
    if one_node {
        config.set("group.instance.id", format!("lamina-{}", record.uuid));
    }
    config
        .set("bootstrap.servers", record.bootstrap_servers())
        .set("group.id", record.consumer_group())
        .set("client.id", format!("lamina-{}", record.uuid))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set(
            "auto.offset.reset",
            if position == "LATEST" {
                "latest"
            } else {
                "earliest"
            },
        )
        // A batch's function may run for up to 15 minutes without the consumer polling.
        .set("max.poll.interval.ms", "960000")
        .create_with_context(Context {
            platform: shared.platform.clone(),
            uuid: record.uuid.clone(),
        })
}

/// Every partition of `topic`, as the cluster describes it.
fn partitions<C: ConsumerContext>(
    c: &impl Consumer<C>,
    topic: &str,
    timeout: Duration,
) -> Result<TopicPartitionList, KafkaError> {
    let metadata = c.fetch_metadata(Some(topic), timeout)?;
    let mut all = TopicPartitionList::new();
    for t in metadata.topics().iter().filter(|t| t.name() == topic) {
        for part in t.partitions() {
            all.add_partition(topic, part.id());
        }
    }
    Ok(all)
}

/// For AT_TIMESTAMP: each partition the group has no offset for yet starts at the first
/// record at or after the timestamp (committed for the group before it subscribes, so the
/// group's members all start there).
fn start_at_timestamp(c: &StreamConsumer<Context>, topic: &str, ms: i64) -> Result<(), KafkaError> {
    let all = partitions(c, topic, CLUSTER_TIMEOUT)?;
    let committed = c.committed_offsets(all, CLUSTER_TIMEOUT)?;
    let mut fresh = TopicPartitionList::new();
    for e in committed.elements() {
        if !matches!(e.offset(), Offset::Offset(_)) {
            fresh.add_partition_offset(topic, e.partition(), Offset::Offset(ms))?;
        }
    }
    if fresh.count() == 0 {
        return Ok(());
    }
    let found = c.offsets_for_times(fresh, CLUSTER_TIMEOUT)?;
    c.commit(&found, CommitMode::Sync)
}

/// Closes a consumer off the async workers: librdkafka's close leaves the group and
/// waits for the broker, a blocking call.
struct Closing(Option<Arc<StreamConsumer<Context>>>);

impl Drop for Closing {
    fn drop(&mut self) {
        if let Some(c) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn_blocking(move || drop(c));
        }
    }
}

/// One consumer's worth of consuming.
async fn session(p: &Platform, shared: &Shared) -> Result<(), String> {
    let record = &shared.record;
    let topic = record.kafka_topic().to_string();
    // The only lasting handle is the guard's, so the consumer is closed where it says.
    let closing = Closing(Some(Arc::new(consumer(shared).map_err(|e| e.to_string())?)));
    let Some(consumer) = closing.0.as_ref() else {
        return Ok(());
    };
    if let (_, Some(seconds)) = record.starting_position()
        && record.starting_position().0 == "AT_TIMESTAMP"
    {
        let c = consumer.clone();
        let t = topic.clone();
        let ms = (seconds * 1000.0) as i64;
        tokio::task::spawn_blocking(move || start_at_timestamp(&c, &t, ms))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| {
                format!("Connection error. The starting offsets could not be found: {e}")
            })?;
    }
    consumer
        .subscribe(&[topic.as_str()])
        .map_err(|e| e.to_string())?;
    let window = match record.batching_window_s {
        0 => Duration::from_millis(500),
        s => Duration::from_secs(u64::from(s)),
    };
    let mut failing = Failing::default();
    loop {
        // The first record waits, a few seconds at a time (to notice a stop).
        let first = loop {
            if shared.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            match tokio::time::timeout(Duration::from_secs(2), consumer.recv()).await {
                Ok(Ok(m)) => break owned(&m),
                Ok(Err(e)) => return Err(e.to_string()),
                Err(_) => continue,
            }
        };
        let mut bytes = size(&first);
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + window;
        while batch.len() < record.batch_size as usize && bytes < BATCH_MAX_BYTES {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(Ok(m)) => {
                    let r = owned(&m);
                    bytes += size(&r);
                    batch.push(r);
                }
                Ok(Err(e)) => return Err(e.to_string()),
                Err(_) => break,
            }
        }
        if shared.stop.load(Ordering::SeqCst) {
            // Stopped (disabled, changed, deleted) while gathering: the function is not
            // called; nothing was committed, so the batch is read again when the mapping runs again.
            return Ok(());
        }
        settle(p, shared, consumer, batch, &mut failing).await?;
    }
}

/// The batch that last failed (its partitions' first offsets) and how often it was given to
/// the function: the same batch read again counts as a retry.
#[derive(Debug, Default)]
struct Failing {
    firsts: BTreeMap<(String, i32), i64>,
    attempts: u32,
}

/// The record as the model holds it.
fn owned(m: &BorrowedMessage<'_>) -> KafkaRecord {
    let (timestamp, timestamp_type) = match m.timestamp() {
        Timestamp::LogAppendTime(t) => (t, "LOG_APPEND_TIME"),
        Timestamp::CreateTime(t) => (t, "CREATE_TIME"),
        Timestamp::NotAvailable => (-1, "NO_TIMESTAMP_TYPE"),
    };
    KafkaRecord {
        topic: m.topic().to_string(),
        partition: m.partition(),
        offset: m.offset(),
        timestamp,
        timestamp_type,
        key: m.key().map(<[u8]>::to_vec),
        value: m.payload().map(<[u8]>::to_vec),
        headers: m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// About what a record adds to the event (base64 grows it by a third).
fn size(r: &KafkaRecord) -> usize {
    let data = r.key.as_ref().map_or(0, Vec::len) + r.value.as_ref().map_or(0, Vec::len);
    data * 4 / 3
        + r.headers
            .iter()
            .map(|(k, v)| k.len() + v.len() * 4)
            .sum::<usize>()
        + 160
}

/// Per partition of a batch: its first and last offsets.
fn span(batch: &[KafkaRecord]) -> BTreeMap<(String, i32), (i64, i64)> {
    let mut spans = BTreeMap::new();
    for r in batch {
        spans
            .entry((r.topic.clone(), r.partition))
            .and_modify(|(first, last): &mut (i64, i64)| {
                *first = (*first).min(r.offset);
                *last = (*last).max(r.offset);
            })
            .or_insert((r.offset, r.offset));
    }
    spans
}

/// Filters, invokes, and commits or rewinds one batch.
async fn settle(
    p: &Platform,
    shared: &Shared,
    consumer: &Arc<StreamConsumer<Context>>,
    batch: Vec<KafkaRecord>,
    failing: &mut Failing,
) -> Result<(), String> {
    let record = &shared.record;
    let spans = span(&batch);
    let kept: Vec<KafkaRecord> = batch
        .into_iter()
        .filter(|r| {
            shared.filters.is_empty() || {
                let seen = r.filterable();
                shared.filters.iter().any(|f| f.matches(&seen))
            }
        })
        .collect();
    let outcome = if kept.is_empty() {
        None
    } else {
        let event = kafka_event(&record.bootstrap_servers(), &kept);
        Some(super::invoke_batch(p, record, &event).await)
    };
    match outcome {
        None => {}
        Some(done) if p.inner.mappings.last.called(&record.uuid, &done) => {}
        Some(failed) => {
            let firsts: BTreeMap<(String, i32), i64> = spans
                .iter()
                .map(|(k, (first, _))| (k.clone(), *first))
                .collect();
            failing.attempts = if failing.firsts == firsts {
                failing.attempts + 1
            } else {
                1
            };
            failing.firsts = firsts;
            let given_up = give_up(p, record, &kept, &failed, failing.attempts).await;
            if !given_up {
                rewind(consumer, &record.uuid, &spans).await?;
                // The batch comes back at once: a pause keeps a failing function from spinning.
                tokio::time::sleep(Duration::from_millis(500)).await;
                return Ok(());
            }
        }
    }
    *failing = Failing::default();
    let mut done = TopicPartitionList::new();
    for ((topic, partition), (_, last)) in &spans {
        done.add_partition_offset(topic, *partition, Offset::Offset(last + 1))
            .map_err(|e| e.to_string())?;
    }
    consumer
        .commit(&done, CommitMode::Async)
        .map_err(|e| format!("the offsets could not be committed: {e}"))
}

/// Seeks the consumer back to the first offset of each partition of a failed batch.
async fn rewind(
    consumer: &Arc<StreamConsumer<Context>>,
    uuid: &str,
    spans: &BTreeMap<(String, i32), (i64, i64)>,
) -> Result<(), String> {
    let mut back = TopicPartitionList::new();
    for ((topic, partition), (first, _)) in spans {
        back.add_partition_offset(topic, *partition, Offset::Offset(*first))
            .map_err(|e| e.to_string())?;
    }
    let c = consumer.clone();
    let sought = tokio::task::spawn_blocking(move || c.seek_partitions(back, CLUSTER_TIMEOUT))
        .await
        .map_err(|e| e.to_string())?;
    // A partition that cannot be sought was taken away by a rebalance: its new owner
    // starts from the last committed offset, before this batch.
    if let Err(e) = sought {
        tracing::debug!(mapping = %uuid, error = %e, "kafka: seeking back failed");
    }
    Ok(())
}

/// Whether a failed batch is given up on (its retries spent, or its oldest record too
/// old), after its record reached the on-failure destination if there is one. A batch
/// whose record cannot be delivered is not given up on: it is retried.
async fn give_up(
    p: &Platform,
    record: &lamina_model::mapping::MappingRecord,
    kept: &[KafkaRecord],
    failed: &Result<crate::InvokeOutput, lamina_model::LambdaError>,
    attempts: u32,
) -> bool {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let oldest = kept.iter().map(|r| r.timestamp).filter(|t| *t >= 0).min();
    let why = if record
        .max_record_age_s()
        .zip(oldest)
        .is_some_and(|(age, oldest)| now_ms - oldest > age as i64 * 1000)
    {
        GivenUp::RecordAgeExceeded
    } else if record.retry_limit().is_some_and(|limit| attempts > limit) {
        GivenUp::RetryAttemptsExhausted
    } else {
        return false;
    };
    let Some(destination) = record.on_failure() else {
        p.inner.mappings.last.set(
            &record.uuid,
            &format!(
                "PROBLEM: Function call failed; the batch was skipped ({})",
                why.as_str()
            ),
        );
        return true;
    };
    let call = match failed {
        Ok(out) => FailedCall {
            request_id: out.request_id.clone(),
            function_arn: record.function_arn.clone(),
            status_code: out.status,
            executed_version: out
                .executed_version
                .clone()
                .unwrap_or_else(|| "$LATEST".into()),
            function_error: out.function_error.map(str::to_string),
            invoke_count: attempts,
        },
        Err(e) => FailedCall {
            request_id: lamina_model::new_id(),
            function_arn: record.function_arn.clone(),
            // The call never reached the function: throttled, or refused by the service.
            status_code: if matches!(e, lamina_model::LambdaError::TooManyRequests { .. }) {
                429
            } else {
                500
            },
            executed_version: "$LATEST".into(),
            function_error: None,
            invoke_count: attempts,
        },
    };
    let body = failure_record(&call, why, &record.bootstrap_servers(), kept);
    let sqs = p.sqs();
    let Some(queue) = destination.strip_prefix(&sqs.arn("")) else {
        return false;
    };
    let message = crate::sqs::SendInput {
        body: Some(body.to_string()),
        ..Default::default()
    };
    match sqs.send_message(queue, message).await {
        Ok(_) => true,
        Err(e) => {
            p.inner.mappings.last.set(
                &record.uuid,
                &format!(
                    "PROBLEM: the on-failure destination {destination} could not be reached: {e}"
                ),
            );
            false
        }
    }
}

/// How many records of the mapping's topic its group has yet to commit (for `lamina
/// mappings`), or `None` when the cluster does not answer within a few seconds.
pub(crate) async fn lag(record: &lamina_model::mapping::MappingRecord) -> Option<u64> {
    let (servers, group, topic) = (
        record.bootstrap_servers(),
        record.consumer_group().to_string(),
        record.kafka_topic().to_string(),
    );
    tokio::task::spawn_blocking(move || -> Option<u64> {
        let timeout = Duration::from_secs(3);
        let c: rdkafka::consumer::BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", servers)
            .set("group.id", group)
            .create()
            .ok()?;
        let all = partitions(&c, &topic, timeout).ok()?;
        let committed = c.committed_offsets(all, timeout).ok()?;
        let mut behind = 0u64;
        for e in committed.elements() {
            let (low, high) = c.fetch_watermarks(&topic, e.partition(), timeout).ok()?;
            let done = match e.offset() {
                Offset::Offset(o) => o,
                _ => low,
            };
            behind += (high - done).max(0) as u64;
        }
        Some(behind)
    })
    .await
    .ok()
    .flatten()
}
