//! Event source mappings (the view `platform.event_source_mappings()`, methods named after
//! Lambda's operations), kept as documents (`event-source-mapping` by UUID). Each enabled
//! mapping has a runner (`runner`) that polls its source and invokes its function; a change
//! stops the old runner and starts the new one. State moves as Lambda's does: `Creating`,
//! `Updating` or `Enabling` then `Enabled`; `Disabling` then `Disabled`; `Deleting` then gone.

mod kafka;
mod rabbitmq;
mod runner;
mod source;

use std::collections::HashMap;
use std::sync::Mutex;

use lamina_model::mapping::{MappingRecord, MappingRequest, SourceKind};
use lamina_model::{FunctionRef, LambdaError};
use serde_json::Value;

pub(crate) use runner::Runners;
pub use source::SqsEndpoint;

use crate::Platform;

pub(crate) const MAPPING: &str = "event-source-mapping";

/// Event source mappings. A view of the platform: `platform.event_source_mappings()`.
#[derive(Debug, Clone, Copy)]
pub struct Mappings<'a> {
    pub(crate) p: &'a Platform,
}

fn internal(e: impl std::fmt::Display) -> LambdaError {
    LambdaError::Service(e.to_string())
}

fn not_found(uuid: &str) -> LambdaError {
    LambdaError::ResourceNotFound(format!(
        "The resource you requested does not exist. (Service: Lambda, Status Code: 404, Request ID: {uuid})"
    ))
}

fn now_s() -> f64 {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0
}

impl Mappings<'_> {
    fn docs(&self) -> &dyn lamina_store::Documents {
        self.p.inner.documents.as_ref()
    }

    fn arn(&self, uuid: &str) -> String {
        let id = self.p.identity();
        format!(
            "arn:aws:lambda:{}:{}:event-source-mapping:{uuid}",
            id.region, id.account
        )
    }

    /// The wire shape of `record`.
    fn wire(&self, record: &MappingRecord) -> Value {
        let last = self.p.inner.mappings.last_result(&record.uuid);
        record.to_wire(&self.arn(&record.uuid), &last)
    }

    pub(crate) async fn all(&self) -> Result<Vec<MappingRecord>, LambdaError> {
        self.docs()
            .list(MAPPING, "")
            .await
            .map_err(internal)?
            .iter()
            .map(|(_, d)| serde_json::from_str(d).map_err(internal))
            .collect()
    }

    async fn get(&self, uuid: &str) -> Result<MappingRecord, LambdaError> {
        let doc = self
            .docs()
            .get(MAPPING, uuid)
            .await
            .map_err(internal)?
            .ok_or_else(|| not_found(uuid))?;
        serde_json::from_str(&doc).map_err(internal)
    }

    pub(crate) async fn save(&self, record: &MappingRecord) -> Result<(), LambdaError> {
        let doc = serde_json::to_string(record).map_err(internal)?;
        self.docs()
            .put(MAPPING, &record.uuid, &doc)
            .await
            .map_err(internal)
    }

    /// The function a mapping names, as its `FunctionArn`.
    fn function_arn(&self, name: &str) -> Result<String, LambdaError> {
        let r = FunctionRef::parse(name, self.p.identity())?;
        self.p.registry().resolve(&r).map_err(|_| {
            LambdaError::ResourceNotFound(format!(
                "Function not found: {}",
                self.p.identity().function_arn(&r.name)
            ))
        })?;
        let id = self.p.identity();
        Ok(match &r.qualifier {
            Some(q) => id.qualified_arn(&r.name, q),
            None => id.function_arn(&r.name),
        })
    }

    /// The source must be a queue of this server, or of an endpoint `--sqs-endpoint` names,
    /// that exists.
    async fn check_source(&self, record: &MappingRecord) -> Result<(), LambdaError> {
        if record.kind() == SourceKind::Kafka {
            // As Lambda, the cluster is reached once the mapping runs; problems show in
            // its LastProcessingResult.
            return self.check_destination(record).await;
        }
        if record.kind() == SourceKind::RabbitMq {
            return match rabbitmq::url_of(self.p, &record.event_source_arn, "/") {
                Some(_) => Ok(()),
                None => Err(LambdaError::InvalidParameterValue(format!(
                    "No broker is known for {}: name it with serve --mq-broker ARN=amqp://...",
                    record.event_source_arn
                ))),
            };
        }
        source::Source::resolve(self.p, &record.event_source_arn)
            .await
            .map(|_| ())
            .map_err(|e| {
                LambdaError::InvalidParameterValue(format!(
                    "Error occurred while ReceiveMessage. {e}"
                ))
            })
    }

    /// An on-failure destination must be a queue of this server.
    async fn check_destination(&self, record: &MappingRecord) -> Result<(), LambdaError> {
        let Some(destination) = record.on_failure() else {
            return Ok(());
        };
        let sqs = self.p.sqs();
        let known = match destination.strip_prefix(&sqs.arn("")) {
            Some(queue) => sqs.queue(queue).await.is_ok(),
            None => false,
        };
        if known {
            Ok(())
        } else {
            Err(LambdaError::InvalidParameterValue(format!(
                "The destination {destination} is not a queue of this server."
            )))
        }
    }

    /// CreateEventSourceMapping (202): the mapping, `Creating`.
    pub async fn create_event_source_mapping(
        &self,
        req: MappingRequest,
    ) -> Result<Value, LambdaError> {
        let function = req.function_name.clone().ok_or_else(|| {
            LambdaError::InvalidParameterValue("FunctionName is required.".into())
        })?;
        let mut record = req.apply(None)?;
        record.function_arn = self.function_arn(&function)?;
        self.check_source(&record).await?;
        let function_name = FunctionRef::parse(&record.function_arn, self.p.identity())?.name;
        for other in self.all().await? {
            let same_function = FunctionRef::parse(&other.function_arn, self.p.identity())
                .is_ok_and(|r| r.name == function_name);
            if same_function && same_source(&other, &record) {
                let source = if record.kind() == SourceKind::Kafka {
                    format!("Kafka topic (\" {} \")", record.kafka_topic())
                } else {
                    format!("SQS arn (\" {} \")", record.event_source_arn)
                };
                return Err(LambdaError::ResourceConflict(format!(
                    "An event source mapping with {source} and function (\" {} \") already exists. Please update or delete the existing mapping with UUID {}",
                    function_name, other.uuid
                )));
            }
        }
        record.uuid = lamina_model::new_id();
        if record.kind() == SourceKind::Kafka {
            // Lambda's default group is the mapping's UUID, and it says so.
            let group = record.consumer_group().to_string();
            record.other.insert(
                "SelfManagedKafkaEventSourceConfig".into(),
                serde_json::json!({"ConsumerGroupId": group}),
            );
        }
        record.state = "Creating".into();
        record.last_modified = now_s();
        self.save(&record).await?;
        let answer = self.wire(&record);
        self.p.inner.mappings.reconcile(self.p, &record.uuid);
        Ok(answer)
    }

    /// GetEventSourceMapping.
    pub async fn get_event_source_mapping(&self, uuid: &str) -> Result<Value, LambdaError> {
        Ok(self.wire(&self.get(uuid).await?))
    }

    /// UpdateEventSourceMapping (202): the mapping, `Updating` (or `Enabling`,
    /// `Disabling`).
    pub async fn update_event_source_mapping(
        &self,
        uuid: &str,
        req: MappingRequest,
    ) -> Result<Value, LambdaError> {
        let old = self.get(uuid).await?;
        if old.state == "Deleting" {
            return Err(LambdaError::ResourceInUse(format!(
                "Cannot update the event source mapping because it is in use. ({uuid} is being deleted)"
            )));
        }
        let function = req.function_name.clone();
        let mut record = req.apply(Some(&old))?;
        if let Some(f) = function {
            record.function_arn = self.function_arn(&f)?;
        }
        self.check_destination(&record).await?;
        record.state = match (old.enabled, record.enabled) {
            (false, true) => "Enabling",
            (true, false) => "Disabling",
            _ => "Updating",
        }
        .into();
        record.last_modified = now_s();
        self.save(&record).await?;
        let answer = self.wire(&record);
        self.p.inner.mappings.reconcile(self.p, uuid);
        Ok(answer)
    }

    /// DeleteEventSourceMapping (202): the mapping, `Deleting`.
    pub async fn delete_event_source_mapping(&self, uuid: &str) -> Result<Value, LambdaError> {
        let mut record = self.get(uuid).await?;
        record.state = "Deleting".into();
        self.save(&record).await?;
        let answer = self.wire(&record);
        self.p.inner.mappings.reconcile(self.p, uuid);
        Ok(answer)
    }

    /// ListEventSourceMappings, by source and function.
    pub async fn list_event_source_mappings(
        &self,
        source: Option<&str>,
        function: Option<&str>,
        marker: Option<&str>,
        max: Option<i64>,
    ) -> Result<(Vec<Value>, Option<String>), LambdaError> {
        let function = match function {
            Some(f) => Some(FunctionRef::parse(f, self.p.identity())?.name),
            None => None,
        };
        let max = match max {
            None => 100,
            Some(m) if (1..=10_000).contains(&m) => m as usize,
            Some(_) => {
                return Err(LambdaError::InvalidParameterValue(
                    "MaxItems must be between 1 and 10000.".into(),
                ));
            }
        };
        let items = self
            .all()
            .await?
            .into_iter()
            .filter(|m| source.is_none_or(|s| m.event_source_arn == s))
            .filter(|m| {
                function.as_ref().is_none_or(|f| {
                    FunctionRef::parse(&m.function_arn, self.p.identity())
                        .is_ok_and(|r| &r.name == f)
                })
            })
            .map(|m| (m.uuid.clone(), self.wire(&m)))
            .collect();
        Ok(crate::paging::after(items, max, marker))
    }
}

impl Mappings<'_> {
    /// Every mapping with its state, last result and lag (`lamina mappings`).
    pub async fn status(&self) -> Result<Vec<lamina_model::status::MappingLine>, LambdaError> {
        let mut out = Vec::new();
        let lines = self.p.sqs().status().await.unwrap_or_default();
        for m in self.all().await? {
            let (source, backlog, lag_s) = match m.kind() {
                SourceKind::Kafka => (
                    format!("kafka://{}/{}", m.bootstrap_servers(), m.kafka_topic()),
                    kafka::lag(&m).await.unwrap_or(0),
                    None,
                ),
                SourceKind::RabbitMq => (m.event_source_arn.clone(), 0, None),
                SourceKind::Sqs => {
                    let queue = lines.iter().find(|q| q.name == m.queue());
                    (
                        m.event_source_arn.clone(),
                        queue.map_or(0, |q| q.visible + q.delayed),
                        queue.and_then(|q| q.oldest_age_s),
                    )
                }
            };
            out.push(lamina_model::status::MappingLine {
                last_result: self.p.inner.mappings.last_result(&m.uuid),
                source,
                function: m.function_arn.clone(),
                state: m.state.clone(),
                batch_size: m.batch_size,
                backlog,
                lag_s,
                uuid: m.uuid,
            });
        }
        Ok(out)
    }
}

/// Whether two mappings read the same thing: the same queue, or the same Kafka topic on
/// a cluster one of whose bootstrap servers they share.
fn same_source(a: &MappingRecord, b: &MappingRecord) -> bool {
    match (a.kind(), b.kind()) {
        (SourceKind::Kafka, SourceKind::Kafka) => {
            let servers = b.bootstrap_servers();
            a.kafka_topic() == b.kafka_topic()
                && a.bootstrap_servers()
                    .split(',')
                    .any(|s| servers.split(',').any(|t| t == s))
        }
        (SourceKind::RabbitMq, SourceKind::RabbitMq) => {
            a.event_source_arn == b.event_source_arn && a.rabbitmq_queue() == b.rabbitmq_queue()
        }
        (x, y) => x == y && a.event_source_arn == b.event_source_arn,
    }
}

/// Invokes a mapping's function synchronously with one batch's event, as Lambda's pollers do.
pub(crate) async fn invoke_batch(
    p: &Platform,
    record: &MappingRecord,
    event: &Value,
) -> Result<crate::InvokeOutput, LambdaError> {
    p.invoke(crate::InvokeInput {
        function_name: record.function_arn.clone(),
        qualifier: None,
        invocation_type: crate::InvocationType::RequestResponse,
        log_type: crate::LogType::None,
        client_context: None,
        payload: bytes::Bytes::from(event.to_string()),
        request_id: None,
        trace_header: None,
    })
    .await
}

/// What each mapping's runner last did, by UUID (in memory: written after every batch).
#[derive(Debug, Default)]
pub(crate) struct LastResults(Mutex<HashMap<String, String>>);

impl LastResults {
    pub(crate) fn get(&self, uuid: &str) -> String {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(uuid)
            .cloned()
            .unwrap_or_else(|| "No records processed".into())
    }

    /// Records how a batch's function call went; true if it succeeded.
    pub(crate) fn called(
        &self,
        uuid: &str,
        outcome: &Result<crate::InvokeOutput, LambdaError>,
    ) -> bool {
        match outcome {
            Ok(out) if out.function_error.is_none() => self.set(uuid, "OK"),
            Ok(_) => self.set(uuid, "PROBLEM: Function call failed"),
            Err(LambdaError::TooManyRequests { .. }) => {
                self.set(uuid, "PROBLEM: Function call throttled")
            }
            Err(e) => self.set(uuid, &format!("PROBLEM: {e}")),
        }
        matches!(outcome, Ok(out) if out.function_error.is_none())
    }

    pub(crate) fn set(&self, uuid: &str, result: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(uuid).map(String::as_str) != Some(result) {
            map.insert(uuid.to_string(), result.to_string());
        }
    }
}
