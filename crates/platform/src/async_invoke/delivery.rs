//! Where events go once settled: Lambda's invocation record to the OnSuccess or OnFailure
//! destination, the event alone to the dead-letter target, else the failed-events store.

use bytes::Bytes;
use lamina_model::FunctionRef;
use lamina_model::event_invoke::{DestinationRecord, RecordRequestContext, RecordResponseContext};
use lamina_queue::Message;

use super::AsyncInvoke;
use super::Attributes;
use crate::invoke::InvokeOutput;

impl AsyncInvoke<'_> {
    /// An event failed for good: to the OnFailure destination, else the dead-letter
    /// target, else the failed-events store.
    pub(super) async fn settle_failure(
        &self,
        message: &Message,
        attrs: Option<&Attributes>,
        condition: &str,
        why: &str,
        ran: Option<(&InvokeOutput, u32)>,
    ) {
        let queue = &self.p.inner.events.queue;
        // An event a rule or schedule queued that never reached the function (it or its
        // alias is gone, its reserved concurrency is 0, it was throttled until too old)
        // failed as a delivery: to the target's dead-letter queue, as EventBridge does.
        // Once the function has run it, the function's own configuration decides.
        if ran.is_none()
            && message.attempts == 0
            && let Some(dlq) = attrs
                .and_then(|a| a.delivery.as_ref())
                .and_then(|d| d.dead_letter.as_deref())
        {
            tracing::info!(function = %message.queue, condition, dead_letter = dlq, "event not delivered");
            // The dead-letter queue (an SQS queue, or a function) gets the event alone.
            if self.deliver(dlq, Bytes::from(message.body.clone())).await {
                if let Err(e) = queue.ack(message.id).await {
                    tracing::error!(error = %e, "could not settle an undelivered event; it will run again");
                }
                return;
            }
            self.counter(&message.queue).dead_letter_failed();
        }
        let r = FunctionRef {
            name: message.queue.clone(),
            qualifier: attrs.and_then(|a| a.qualifier.clone()),
        };
        let config = self.event_config(&r);
        tracing::info!(function = %r.name, condition, "event failed for good");
        let dead_letter = self
            .p
            .registry()
            .cached(&r.name)
            .and_then(|c| c.config.dead_letter_target.clone());
        let counter = self.counter(&r.name);
        let delivered = match (&config.on_failure, attrs, dead_letter) {
            (Some(dest), Some(attrs), _) => {
                let count = ran.map_or(message.attempts, |(_, n)| n);
                let record = self.record(&r, message, attrs, condition, count, ran.map(|(o, _)| o));
                let sent = self.deliver(dest, record_bytes(&record)).await;
                if !sent {
                    counter.destination_failed();
                }
                sent
            }
            // A dead-letter target gets the event alone, as Lambda's dead-letter queue does.
            (None, _, Some(target)) => {
                let event =
                    serde_json::from_slice(&message.body).unwrap_or(serde_json::Value::Null);
                let sent = self.deliver(&target, Bytes::from(event.to_string())).await;
                if !sent {
                    counter.dead_letter_failed();
                }
                sent
            }
            _ => false,
        };
        if !delivered {
            // Kept in the failed-events store for a replay, but gone from Lambda's view.
            counter.event_dropped();
        }
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

    /// Sends `payload` to the destination `arn`, an SQS queue (as a message) or a function
    /// (as an asynchronous invocation); false if it cannot be.
    pub(super) async fn deliver(&self, arn: &str, payload: Bytes) -> bool {
        let sqs = self.p.sqs();
        if let Some(queue) = arn.strip_prefix(&sqs.arn("")) {
            let message = crate::sqs::SendInput {
                body: Some(String::from_utf8_lossy(&payload).into_owned()),
                ..Default::default()
            };
            return match sqs.send_message(queue, message).await {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(destination = %arn, error = %e, "could not send to the destination queue");
                    false
                }
            };
        }
        let Ok(target) = FunctionRef::parse(arn, self.p.identity()) else {
            return false;
        };
        if self.p.registry().lookup(&target.name, None).is_err() {
            tracing::warn!(destination = %arn, "destination function not found");
            return false;
        }
        let request_id = lamina_model::new_id();
        match self
            .enqueue_event(&target, &payload, None, &request_id, None)
            .await
        {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(destination = %arn, error = %e, "could not queue for the destination");
                false
            }
        }
    }

    /// The figures of `function`.
    pub(super) fn counter(&self, function: &str) -> std::sync::Arc<crate::metrics::Counter> {
        self.p.inner.concurrency.counters(function)
    }

    /// Lambda's invocation record for destinations.
    pub(super) fn record(
        &self,
        r: &FunctionRef,
        message: &Message,
        attrs: &Attributes,
        condition: &str,
        invoke_count: u32,
        out: Option<&InvokeOutput>,
    ) -> DestinationRecord {
        DestinationRecord {
            version: "1.0".into(),
            timestamp: chrono::Utc::now()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string(),
            request_context: RecordRequestContext {
                request_id: attrs.request_id.clone(),
                function_arn: self
                    .p
                    .identity()
                    .qualified_arn(&r.name, r.qualifier.as_deref().unwrap_or("$LATEST")),
                condition: condition.to_string(),
                approximate_invoke_count: invoke_count,
            },
            request_payload: DestinationRecord::payload(&message.body),
            response_context: out.map(|out| RecordResponseContext {
                status_code: 200,
                executed_version: out
                    .executed_version
                    .clone()
                    .unwrap_or_else(|| "$LATEST".into()),
                function_error: out.function_error.map(String::from),
            }),
            response_payload: out.map(|out| DestinationRecord::payload(&out.payload)),
        }
    }
}

/// A record as the destination receives it.
pub(super) fn record_bytes(record: &DestinationRecord) -> Bytes {
    Bytes::from(serde_json::to_vec(record).unwrap_or_default())
}
