//! Events that failed for good and went nowhere else: listed and replayed.

use lamina_model::LambdaError;
use lamina_model::event_invoke::FailedEvent;
use lamina_queue::QueueError;

use super::AsyncInvoke;
use super::{Attributes, queue_error};

impl AsyncInvoke<'_> {
    /// The failed events of `name` (all functions with `None`).
    pub async fn failed_events(&self, name: Option<&str>) -> Result<Vec<FailedEvent>, LambdaError> {
        let failed = self
            .p
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
        self.p
            .inner
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
}
