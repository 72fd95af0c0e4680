//! Routing events: PutEvents makes each entry an event, matches it against the enabled rules
//! of its bus, and queues what each matching rule's targets receive as asynchronous
//! invocations (durable before PutEvents answers); TestEventPattern; and the delivery of a
//! rule's scheduled event, which the timer calls.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use lamina_model::delivery::Delivery;
use lamina_model::events::transform::{Context, input_for};
use lamina_model::events::{
    EventsError, PUT_EVENTS_ENTRIES_MAX, PUT_EVENTS_MAX_BYTES, PutEventsEntry, RuleRecord,
    scheduled_event,
};
use lamina_pattern::Pattern;
use serde_json::{Value, json};

use super::{Compiled, EventBus, bus_name};

impl EventBus<'_> {
    /// The rules, compiled; read again after a change.
    async fn compiled(&self) -> Result<Arc<Vec<Compiled>>, EventsError> {
        if let Some(rules) = self
            .p
            .inner
            .rules
            .rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(rules);
        }
        let rules: Vec<Compiled> = self
            .all_rules()
            .await?
            .into_iter()
            .map(|rule| Compiled {
                pattern: rule
                    .event_pattern
                    .as_deref()
                    .and_then(|p| Pattern::parse(p).ok()),
                rule,
            })
            .collect();
        let rules = Arc::new(rules);
        *self
            .p
            .inner
            .rules
            .rules
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(rules.clone());
        Ok(rules)
    }

    /// Queues what each of `rule`'s targets receives for `event`; the first failure, if any.
    pub(crate) async fn deliver(&self, rule: &RuleRecord, event: &Value) -> Result<(), String> {
        let ingestion = Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        let ctx = Context {
            rule_arn: &rule.arn,
            rule_name: &rule.name,
            ingestion_time: &ingestion,
        };
        let mut first_error = None;
        for target in &rule.targets {
            let payload = input_for(target, event, ctx);
            if let Err(e) = self
                .p
                .async_invoke()
                .enqueue_delivery(
                    &target.arn,
                    Bytes::from(payload),
                    Delivery::for_target(
                        &rule.arn,
                        target.retry_policy,
                        target.dead_letter_config.as_ref(),
                    ),
                )
                .await
            {
                tracing::warn!(rule = %rule.arn, target = %target.arn, error = %e, "could not queue a rule's event");
                first_error.get_or_insert(e.to_string());
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Delivers the Scheduled Event of `rule`'s fire due at `due`.
    pub(crate) async fn fire_rule(
        &self,
        rule: &RuleRecord,
        due: DateTime<Utc>,
    ) -> Result<(), String> {
        let id = self.p.identity();
        let event = scheduled_event(
            &lamina_model::new_id(),
            &rule.arn,
            &id.region,
            &id.account,
            due,
        );
        self.deliver(rule, &event).await
    }

    /// PutEvents: each entry's EventId or its error code and message; the failed count.
    pub async fn put_events(&self, entries: &[Value]) -> Result<(Vec<Value>, usize), EventsError> {
        if entries.is_empty() || entries.len() > PUT_EVENTS_ENTRIES_MAX {
            return Err(EventsError::Validation(format!(
                "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and {PUT_EVENTS_ENTRIES_MAX}"
            )));
        }
        let parsed: Vec<Result<PutEventsEntry, String>> = entries
            .iter()
            .map(|e| serde_json::from_value(e.clone()).map_err(|e| e.to_string()))
            .collect();
        let size: usize = parsed
            .iter()
            .filter_map(|e| e.as_ref().ok())
            .map(PutEventsEntry::size)
            .sum();
        if size > PUT_EVENTS_MAX_BYTES {
            return Err(EventsError::Validation(format!(
                "Total size of the entries in the request is over the limit of {PUT_EVENTS_MAX_BYTES} bytes."
            )));
        }
        let rules = self.compiled().await?;
        let identity = self.p.identity();
        let now = Utc::now();
        let mut results = Vec::with_capacity(entries.len());
        let mut failed = 0;
        for entry in parsed {
            let outcome = match entry {
                Err(e) => Err(("InvalidArgument", format!("The entry is not valid: {e}"))),
                Ok(entry) => {
                    self.route(&entry, &rules, &identity.region, &identity.account, now)
                        .await
                }
            };
            results.push(match outcome {
                Ok(id) => json!({ "EventId": id }),
                Err((code, message)) => {
                    failed += 1;
                    json!({ "ErrorCode": code, "ErrorMessage": message })
                }
            });
        }
        Ok((results, failed))
    }

    /// One entry: its event to every enabled rule of its bus whose pattern matches.
    async fn route(
        &self,
        entry: &PutEventsEntry,
        rules: &[Compiled],
        region: &str,
        account: &str,
        now: DateTime<Utc>,
    ) -> Result<String, (&'static str, String)> {
        let bus = bus_name(entry.event_bus_name.as_deref())
            .map_err(|e| ("InvalidArgument", e.to_string()))?;
        if self.describe_event_bus(Some(&bus)).await.is_err() {
            return Err((
                "ResourceNotFoundException",
                format!("Event bus {bus} does not exist."),
            ));
        }
        let id = lamina_model::new_id();
        let event = entry.envelope(&id, region, account, now)?;
        for compiled in rules {
            let rule = &compiled.rule;
            let matches = rule.event_bus_name == bus
                && rule.state == "ENABLED"
                && compiled.pattern.as_ref().is_some_and(|p| p.matches(&event));
            if matches {
                let delivered = self.deliver(rule, &event).await;
                self.p.inner.rules.delivered(
                    &rule.arn,
                    match &delivered {
                        Ok(()) => format!("queued event {id}"),
                        Err(e) => format!("failed: {e}"),
                    },
                );
                delivered.map_err(|e| ("InternalFailure", e))?;
            }
        }
        Ok(id)
    }

    /// TestEventPattern.
    pub fn test_event_pattern(&self, pattern: &str, event: &str) -> Result<bool, EventsError> {
        let pattern =
            Pattern::parse(pattern).map_err(|e| EventsError::InvalidEventPattern(e.to_string()))?;
        let event: Value = serde_json::from_str(event)
            .map_err(|e| EventsError::Validation(format!("Event is not valid JSON: {e}")))?;
        for field in [
            "id",
            "account",
            "source",
            "time",
            "region",
            "resources",
            "detail-type",
        ] {
            if event.get(field).is_none() {
                return Err(EventsError::Validation(format!(
                    "Parameter Event is not valid. Reason: Field {field} is required."
                )));
            }
        }
        Ok(pattern.matches(&event))
    }
}
