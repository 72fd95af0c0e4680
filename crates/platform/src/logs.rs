//! Function logs: the sink environments write into, and reading them back in the shapes of
//! CloudWatch Logs (FilterLogEvents, GetLogEvents, DescribeLogStreams), so that
//! `aws logs tail` works against Lamina as it does against AWS.

use std::sync::Arc;

use lamina_executor::{LogEvent, LogSink};
use lamina_model::LambdaError;
use lamina_model::logs::{
    DescribeLogStreamsRequest, DescribeLogStreamsResponse, FilterLogEventsRequest,
    FilterLogEventsResponse, FilteredEvent, GetLogEventsRequest, GetLogEventsResponse, LogStream,
    OutputLogEvent,
};
use lamina_store::{LogBackend, LogQuery};

use crate::Platform;

/// Reading function logs: FilterLogEvents, DescribeLogStreams, GetLogEvents. A view of the platform: `platform.logs()`.
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
    /// FilterLogEvents over a function's log group.
    pub async fn filter_log_events(
        &self,
        req: FilterLogEventsRequest,
    ) -> Result<FilterLogEventsResponse, LambdaError> {
        let group = group_name(req.log_group_name, req.log_group_identifier)?;
        if !self
            .p
            .inner
            .logs
            .group_exists(&group)
            .await
            .map_err(io_error)?
        {
            return Err(group_not_found());
        }
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
}
