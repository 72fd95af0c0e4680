//! CloudWatch Logs' wire shapes (JSON 1.1), for the operations Lamina serves on function
//! logs: FilterLogEvents, DescribeLogStreams, GetLogEvents.

use serde::{Deserialize, Serialize};

/// FilterLogEvents request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterLogEventsRequest {
    /// Group name.
    pub log_group_name: Option<String>,
    /// Group ARN.
    pub log_group_identifier: Option<String>,
    /// Only these streams.
    pub log_stream_names: Option<Vec<String>>,
    /// From (ms).
    pub start_time: Option<i64>,
    /// To (ms).
    pub end_time: Option<i64>,
    /// Text to look for.
    pub filter_pattern: Option<String>,
    /// Page token.
    pub next_token: Option<String>,
    /// Page size.
    pub limit: Option<usize>,
}

/// One event in CloudWatch Logs' shape.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FilteredEvent {
    /// Stream.
    pub log_stream_name: String,
    /// Time (ms).
    pub timestamp: i64,
    /// Message.
    pub message: String,
    /// When it was stored (ms).
    pub ingestion_time: i64,
    /// Id.
    pub event_id: String,
}

/// FilterLogEvents response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FilterLogEventsResponse {
    /// Events, oldest first.
    pub events: Vec<FilteredEvent>,
    /// Streams searched.
    pub searched_log_streams: Vec<serde_json::Value>,
    /// Token of the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// DescribeLogStreams request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeLogStreamsRequest {
    /// Group name.
    pub log_group_name: Option<String>,
    /// Only streams starting with this.
    pub log_stream_name_prefix: Option<String>,
    /// Page size.
    pub limit: Option<usize>,
}

/// GetLogEvents request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetLogEventsRequest {
    /// Group name.
    pub log_group_name: Option<String>,
    /// Stream name.
    pub log_stream_name: Option<String>,
    /// From (ms).
    pub start_time: Option<i64>,
    /// To (ms).
    pub end_time: Option<i64>,
    /// Page size.
    pub limit: Option<usize>,
}

/// One stream, as DescribeLogStreams lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogStream {
    /// Name.
    pub log_stream_name: String,
    /// Created (ms).
    pub creation_time: i64,
    /// Last event (ms).
    pub last_event_timestamp: i64,
    /// Last write (ms).
    pub last_ingestion_time: i64,
    /// Size.
    pub stored_bytes: u64,
    /// ARN.
    pub arn: String,
}

/// DescribeLogStreams response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeLogStreamsResponse {
    /// Streams.
    pub log_streams: Vec<LogStream>,
}

/// One event of GetLogEvents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputLogEvent {
    /// Time (ms).
    pub timestamp: i64,
    /// Message.
    pub message: String,
    /// When it was stored (ms).
    pub ingestion_time: i64,
}

/// GetLogEvents response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetLogEventsResponse {
    /// Events, oldest first.
    pub events: Vec<OutputLogEvent>,
    /// Token forward.
    pub next_forward_token: String,
    /// Token backward.
    pub next_backward_token: String,
}
