//! CloudWatch Logs' wire shapes (JSON 1.1), for the operations Lamina serves on function
//! logs: FilterLogEvents, DescribeLogStreams, GetLogEvents, DescribeLogGroups and the
//! retention policies.

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

/// DescribeLogGroups request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeLogGroupsRequest {
    /// Only groups whose names start with this.
    pub log_group_name_prefix: Option<String>,
    /// Only groups whose names contain this (case-insensitive).
    pub log_group_name_pattern: Option<String>,
    /// Page size (1-50).
    pub limit: Option<usize>,
    /// Where the previous page ended.
    pub next_token: Option<String>,
}

/// One log group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogGroup {
    /// Name.
    pub log_group_name: String,
    /// Its oldest event (ms).
    pub creation_time: i64,
    /// Days events are kept, when a retention policy is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_in_days: Option<u32>,
    /// Always 0: metric filters are not served.
    pub metric_filter_count: u32,
    /// ARN, ending `:*`.
    pub arn: String,
    /// ARN without the `:*`.
    pub log_group_arn: String,
    /// Bytes stored.
    pub stored_bytes: u64,
    /// `STANDARD`.
    pub log_group_class: String,
}

/// DescribeLogGroups response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeLogGroupsResponse {
    /// Groups, by name.
    pub log_groups: Vec<LogGroup>,
    /// The next page's token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// PutRetentionPolicy and DeleteRetentionPolicy requests.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionPolicyRequest {
    /// Group name.
    pub log_group_name: Option<String>,
    /// Days (PutRetentionPolicy only).
    pub retention_in_days: Option<u32>,
}

/// The retention periods CloudWatch Logs accepts, in days.
pub const RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];
