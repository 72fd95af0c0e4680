//! Function logs: the sink environments write into, and reading them back in the shapes of
//! CloudWatch Logs (FilterLogEvents, GetLogEvents, DescribeLogStreams, DescribeLogGroups),
//! so that `aws logs tail` works against Lamina as it does against AWS; and groups'
//! retention policies (kept as documents of kind `log-retention`), applied every ten
//! minutes by a task.

use std::sync::Arc;

use lamina_executor::{LogEvent, LogSink};
use lamina_model::LambdaError;
use lamina_model::logs::{
    DescribeLogGroupsRequest, DescribeLogGroupsResponse, DescribeLogStreamsRequest,
    DescribeLogStreamsResponse, FilterLogEventsRequest, FilterLogEventsResponse, FilteredEvent,
    GetLogEventsRequest, GetLogEventsResponse, LogGroup, LogStream, OutputLogEvent, RETENTION_DAYS,
    RetentionPolicyRequest,
};
use lamina_store::{LogBackend, LogQuery};

use crate::Platform;

/// Reading function logs: FilterLogEvents, DescribeLogStreams, GetLogEvents,
/// DescribeLogGroups; retention policies. A view of the platform: `platform.logs()`.
#[derive(Debug, Clone, Copy)]
pub struct Logs<'a> {
    pub(crate) p: &'a Platform,
}

/// Writes environments' events into the log store.
#[derive(Debug)]
pub(crate) struct StoreSink(pub(crate) Arc<dyn LogBackend>);

impl LogSink for StoreSink {
    fn append(&self, group: &str, stream: &str, events: Vec<LogEvent>) {
        let refs: Vec<(i64, &str)> = events
            .iter()
            .map(|e| (e.timestamp_ms, e.message.as_str()))
            .collect();
        if let Err(e) = self.0.append(group, stream, &refs) {
            tracing::warn!(group, stream, error = %e, "could not write log events");
        }
    }

    fn close(&self, group: &str, stream: &str) {
        self.0.close(group, stream);
    }
}

fn group_not_found() -> LambdaError {
    LambdaError::ResourceNotFound("The specified log group does not exist.".into())
}

fn io_error(e: std::io::Error) -> LambdaError {
    if e.kind() == std::io::ErrorKind::NotFound {
        return group_not_found();
    }
    LambdaError::Service(format!("could not read logs: {e}"))
}

fn group_name(name: Option<String>, identifier: Option<String>) -> Result<String, LambdaError> {
    let raw = name
        .or(identifier)
        .ok_or_else(|| LambdaError::InvalidParameterValue("logGroupName is required".into()))?;
    // Accept a log group ARN: arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*]
    Ok(match raw.split_once(":log-group:") {
        Some((_, rest)) => rest.trim_end_matches(":*").to_string(),
        None => raw,
    })
}

impl Logs<'_> {
    /// Ok if `group` has events; CloudWatch's ResourceNotFoundException if not.
    async fn existing(&self, group: &str) -> Result<(), LambdaError> {
        match self
            .p
            .inner
            .logs
            .group_exists(group)
            .await
            .map_err(io_error)?
        {
            true => Ok(()),
            false => Err(group_not_found()),
        }
    }

    /// FilterLogEvents over a function's log group.
    pub async fn filter_log_events(
        &self,
        req: FilterLogEventsRequest,
    ) -> Result<FilterLogEventsResponse, LambdaError> {
        let group = group_name(req.log_group_name, req.log_group_identifier)?;
        self.existing(&group).await?;
        let skip = req
            .next_token
            .as_deref()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let limit = req.limit.unwrap_or(10_000).clamp(1, 10_000);
        let contains = req
            .filter_pattern
            .map(|p| p.trim_matches('"').to_string())
            .filter(|p| !p.is_empty());
        let query = LogQuery {
            start_ms: req.start_time,
            end_ms: req.end_time,
            streams: req.log_stream_names,
            contains,
            skip,
            limit,
        };
        let (events, more) = self
            .p
            .inner
            .logs
            .query(&group, &query)
            .await
            .map_err(io_error)?;
        let next_token = more.then(|| (skip + events.len()).to_string());
        Ok(FilterLogEventsResponse {
            events: events
                .into_iter()
                .map(|e| FilteredEvent {
                    log_stream_name: e.stream,
                    timestamp: e.timestamp_ms,
                    message: e.message,
                    ingestion_time: e.timestamp_ms,
                    event_id: e.event_id,
                })
                .collect(),
            searched_log_streams: Vec::new(),
            next_token,
        })
    }

    /// DescribeLogStreams.
    pub async fn describe_log_streams(
        &self,
        req: DescribeLogStreamsRequest,
    ) -> Result<DescribeLogStreamsResponse, LambdaError> {
        let group = group_name(req.log_group_name, None)?;
        let streams = self.p.inner.logs.streams(&group).await.map_err(io_error)?;
        let prefix = req.log_stream_name_prefix.unwrap_or_default();
        let limit = req.limit.unwrap_or(50).clamp(1, 50);
        let identity = self.p.identity();
        let log_streams = streams
            .into_iter()
            .filter(|(name, _, _)| name.starts_with(&prefix))
            .take(limit)
            .map(|(name, size, modified)| {
                let ms = modified
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0);
                LogStream {
                    arn: format!(
                        "arn:aws:logs:{}:{}:log-group:{}:log-stream:{}",
                        identity.region, identity.account, group, name
                    ),
                    log_stream_name: name,
                    creation_time: ms,
                    last_event_timestamp: ms,
                    last_ingestion_time: ms,
                    stored_bytes: size,
                }
            })
            .collect();
        Ok(DescribeLogStreamsResponse { log_streams })
    }

    /// GetLogEvents of one stream.
    pub async fn get_log_events(
        &self,
        req: GetLogEventsRequest,
    ) -> Result<GetLogEventsResponse, LambdaError> {
        let group = group_name(req.log_group_name, None)?;
        let stream = req.log_stream_name.ok_or_else(|| {
            LambdaError::InvalidParameterValue("logStreamName is required".into())
        })?;
        let query = LogQuery {
            start_ms: req.start_time,
            end_ms: req.end_time,
            streams: Some(vec![stream]),
            contains: None,
            skip: 0,
            limit: req.limit.unwrap_or(10_000).clamp(1, 10_000),
        };
        let (events, _) = self
            .p
            .inner
            .logs
            .query(&group, &query)
            .await
            .map_err(io_error)?;
        Ok(GetLogEventsResponse {
            events: events
                .into_iter()
                .map(|e| OutputLogEvent {
                    timestamp: e.timestamp_ms,
                    message: e.message,
                    ingestion_time: e.timestamp_ms,
                })
                .collect(),
            next_forward_token: "f/0".into(),
            next_backward_token: "b/0".into(),
        })
    }

    /// DescribeLogGroups: groups with events, by name, with their retention.
    pub async fn describe_log_groups(
        &self,
        req: DescribeLogGroupsRequest,
    ) -> Result<DescribeLogGroupsResponse, LambdaError> {
        if req.log_group_name_prefix.is_some() && req.log_group_name_pattern.is_some() {
            return Err(LambdaError::InvalidParameterValue(
                "LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive.".into(),
            ));
        }
        let limit = req.limit.unwrap_or(50).clamp(1, 50);
        let skip = match &req.next_token {
            None => 0,
            Some(t) => t.parse::<usize>().map_err(|_| {
                LambdaError::InvalidParameterValue(format!("The next token {t:?} is invalid."))
            })?,
        };
        let prefix = req.log_group_name_prefix.unwrap_or_default();
        let pattern = req
            .log_group_name_pattern
            .unwrap_or_default()
            .to_lowercase();
        let retention = self.retentions().await?;
        let identity = self.p.identity();
        let all: Vec<LogGroup> = self
            .p
            .inner
            .logs
            .groups()
            .await
            .map_err(io_error)?
            .into_iter()
            .filter(|(name, _, _)| {
                name.starts_with(&prefix) && name.to_lowercase().contains(&pattern)
            })
            .map(|(name, bytes, oldest)| {
                let arn = format!(
                    "arn:aws:logs:{}:{}:log-group:{name}",
                    identity.region, identity.account
                );
                LogGroup {
                    retention_in_days: retention.get(&name).copied(),
                    log_group_name: name,
                    creation_time: oldest,
                    metric_filter_count: 0,
                    arn: format!("{arn}:*"),
                    log_group_arn: arn,
                    stored_bytes: bytes,
                    log_group_class: "STANDARD".into(),
                }
            })
            .collect();
        let next = skip + limit;
        Ok(DescribeLogGroupsResponse {
            next_token: (next < all.len()).then(|| next.to_string()),
            log_groups: all.into_iter().skip(skip).take(limit).collect(),
        })
    }

    /// Every group's retention in days.
    async fn retentions(&self) -> Result<std::collections::BTreeMap<String, u32>, LambdaError> {
        let docs = self
            .p
            .inner
            .documents
            .list(RETENTION, "")
            .await
            .map_err(|e| LambdaError::Service(format!("could not read retention policies: {e}")))?;
        Ok(docs
            .into_iter()
            .filter_map(|(group, doc)| {
                let days =
                    serde_json::from_str::<serde_json::Value>(&doc).ok()?["days"].as_u64()?;
                Some((group, days as u32))
            })
            .collect())
    }

    /// PutRetentionPolicy (`days`) or DeleteRetentionPolicy (`None`).
    pub async fn set_retention(
        &self,
        req: RetentionPolicyRequest,
        put: bool,
    ) -> Result<(), LambdaError> {
        let group = group_name(req.log_group_name, None)?;
        self.existing(&group).await?;
        let documents = &self.p.inner.documents;
        let failed = |e: lamina_store::StoreError| {
            LambdaError::Service(format!("could not keep the retention policy: {e}"))
        };
        if !put {
            documents.delete(RETENTION, &group).await.map_err(failed)?;
            return Ok(());
        }
        let days = req.retention_in_days.unwrap_or(0);
        if !RETENTION_DAYS.contains(&days) {
            return Err(LambdaError::InvalidParameterValue(format!(
                "1 validation error detected: Value '{days}' at 'retentionInDays' failed to \
                 satisfy constraint: Member must satisfy enum value set: {RETENTION_DAYS:?}"
            )));
        }
        let doc = serde_json::json!({ "days": days }).to_string();
        documents
            .put(RETENTION, &group, &doc)
            .await
            .map_err(failed)?;
        self.expire().await;
        Ok(())
    }

    /// Drops what every group's retention policy no longer keeps.
    pub(crate) async fn expire(&self) {
        let Ok(retention) = self.retentions().await else {
            return;
        };
        let now = chrono::Utc::now().timestamp_millis();
        for (group, days) in retention {
            let before = now - i64::from(days) * 86_400_000;
            if let Err(e) = self.p.inner.logs.expire(&group, before).await {
                tracing::warn!(group, error = %e, "could not apply a retention policy");
            }
        }
    }
}

/// The kind of the documents that hold groups' retention policies (key: the group).
const RETENTION: &str = "log-retention";

/// Every ten minutes, applies the retention policies. Ends with the platform.
pub(crate) fn start_retention(p: &Platform) {
    let weak = Arc::downgrade(&p.inner);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(600)).await;
            let Some(inner) = weak.upgrade() else { return };
            Platform { inner }.logs().expire().await;
        }
    });
}
