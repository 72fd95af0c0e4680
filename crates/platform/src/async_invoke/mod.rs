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
//!
//! Layout: this module accepts events and holds the dispatcher's state; `dispatcher` runs
//! them; `policy` decides, as pure functions, what becomes of each outcome; `delivery`
//! sends what failed for good (or succeeded) to destinations; `failed` lists and replays
//! failed events. The EventInvokeConfig API is in `control::event_invoke`.

mod delivery;
mod dispatcher;
mod failed;
mod policy;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use lamina_model::delivery::Delivery;
use lamina_model::event_invoke::EventInvokeConfig;
use lamina_model::{FunctionRef, LambdaError};
use lamina_queue::{NewMessage, Queue, QueueError, QueueStats};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::Platform;

/// Asynchronous invocation: accepting events, the dispatcher, failed events. A view of the platform: `platform.async_invoke()`.
#[derive(Debug, Clone, Copy)]
pub struct AsyncInvoke<'a> {
    pub(crate) p: &'a Platform,
}

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
    pub(super) queue: Arc<dyn Queue>,
    pub(super) config: AsyncConfig,
    pub(super) in_flight: AtomicUsize,
    /// Events running, per function.
    pub(super) running: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    pub(super) closing: AtomicBool,
    /// Woken when an event ends or the server closes.
    pub(super) wake: Notify,
    /// Woken when the last running event ends.
    pub(super) drained: Notify,
}

impl Events {
    /// Whether the platform is shutting down.
    pub(crate) fn closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }
}

/// What is kept with each queued event besides its payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Attributes {
    pub(super) request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) qualifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) client_context: Option<String>,
    /// The caller's `X-Amzn-Trace-Id`, whose trace the invocation joins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) trace_header: Option<String>,
    /// Set when a rule or a schedule queued the event: its target's delivery policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) delivery: Option<Delivery>,
}

impl Events {
    /// One event of `queue` is no longer running.
    pub(super) fn finished(&self, queue: &str) {
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
            drained: Notify::new(),
        }
    }
}

pub(super) fn queue_error(e: QueueError) -> LambdaError {
    match e {
        QueueError::Full { .. } => LambdaError::TooManyRequests {
            reason: "EventQueueFull".into(),
            message: format!("Rate Exceeded. The event queue is full: {e}"),
        },
        other => LambdaError::Service(format!("Could not queue the event: {other}")),
    }
}

/// One event of a function counted as running; no longer when dropped.
pub(super) struct Running {
    pub(super) platform: Platform,
    pub(super) queue: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let events = &self.platform.inner.events;
        events.finished(&self.queue);
        events.wake.notify_one();
    }
}

impl AsyncInvoke<'_> {
    /// Queues an event of `r` (checked already), in the caller's trace when it named one;
    /// returns once it is durable.
    pub(crate) async fn enqueue_event(
        &self,
        r: &FunctionRef,
        payload: &Bytes,
        client_context: Option<String>,
        request_id: &str,
        trace_header: Option<String>,
    ) -> Result<(), LambdaError> {
        let attributes = Attributes {
            request_id: request_id.to_string(),
            qualifier: r.qualifier.clone(),
            client_context,
            trace_header,
            delivery: None,
        };
        self.enqueue_with(r, payload, attributes).await
    }

    async fn enqueue_with(
        &self,
        r: &FunctionRef,
        payload: &Bytes,
        attributes: Attributes,
    ) -> Result<(), LambdaError> {
        self.p
            .inner
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
        self.counter(&r.name).event_received();
        Ok(())
    }

    /// Queues an event a rule or a schedule delivers to the function `target` (an ARN,
    /// possibly qualified), with its target's delivery policy; returns once it is durable.
    /// The function need not exist yet: an event that finds it missing when it runs goes
    /// to the target's dead-letter queue.
    pub async fn enqueue_delivery(
        &self,
        target: &str,
        payload: Bytes,
        delivery: Delivery,
    ) -> Result<String, LambdaError> {
        let r = FunctionRef::parse(target, self.p.identity())?;
        let request_id = lamina_model::new_id();
        let attributes = Attributes {
            request_id: request_id.to_string(),
            qualifier: r.qualifier.clone(),
            client_context: None,
            trace_header: None,
            delivery: Some(delivery),
        };
        self.enqueue_with(&r, &payload, attributes).await?;
        Ok(request_id)
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
        self.p
            .invoke(crate::InvokeInput {
                function_name: name.to_string(),
                qualifier: None,
                invocation_type: crate::InvocationType::Event,
                log_type: crate::LogType::None,
                client_context: None,
                payload,
                request_id: None,
                trace_header: None,
            })
            .await
            .map(|_| ())
    }

    /// The queue's size and bounds.
    pub fn event_queue_stats(&self) -> QueueStats {
        self.p.inner.events.queue.stats()
    }

    /// Stops taking events and waits (up to the drain time) for those running; what has not
    /// ended stays queued and runs again after a restart.
    pub(crate) async fn stop_dispatcher(&self) {
        let events = &self.p.inner.events;
        events.closing.store(true, Ordering::SeqCst);
        events.wake.notify_one();
        let deadline = tokio::time::Instant::now() + events.config.drain;
        loop {
            let drained = events.drained.notified();
            if events.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, drained).await.is_err() {
                return;
            }
        }
    }

    /// The asynchronous-invocation configuration that applies to `r` (the defaults when none
    /// is set).
    pub(super) fn event_config(&self, r: &FunctionRef) -> EventInvokeConfig {
        let qualifier = r.qualifier.as_deref().unwrap_or("$LATEST");
        self.p
            .registry()
            .cached(&r.name)
            .and_then(|c| c.config.event_invoke.get(qualifier).cloned())
            .unwrap_or_default()
    }

    /// Drops a deleted function's queued and failed events.
    pub(crate) async fn purge_events(&self, name: &str) {
        if let Err(e) = self.p.inner.events.queue.purge(name).await {
            tracing::warn!(function = %name, error = %e, "could not drop the function's events");
        }
    }
}
