//! The dispatcher: leases due events as the server's and each function's concurrency
//! allow (an event waiting its turn is never a throttle), runs each on the synchronous
//! invocation path, and settles it by the [`super::policy`].

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use lamina_model::{FunctionRef, LambdaError};
use lamina_queue::Message;

use super::AsyncInvoke;
use super::policy::{self, Attempt, History, Settlement};
use super::{Attributes, Running};
use crate::invoke::InvokeOutput;

/// How an invocation of a queued event ended.
enum Outcome {
    Success(InvokeOutput),
    FunctionError(InvokeOutput),
    /// Throttled or a platform error: retried while the event is young enough.
    Retryable(String),
    /// Will never succeed (the function or qualifier is gone, reserved concurrency 0, ...).
    Permanent(&'static str, String),
}

impl AsyncInvoke<'_> {
    /// Starts the dispatcher of queued events.
    pub(crate) fn start_dispatcher(&self) {
        let platform = self.p.clone();
        tokio::spawn(async move { platform.async_invoke().dispatch().await });
    }

    async fn dispatch(self) {
        let events = &self.p.inner.events;
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
                // The queue calls `take` holding its index lock; inside, the locks nest as
                // ARCHITECTURE.md's lock order says: the running map, then the function
                // cache (a read), then admission's counters. Nothing here awaits.
                let mut slots = std::collections::HashMap::new();
                let mut taken = std::collections::HashMap::new();
                // In a cluster, one more account slot is asked for at most once a round.
                let mut asked_account = false;
                let concurrency = self.p.inner.concurrency.clone();
                let per_function = events.config.max_in_flight_per_function.max(1);
                let mut take = |id: i64, queue: &str| {
                    let mut running = events.running.lock().unwrap_or_else(|p| p.into_inner());
                    let busy = running.get(queue).copied().unwrap_or(0);
                    if busy >= per_function {
                        return false;
                    }
                    let reserved = self.p.registry().reservation(queue);
                    if reserved != Some(0) {
                        // (Reserved concurrency 0 goes straight to the failure path.)
                        // In a cluster, within the reservation's slots this node holds; when
                        // all are busy, one more is asked for, for the next round.
                        let cap = match (&self.p.inner.grants, reserved) {
                            (Some(grants), Some(r)) => {
                                let cap = grants.cap(queue, r);
                                if concurrency.in_flight(queue) >= cap && cap < r {
                                    let p = self.p.clone();
                                    let queue = queue.to_string();
                                    tokio::spawn(async move {
                                        if let Some(g) = &p.inner.grants
                                            && g.grow(&queue, r).await
                                        {
                                            p.inner.events.wake.notify_one();
                                        }
                                    });
                                }
                                Some(cap)
                            }
                            (Some(_), None) => {
                                let pool = concurrency.unreserved_pool();
                                if !asked_account
                                    && concurrency.unreserved_in_flight()
                                        >= concurrency.unreserved_held()
                                    && concurrency.unreserved_held() < pool
                                {
                                    asked_account = true;
                                    let p = self.p.clone();
                                    tokio::spawn(async move {
                                        if let Some(g) = &p.inner.grants
                                            && g.grow_account(pool).await
                                        {
                                            p.inner.events.wake.notify_one();
                                        }
                                    });
                                }
                                None
                            }
                            _ => reserved,
                        };
                        match concurrency.try_admit(queue, cap) {
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
                    .is_some_and(|due| due <= events.queue.clock().now_ms());
                concurrency.watch_releases(left);
                match leased {
                    Ok(leased) if !leased.is_empty() => {
                        for message in leased {
                            events.in_flight.fetch_add(1, Ordering::SeqCst);
                            let platform = self.p.clone();
                            let slot = slots.remove(&message.id);
                            tokio::spawn(async move {
                                let running = Running {
                                    platform: platform.clone(),
                                    queue: message.queue.clone(),
                                };
                                platform.async_invoke().handle(message, slot, running).await;
                                let events = &platform.inner.events;
                                if events.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
                                    events.drained.notify_waiters();
                                }
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
                .map(|due| Duration::from_millis(due.saturating_sub(events.queue.clock().now_ms())))
                .unwrap_or(Duration::from_secs(1))
                .clamp(Duration::from_millis(1), Duration::from_secs(1));
            tokio::select! {
                _ = events.queue.changed() => {}
                _ = events.wake.notified() => {}
                _ = self.p.inner.concurrency.released() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Runs one queued event (with the concurrency slot taken for it) and settles it.
    async fn handle(
        &self,
        message: Message,
        slot: Option<crate::admission::Admission>,
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
        let events = &self.p.inner.events;
        let started_ms = events.queue.clock().now_ms();
        // A rule's or schedule's event that has not reached the function yet is bounded by
        // its target's MaximumEventAgeInSeconds too.
        let delivery_expired = message.attempts == 0
            && attrs.delivery.as_ref().is_some_and(|d| {
                started_ms.saturating_sub(message.enqueued_ms)
                    > u64::from(d.max_age_s) * events.config.age_second.as_millis() as u64
            });
        if delivery_expired
            || policy::expired(message.enqueued_ms, started_ms, &config, &events.config)
        {
            self.settle_failure(&message, Some(&attrs), "EventAgeExceeded", "", None)
                .await;
            return;
        }
        // AsyncEventAge: from acceptance to this run, in the server's milliseconds.
        self.counter(&r.name)
            .event_aged(started_ms.saturating_sub(message.enqueued_ms) as f64);
        let outcome = self.attempt(&r, &message, &attrs, slot).await;
        // The function may take its next event while this one is being settled.
        drop(running);
        if events.closing.load(Ordering::SeqCst) && !matches!(outcome, Outcome::Success(_)) {
            // Interrupted by the shutdown: left queued, it runs again after a restart.
            return;
        }
        let (attempt, ran, why) = match &outcome {
            Outcome::Success(out) => (Attempt::Success, Some(out), String::new()),
            Outcome::FunctionError(out) => (
                Attempt::FunctionError,
                Some(out),
                String::from_utf8_lossy(&out.payload).into_owned(),
            ),
            Outcome::Retryable(why) => (Attempt::Retryable, None, why.clone()),
            Outcome::Permanent(condition, why) => {
                self.settle_failure(&message, Some(&attrs), condition, why, None)
                    .await;
                return;
            }
        };
        let history = History {
            enqueued_ms: message.enqueued_ms,
            attempts: message.attempts,
            started_ms,
            now_ms: events.queue.clock().now_ms(),
        };
        let settled = match policy::settle(attempt, history, &config, &events.config) {
            Settlement::Ack => {
                if let (Some(dest), Some(out)) = (&config.on_success, ran) {
                    let attempts = message.attempts + 1;
                    let record = self.record(&r, &message, &attrs, "Success", attempts, Some(out));
                    if !self
                        .deliver(dest, super::delivery::record_bytes(&record))
                        .await
                    {
                        self.counter(&r.name).destination_failed();
                    }
                }
                events.queue.ack(message.id).await
            }
            Settlement::RetryAt { due_ms, attempts } => {
                if attempt == Attempt::Retryable {
                    tracing::debug!(function = %r.name, %why, "event retried later");
                }
                events.queue.retry_later(message.id, due_ms, attempts).await
            }
            Settlement::Fail { condition } => {
                // A function error counts this attempt; a throttle does not.
                let ran = ran.map(|out| (out, message.attempts + 1));
                self.settle_failure(&message, Some(&attrs), condition, &why, ran)
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
        slot: Option<crate::admission::Admission>,
    ) -> Outcome {
        let cached = match self.p.registry().resolve_with(r, lamina_model::random_unit) {
            Ok(c) => c,
            Err(e) => return Outcome::Permanent("ResourceNotFound", e.to_string()),
        };
        if self.p.registry().reservation(&r.name) == Some(0) {
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
                .p
                .admit(&r.name, self.p.registry().reservation(&r.name))
                .await
            {
                Ok(slot) => slot,
                Err(e) => return Outcome::Retryable(format!("TooManyRequestsException: {e}")),
            },
        };
        let Some(version) = cached.version.clone() else {
            return Outcome::Permanent("InvalidRuntime", cached.config.runtime.clone());
        };
        let payload = Bytes::from(message.body.clone());
        match self
            .p
            .run(
                r,
                slot,
                version,
                payload,
                attrs.client_context.clone(),
                false,
                attrs.request_id.clone(),
                None,
                attrs.trace_header.clone(),
            )
            .await
        {
            Ok(out) if out.function_error.is_none() => Outcome::Success(out),
            Ok(out) => Outcome::FunctionError(out),
            // Every reason an admitted invocation could not run is transient.
            Err(e) => {
                let wire = LambdaError::from(e);
                Outcome::Retryable(format!("{}: {wire}", wire.error_type()))
            }
        }
    }
}
