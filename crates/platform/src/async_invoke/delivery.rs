//! Where events go once settled: Lambda's invocation record to the OnSuccess or OnFailure
//! destination, the event alone to the dead-letter target, else the failed-events store.

use bytes::Bytes;
use lamina_model::FunctionRef;
use lamina_queue::Message;

use super::Attributes;
use crate::Platform;
use crate::invoke::InvokeOutput;

impl Platform {
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
    pub(super) async fn deliver(&self, arn: &str, record: serde_json::Value) -> bool {
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
    pub(super) fn record(
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
}
