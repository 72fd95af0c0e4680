//! Asynchronous invocation: `InvocationType: Event` and InvokeAsync accept an event once it is
//! durably queued (202); a dispatcher runs queued events as capacity allows and applies
//! Lambda's rules to each outcome:
//! - success: acknowledged, and an invocation record sent to the OnSuccess destination;
//! - a function error: retried up to MaximumRetryAttempts (default 2), waiting one, then two
//!   retry periods (Lambda's 1 and 2 minutes; `--async-retry-delay-ms`);
//! - a throttle or a platform error: retried with a growing pause (from
//!   `--async-backoff-ms` to `--async-backoff-max-ms`) while the event is younger than
//!   MaximumEventAgeInSeconds (default 6 hours);
//! - what fails for good goes to the OnFailure destination, else to the function's
//!   dead-letter target, else to the failed-events store (`lamina events failed`), where it
//!   can be replayed. Nothing is dropped silently.
//!
//! Destinations are Lamina functions, invoked asynchronously with Lambda's invocation
//! record. The queue itself ([`lamina_queue`]) knows nothing of this.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use lamina_model::event_invoke::{
    EventInvokeConfig, EventInvokeConfigRequest, FunctionEventInvokeConfig,
};
use lamina_model::{FunctionRef, LambdaError};
use lamina_queue::{Message, NewMessage, Queue, QueueError, QueueStats, now_ms};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::Platform;
use crate::invoke::InvokeOutput;
use crate::paging::{page, page_size};

/// Tunables of asynchronous invocation.
#[derive(Debug, Clone)]
pub struct AsyncConfig {
    /// The wait before the first retry after a function error; the second waits twice as
    /// long (Lambda: 1 minute, then 2).
    pub retry_delay: Duration,
    /// The first pause after a throttle or a platform error.
    pub backoff: Duration,
    /// The longest such pause (Lambda: 5 minutes).
    pub backoff_max: Duration,
    /// Most queued events running at once (by default the default concurrency limit: queued
    /// events may use the whole server).
    pub max_in_flight: usize,
    /// Most queued events of one function running at once: enough to keep the machine busy
    /// without starting environments the cores cannot serve.
    pub max_in_flight_per_function: usize,
    /// How long one second of MaximumEventAgeInSeconds lasts (one second, but in tests).
    pub age_second: Duration,
    /// At shutdown, how long events already running get to end; those still running then
    /// stay queued and run again after the restart.
    pub drain: Duration,
}

impl Default for AsyncConfig {
    fn default() -> Self {
        AsyncConfig {
            retry_delay: Duration::from_secs(60),
            backoff: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            max_in_flight: crate::PlatformConfig::default_concurrency_limit() as usize,
            max_in_flight_per_function: 4 * lamina_executor::host_cores(),
            age_second: Duration::from_secs(1),
            drain: Duration::from_secs(5),
        }
    }
}

/// The dispatcher's state.
#[derive(Debug)]
pub(crate) struct Events {
    pub(crate) queue: Arc<dyn Queue>,
    config: AsyncConfig,
    in_flight: AtomicUsize,
    /// Events running, per function.
    running: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    closing: AtomicBool,
    /// Woken when an event ends or the server closes.
    wake: Notify,
}

/// What is kept with each queued event besides its payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Attributes {
    request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    qualifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_context: Option<String>,
}

/// A failed event, as `GET /_lamina/events/failed` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FailedEvent {
    /// Id, for replay.
    pub id: i64,
    /// Function.
    pub function_name: String,
    /// Qualifier invoked, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<String>,
    /// The request id the event was accepted with.
    pub request_id: String,
    /// The event.
    pub payload: String,
    /// Times the function ran it.
    pub attempts: u32,
    /// Accepted at, epoch ms.
    pub enqueued_at: u64,
    /// Failed at, epoch ms.
    pub failed_at: u64,
    /// Why (the condition and the last error).
    pub reason: String,
}

impl Events {
    /// One event of `queue` is no longer running.
    fn finished(&self, queue: &str) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = running.get_mut(queue) {
            *n -= 1;
            if *n == 0 {
                running.remove(queue);
            }
        }
    }

    pub(crate) fn new(queue: Arc<dyn Queue>, config: AsyncConfig) -> Events {
        Events {
            queue,
            config,
            in_flight: AtomicUsize::new(0),
            running: Default::default(),
            closing: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }
}

fn queue_error(e: QueueError) -> LambdaError {
    match e {
        QueueError::Full { .. } => LambdaError::TooManyRequests {
            reason: "EventQueueFull".into(),
            message: format!("Rate Exceeded. The event queue is full: {e}"),
        },
        other => LambdaError::Service(format!("Could not queue the event: {other}")),
    }
}

/// One event of a function counted as running; no longer when dropped.
struct Running {
    platform: Platform,
    queue: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let events = &self.platform.inner.events;
        events.finished(&self.queue);
        events.wake.notify_one();
    }
}

/// How an invocation of a queued event ended.
enum Outcome {
    Success(InvokeOutput),
    FunctionError(InvokeOutput),
    /// Throttled or a platform error: retried while the event is young enough.
    Retryable(String),
    /// Will never succeed (the function or qualifier is gone, reserved concurrency 0, ...).
    Permanent(&'static str, String),
}

impl Platform {
    /// Queues an event of `r` (checked already); returns once it is durable.
    pub(crate) async fn enqueue_event(
        &self,
        r: &FunctionRef,
        payload: &Bytes,
        client_context: Option<String>,
        request_id: &str,
    ) -> Result<(), LambdaError> {
        let attributes = Attributes {
            request_id: request_id.to_string(),
            qualifier: r.qualifier.clone(),
            client_context,
        };
        self.inner
            .events
            .queue
            .enqueue(NewMessage {
                queue: r.name.clone(),
                body: payload.to_vec(),
                attributes: serde_json::to_vec(&attributes).unwrap_or_default(),
                due_ms: 0,
            })
            .await
            .map_err(queue_error)?;
        Ok(())
    }

    /// The deprecated InvokeAsync: the same as an Event invocation of `$LATEST` (or the
    /// qualifier in the name), with its own payload limit.
    pub async fn invoke_async(&self, name: &str, payload: Bytes) -> Result<(), LambdaError> {
        let max = lamina_model::limits::INVOKE_ASYNC_PAYLOAD_MAX_BYTES;
        if payload.len() > max {
            return Err(LambdaError::RequestTooLarge(format!(
                "Request must be smaller than {max} bytes for the InvokeAsync operation"
            )));
        }
        self.invoke(crate::InvokeInput {
            function_name: name.to_string(),
            qualifier: None,
            invocation_type: crate::InvocationType::Event,
            log_type: None,
            client_context: None,
            payload,
        })
        .await
        .map(|_| ())
    }

    /// The queue's size and bounds.
    pub fn event_queue_stats(&self) -> QueueStats {
        self.inner.events.queue.stats()
    }

    /// Starts the dispatcher of queued events.
    pub(crate) fn start_dispatcher(&self) {
        let platform = self.clone();
        tokio::spawn(async move { platform.dispatch().await });
    }

    async fn dispatch(self) {
        let events = &self.inner.events;
        loop {
            if events.closing.load(Ordering::SeqCst) {
                return;
            }
            let free = events
                .config
                .max_in_flight
                .saturating_sub(events.in_flight.load(Ordering::SeqCst));
            if free > 0 {
                // Each event is taken with its concurrency slot, only if the function has
                // room now: an event never counts as a throttle for waiting its turn.
                let mut slots = std::collections::HashMap::new();
                let mut taken = std::collections::HashMap::new();
                let concurrency = self.inner.concurrency.clone();
                let per_function = events.config.max_in_flight_per_function.max(1);
                let mut take = |id: i64, queue: &str| {
                    let mut running = events.running.lock().unwrap_or_else(|p| p.into_inner());
                    let busy = running.get(queue).copied().unwrap_or(0);
                    if busy >= per_function {
                        return false;
                    }
                    let reserved = self.reservation(queue);
                    if reserved != Some(0) {
                        // (Reserved concurrency 0 goes straight to the failure path.)
                        match concurrency.try_admit(queue, reserved) {
                            Some(slot) => {
                                slots.insert(id, slot);
                            }
                            None => return false,
                        }
                    }
                    *running.entry(queue.to_string()).or_default() += 1;
                    taken.insert(id, queue.to_string());
                    true
                };
                let leased = events.queue.lease(free, &mut take).await;
                if let Ok(leased) = &leased {
                    // Taken but not returned (dropped meanwhile): not running after all.
                    for m in leased {
                        taken.remove(&m.id);
                    }
                    for queue in taken.values() {
                        events.finished(queue);
                    }
                }
                // Events left due wait for room: let the end of any invocation wake us.
                let left = events
                    .queue
                    .next_due_ms()
                    .is_some_and(|due| due <= now_ms());
                concurrency.watched.store(left, Ordering::SeqCst);
                match leased {
                    Ok(leased) if !leased.is_empty() => {
                        for message in leased {
                            events.in_flight.fetch_add(1, Ordering::SeqCst);
                            let platform = self.clone();
                            let slot = slots.remove(&message.id);
                            tokio::spawn(async move {
                                let running = Running {
                                    platform: platform.clone(),
                                    queue: message.queue.clone(),
                                };
                                platform.handle(message, slot, running).await;
                                let events = &platform.inner.events;
                                events.in_flight.fetch_sub(1, Ordering::SeqCst);
                                events.wake.notify_one();
                            });
                        }
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "could not lease events"),
                }
            }
            let wait = events
                .queue
                .next_due_ms()
                .map(|due| Duration::from_millis(due.saturating_sub(now_ms())))
                .unwrap_or(Duration::from_secs(1))
                .clamp(Duration::from_millis(1), Duration::from_secs(1));
            tokio::select! {
                _ = events.queue.changed() => {}
                _ = events.wake.notified() => {}
                _ = self.inner.concurrency.freed.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Stops taking events and waits (up to `grace`) for those running; what has not ended
    /// stays queued and runs again after a restart.
    pub(crate) async fn stop_dispatcher(&self) {
        let events = &self.inner.events;
        let grace = events.config.drain;
        events.closing.store(true, Ordering::SeqCst);
        events.wake.notify_one();
        let deadline = tokio::time::Instant::now() + grace;
        while events.in_flight.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs one queued event (with the concurrency slot taken for it) and settles it.
    async fn handle(
        &self,
        message: Message,
        slot: Option<crate::concurrency::Admission>,
        running: Running,
    ) {
        let attrs: Attributes = match serde_json::from_slice(&message.attributes) {
            Ok(a) => a,
            Err(e) => {
                self.settle_failure(&message, None, "InvalidEvent", &e.to_string(), None)
                    .await;
                return;
            }
        };
        let r = FunctionRef {
            name: message.queue.clone(),
            qualifier: attrs.qualifier.clone(),
        };
        let config = self.event_config(&r);
        let age_ms = now_ms().saturating_sub(message.enqueued_ms);
        let max_age_ms =
            u64::from(config.max_age_s()) * self.inner.events.config.age_second.as_millis() as u64;
        if age_ms > max_age_ms {
            self.settle_failure(&message, Some(&attrs), "EventAgeExceeded", "", None)
                .await;
            return;
        }
        let outcome = self.attempt(&r, &message, &attrs, slot).await;
        // The function may take its next event while this one is being settled.
        drop(running);
        let events = &self.inner.events;
        if events.closing.load(Ordering::SeqCst) && !matches!(outcome, Outcome::Success(_)) {
            // Interrupted by the shutdown: left queued, it runs again after a restart.
            return;
        }
        let attempts = message.attempts + 1;
        let settled = match outcome {
            Outcome::Success(out) => {
                if let Some(dest) = &config.on_success {
                    let record = self.record(&r, &message, &attrs, "Success", attempts, Some(&out));
                    self.deliver(dest, record).await;
                }
                events.queue.ack(message.id).await
            }
            Outcome::FunctionError(out) => {
                if attempts <= config.retries() {
                    let delay = events.config.retry_delay * attempts;
                    let due = now_ms() + delay.as_millis() as u64;
                    events.queue.retry_later(message.id, due, attempts).await
                } else {
                    let why = String::from_utf8_lossy(&out.payload).into_owned();
                    self.settle_failure(
                        &message,
                        Some(&attrs),
                        "RetriesExhausted",
                        &why,
                        Some((&out, attempts)),
                    )
                    .await;
                    Ok(())
                }
            }
            Outcome::Retryable(why) => {
                // Doubling with the event's age: 1 s, 1 s, 2 s, 4 s, ... up to the cap.
                let backoff = Duration::from_millis(age_ms)
                    .clamp(events.config.backoff, events.config.backoff_max);
                let due = now_ms() + backoff.as_millis() as u64;
                if due.saturating_sub(message.enqueued_ms) > max_age_ms {
                    self.settle_failure(&message, Some(&attrs), "EventAgeExceeded", &why, None)
                        .await;
                    Ok(())
                } else {
                    tracing::debug!(function = %r.name, %why, ?backoff, "event retried later");
                    events
                        .queue
                        .retry_later(message.id, due, message.attempts)
                        .await
                }
            }
            Outcome::Permanent(condition, why) => {
                self.settle_failure(&message, Some(&attrs), condition, &why, None)
                    .await;
                Ok(())
            }
        };
        if let Err(e) = settled {
            tracing::error!(function = %r.name, error = %e, "could not settle an event; it will run again");
        }
    }

    /// One invocation of a queued event.
    async fn attempt(
        &self,
        r: &FunctionRef,
        message: &Message,
        attrs: &Attributes,
        slot: Option<crate::concurrency::Admission>,
    ) -> Outcome {
        let cached = match self.resolve_with(r, lamina_model::random_unit) {
            Ok(c) => c,
            Err(e) => return Outcome::Permanent("ResourceNotFound", e.to_string()),
        };
        if self.reservation(&r.name) == Some(0) {
            return Outcome::Permanent(
                "ZeroReservedConcurrency",
                "The function's reserved concurrency is 0.".into(),
            );
        }
        // A slot taken when the event was leased; else (its function's reservation changed
        // since) one taken now, which may be a throttle.
        let slot = match slot {
            Some(slot) => slot,
            None => match self
                .inner
                .concurrency
                .admit(&r.name, self.reservation(&r.name))
            {
                Ok(slot) => slot,
                Err(e) => return Outcome::Retryable(format!("{}: {e}", e.error_type())),
            },
        };
        let Some(version) = cached.version.clone() else {
            return Outcome::Permanent("InvalidRuntime", cached.config.runtime.clone());
        };
        let payload = Bytes::from(message.body.clone());
        match self
            .run(
                r,
                slot,
                version,
                payload,
                attrs.client_context.clone(),
                false,
                attrs.request_id.clone(),
            )
            .await
        {
            Ok(out) if out.function_error.is_none() => Outcome::Success(out),
            Ok(out) => Outcome::FunctionError(out),
            Err(e) if e.status() == 429 || e.status() >= 500 => {
                Outcome::Retryable(format!("{}: {e}", e.error_type()))
            }
            Err(e) => Outcome::Permanent(e.error_type(), e.to_string()),
        }
    }

    /// An event failed for good: to the OnFailure destination, else the dead-letter
    /// target, else the failed-events store.
    async fn settle_failure(
        &self,
        message: &Message,
        attrs: Option<&Attributes>,
        condition: &str,
        why: &str,
        ran: Option<(&InvokeOutput, u32)>,
    ) {
        let queue = &self.inner.events.queue;
        let r = FunctionRef {
            name: message.queue.clone(),
            qualifier: attrs.and_then(|a| a.qualifier.clone()),
        };
        let config = self.event_config(&r);
        tracing::info!(function = %r.name, condition, "event failed for good");
        let dead_letter = self
            .cached(&r.name)
            .and_then(|c| c.config.dead_letter_target.clone());
        let delivered = match (&config.on_failure, attrs, dead_letter) {
            (Some(dest), Some(attrs), _) => {
                let count = ran.map_or(message.attempts, |(_, n)| n);
                let record = self.record(&r, message, attrs, condition, count, ran.map(|(o, _)| o));
                self.deliver(dest, record).await
            }
            // A dead-letter target gets the event alone, as Lambda's dead-letter queue does.
            (None, _, Some(target)) => {
                let event =
                    serde_json::from_slice(&message.body).unwrap_or(serde_json::Value::Null);
                self.deliver(&target, event).await
            }
            _ => false,
        };
        let settled = if delivered {
            queue.ack(message.id).await
        } else {
            let reason = if why.is_empty() {
                condition.to_string()
            } else {
                format!("{condition}: {why}")
            };
            let ran = ran.map_or(message.attempts, |(_, n)| n);
            queue.dead_letter(message.id, ran, &reason).await
        };
        if let Err(e) = settled {
            tracing::error!(function = %r.name, error = %e, "could not settle a failed event; it will run again");
        }
    }

    /// Queues `record` for the destination function `arn`; false if it cannot be.
    async fn deliver(&self, arn: &str, record: serde_json::Value) -> bool {
        let Ok(target) = FunctionRef::parse(arn, self.identity()) else {
            return false;
        };
        if self.lookup(&target.name, None).is_err() {
            tracing::warn!(destination = %arn, "destination function not found");
            return false;
        }
        let payload = Bytes::from(record.to_string());
        let request_id = lamina_model::new_id();
        match self
            .enqueue_event(&target, &payload, None, &request_id)
            .await
        {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(destination = %arn, error = %e, "could not queue for the destination");
                false
            }
        }
    }

    /// Lambda's invocation record for destinations.
    fn record(
        &self,
        r: &FunctionRef,
        message: &Message,
        attrs: &Attributes,
        condition: &str,
        invoke_count: u32,
        out: Option<&InvokeOutput>,
    ) -> serde_json::Value {
        let as_json = |b: &[u8]| {
            serde_json::from_slice::<serde_json::Value>(b)
                .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(b).into()))
        };
        let mut record = serde_json::json!({
            "version": "1.0",
            "timestamp": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            "requestContext": {
                "requestId": attrs.request_id,
                "functionArn": self.identity().qualified_arn(
                    &r.name,
                    r.qualifier.as_deref().unwrap_or("$LATEST"),
                ),
                "condition": condition,
                "approximateInvokeCount": invoke_count,
            },
            "requestPayload": as_json(&message.body),
        });
        if let Some(out) = out {
            let mut context = serde_json::json!({
                "statusCode": 200,
                "executedVersion": out.executed_version.clone().unwrap_or_else(|| "$LATEST".into()),
            });
            if let Some(fe) = out.function_error {
                context["functionError"] = fe.into();
            }
            record["responseContext"] = context;
            record["responsePayload"] = as_json(&out.payload);
        }
        record
    }

    /// The asynchronous-invocation configuration that applies to `r` (the defaults when none
    /// is set).
    fn event_config(&self, r: &FunctionRef) -> EventInvokeConfig {
        let qualifier = r.qualifier.as_deref().unwrap_or("$LATEST");
        self.cached(&r.name)
            .and_then(|c| c.config.event_invoke.get(qualifier).cloned())
            .unwrap_or_default()
    }

    /// The failed events of `name` (all functions with `None`).
    pub async fn failed_events(&self, name: Option<&str>) -> Result<Vec<FailedEvent>, LambdaError> {
        let failed = self
            .inner
            .events
            .queue
            .failed(name)
            .await
            .map_err(queue_error)?;
        Ok(failed
            .into_iter()
            .map(|f| {
                let attrs: Option<Attributes> = serde_json::from_slice(&f.message.attributes).ok();
                FailedEvent {
                    id: f.message.id,
                    function_name: f.message.queue,
                    qualifier: attrs.as_ref().and_then(|a| a.qualifier.clone()),
                    request_id: attrs.map(|a| a.request_id).unwrap_or_default(),
                    payload: String::from_utf8_lossy(&f.message.body).into_owned(),
                    attempts: f.message.attempts,
                    enqueued_at: f.message.enqueued_ms,
                    failed_at: f.failed_ms,
                    reason: f.reason,
                }
            })
            .collect())
    }

    /// Puts a failed event back in its function's queue; returns its new id.
    pub async fn replay_failed_event(&self, id: i64) -> Result<i64, LambdaError> {
        self.inner
            .events
            .queue
            .replay(id)
            .await
            .map_err(|e| match e {
                QueueError::NotFound(id) => {
                    LambdaError::ResourceNotFound(format!("No failed event {id}."))
                }
                other => queue_error(other),
            })
    }

    /// Drops a deleted function's queued and failed events.
    pub(crate) async fn purge_events(&self, name: &str) {
        if let Err(e) = self.inner.events.queue.purge(name).await {
            tracing::warn!(function = %name, error = %e, "could not drop the function's events");
        }
    }

    /// The qualifier a configuration call names (default `$LATEST`), checked to exist.
    fn event_config_target(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<(String, String), LambdaError> {
        let r = FunctionRef::parse_with_qualifier(name, qualifier, self.identity())?;
        self.resolve(&r)?;
        Ok((r.name, r.qualifier.unwrap_or_else(|| "$LATEST".into())))
    }

    fn check_destination(&self, arn: &str) -> Result<(), LambdaError> {
        let invalid = || {
            LambdaError::InvalidParameterValue(format!(
                "The destination ARN {arn} is invalid: Lamina delivers to functions of this \
                 region and account (arn:aws:lambda:{}:{}:function:NAME).",
                self.identity().region,
                self.identity().account
            ))
        };
        if !arn.starts_with("arn:") {
            return Err(invalid());
        }
        FunctionRef::parse(arn, self.identity()).map_err(|_| invalid())?;
        Ok(())
    }

    /// PutFunctionEventInvokeConfig (replace) or UpdateFunctionEventInvokeConfig (merge).
    pub async fn put_event_invoke_config(
        &self,
        name: &str,
        qualifier: Option<&str>,
        req: EventInvokeConfigRequest,
        merge: bool,
    ) -> Result<FunctionEventInvokeConfig, LambdaError> {
        let (function, qualifier) = self.event_config_target(name, qualifier)?;
        let arn = self.identity().qualified_arn(&function, &qualifier);
        let stored = self
            .change_record(&function, |_, config| {
                let base = match config.event_invoke.get(&qualifier) {
                    Some(old) if merge => old.clone(),
                    None if merge => return Err(no_event_config(&arn)),
                    _ => EventInvokeConfig::default(),
                };
                let mut next = req.apply(base, |a| self.check_destination(a))?;
                next.last_modified = now_ms() as f64 / 1000.0;
                config.event_invoke.insert(qualifier.clone(), next.clone());
                Ok(next)
            })
            .await?;
        Ok(FunctionEventInvokeConfig::new(arn, &stored))
    }

    /// GetFunctionEventInvokeConfig.
    pub fn get_event_invoke_config(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<FunctionEventInvokeConfig, LambdaError> {
        let (function, qualifier) = self.event_config_target(name, qualifier)?;
        let arn = self.identity().qualified_arn(&function, &qualifier);
        let entry = self.lookup(&function, None)?;
        let config = entry
            .config
            .event_invoke
            .get(&qualifier)
            .ok_or_else(|| no_event_config(&arn))?;
        Ok(FunctionEventInvokeConfig::new(arn, config))
    }

    /// ListFunctionEventInvokeConfigs.
    pub fn list_event_invoke_configs(
        &self,
        name: &str,
        marker: Option<&str>,
        max_items: Option<&str>,
    ) -> Result<(Vec<FunctionEventInvokeConfig>, Option<String>), LambdaError> {
        let r = FunctionRef::parse(name, self.identity())?;
        let max = page_size(max_items, 50)?;
        let entry = self.lookup(&r.name, None)?;
        let all: Vec<FunctionEventInvokeConfig> = entry
            .config
            .event_invoke
            .iter()
            .map(|(q, c)| {
                FunctionEventInvokeConfig::new(self.identity().qualified_arn(&r.name, q), c)
            })
            .collect();
        page(all, marker, max)
    }

    /// DeleteFunctionEventInvokeConfig.
    pub async fn delete_event_invoke_config(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<(), LambdaError> {
        let (function, qualifier) = self.event_config_target(name, qualifier)?;
        let arn = self.identity().qualified_arn(&function, &qualifier);
        self.change_record(&function, |_, config| {
            config
                .event_invoke
                .remove(&qualifier)
                .map(|_| ())
                .ok_or_else(|| no_event_config(&arn))
        })
        .await
    }
}

fn no_event_config(arn: &str) -> LambdaError {
    LambdaError::ResourceNotFound(format!(
        "The function {arn} doesn't have an EventInvokeConfig"
    ))
}
