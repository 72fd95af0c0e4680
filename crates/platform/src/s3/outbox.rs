//! The outbox task: takes the notifications object writes recorded, hands each to its
//! destination's durable queue (an Event invocation of a function, or a message on an SQS
//! queue of this server), and only then forgets them. A destination that is gone drops its
//! notification, as S3 drops what it cannot deliver; a queue that cannot take one now (a full
//! disk) keeps it in the outbox for the next pass.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use lamina_model::LambdaError;
use lamina_model::invoke::{InvocationType, InvokeInput, LogType};
use lamina_model::s3::{Delivery, Destination};
use lamina_objects::Objects;

use crate::Platform;

/// How many notifications a pass takes.
const BATCH: usize = 100;

/// How long the task waits before trying again what a queue could not take.
const RETRY: Duration = Duration::from_secs(1);

/// Starts the task, for as long as the platform lives, if it serves an object store.
pub(crate) fn start(p: &Platform) {
    let Some(objects) = p.inner.objects.clone() else {
        return;
    };
    let weak = Arc::downgrade(&p.inner);
    tokio::spawn(async move {
        loop {
            let Some(inner) = weak.upgrade() else {
                return;
            };
            let p = Platform { inner };
            if p.inner.events.closing() {
                return;
            }
            let pause = match pass(&p, &objects).await {
                Pass::Emptied => None,
                Pass::More => continue,
                Pass::Stuck => Some(RETRY),
            };
            drop(p);
            match pause {
                // Woken by the next write that tells something; the timeout is a safety
                // net for a wake-up taken by a pass that found the outbox already empty.
                None => {
                    let _ = tokio::time::timeout(Duration::from_secs(5), objects.told()).await;
                }
                Some(d) => tokio::time::sleep(d).await,
            }
        }
    });
}

/// How a pass ended.
enum Pass {
    Emptied,
    More,
    Stuck,
}

async fn pass(p: &Platform, objects: &Objects) -> Pass {
    let waiting = match objects.outbox(BATCH).await {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the object notifications' outbox");
            return Pass::Stuck;
        }
    };
    if waiting.is_empty() {
        return Pass::Emptied;
    }
    let full = waiting.len() == BATCH;
    let mut done = Vec::with_capacity(waiting.len());
    let mut stuck = false;
    for (id, payload) in waiting {
        match deliver(p, &payload).await {
            Outcome::Queued | Outcome::Dropped => done.push(id),
            Outcome::Later => {
                stuck = true;
                break;
            }
        }
    }
    if let Err(e) = objects.delivered(done).await {
        tracing::warn!(error = %e, "could not clear delivered object notifications");
        return Pass::Stuck;
    }
    match (stuck, full) {
        (true, _) => Pass::Stuck,
        (false, true) => Pass::More,
        (false, false) => Pass::Emptied,
    }
}

pub(super) enum Outcome {
    Queued,
    Dropped,
    Later,
}

/// Hands one outbox payload to its destination's queue.
pub(super) async fn deliver(p: &Platform, payload: &str) -> Outcome {
    let Some(delivery) = Delivery::from_json(payload) else {
        tracing::warn!("dropped an unreadable object notification");
        return Outcome::Dropped;
    };
    match &delivery.to {
        Destination::Function(arn) => {
            let input = InvokeInput {
                function_name: arn.clone(),
                qualifier: None,
                invocation_type: InvocationType::Event,
                log_type: LogType::None,
                client_context: None,
                payload: Bytes::from(delivery.body),
                request_id: None,
                trace_header: None,
            };
            match p.invoke(input).await {
                Ok(_) => Outcome::Queued,
                Err(LambdaError::ResourceNotFound(_)) => {
                    tracing::warn!(function = %arn, "an object notification's function is gone; the notification is dropped");
                    Outcome::Dropped
                }
                Err(e @ (LambdaError::Service(_) | LambdaError::TooManyRequests { .. })) => {
                    tracing::warn!(error = %e, "the event queue could not take an object notification; it stays in the outbox");
                    Outcome::Later
                }
                Err(e) => {
                    tracing::warn!(error = %e, function = %arn, "an object notification was refused; it is dropped");
                    Outcome::Dropped
                }
            }
        }
        Destination::Queue(arn) => {
            let name = arn.rsplit(':').next().unwrap_or_default();
            let message = crate::sqs::SendInput {
                body: Some(delivery.body),
                ..Default::default()
            };
            match p.sqs().send_message(name, message).await {
                Ok(_) => Outcome::Queued,
                Err(lamina_model::sqs::SqsError::QueueDoesNotExist(_)) => {
                    tracing::warn!(queue = %arn, "an object notification's queue is gone; the notification is dropped");
                    Outcome::Dropped
                }
                Err(e) => {
                    tracing::warn!(error = %e, queue = %arn, "a queue could not take an object notification; it stays in the outbox");
                    Outcome::Later
                }
            }
        }
    }
}
