//! CloudWatch's query protocol, which older SDKs (and dashboards built on them) speak:
//! `Action=GetMetricStatistics&Version=2010-08-01&Dimensions.member.1.Name=…` as a form,
//! answered in XML. Parameters are read into the JSON protocol's members (`X.member.N`
//! into lists), and answers written back as XML, so every protocol runs one operation.

use axum::http::StatusCode;
use axum::response::Response;
use lamina_model::cloudwatch::CloudWatchError;
use lamina_platform::Platform;
use serde_json::{Map, Value};

use super::{operation, query_error, status};
use crate::services::query_xml::{escape, xml_response as xml};

const NAMESPACE: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";

/// Members whose values are timestamps (ISO 8601 in XML).
const TIMESTAMPS: [&str; 2] = ["Timestamp", "Timestamps"];

/// Whether a request without `X-Amz-Target` is CloudWatch's: its `Version` is CloudWatch's
/// API version (SQS's is another).
pub(crate) fn is_query(params: &[(String, String)]) -> bool {
    params
        .iter()
        .any(|(k, v)| k == "Version" && v == "2010-08-01")
}

/// `A.member.1.B=x` into `{"A": [{"B": "x"}]}`; `Action`, `Version` and empty lists left
/// out.
pub(crate) fn members(params: &[(String, String)]) -> Value {
    let mut root = Value::Object(Map::new());
    for (k, v) in params {
        // An empty list is sent as `Name=` (nothing to tell it from an empty text, which
        // no CloudWatch member takes): left out.
        if k == "Action" || k == "Version" || v.is_empty() {
            continue;
        }
        let parts: Vec<&str> = k.split('.').collect();
        let mut at = &mut root;
        let mut i = 0;
        while i < parts.len() {
            let last = |j: usize| j + 1 >= parts.len();
            if parts[i] == "member"
                && let Some(n) = parts.get(i + 1).and_then(|n| n.parse::<usize>().ok())
                && n >= 1
            {
                if !at.is_array() {
                    *at = Value::Array(Vec::new());
                }
                let Value::Array(list) = at else { break };
                while list.len() < n {
                    list.push(Value::Null);
                }
                at = &mut list[n - 1];
                if last(i + 1) {
                    *at = Value::String(v.clone());
                }
                i += 2;
                continue;
            }
            if !at.is_object() {
                *at = Value::Object(Map::new());
            }
            let Value::Object(map) = at else { break };
            at = map.entry(parts[i].to_string()).or_insert(Value::Null);
            if last(i) {
                *at = Value::String(v.clone());
            }
            i += 1;
        }
    }
    drop_nulls(root)
}

/// A list's holes (a `member.3` without a `member.2`) are dropped.
fn drop_nulls(v: Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(
            a.into_iter()
                .filter(|v| !v.is_null())
                .map(drop_nulls)
                .collect(),
        ),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, drop_nulls(v))).collect()),
        v => v,
    }
}

fn iso(seconds: f64) -> String {
    chrono::DateTime::from_timestamp_millis((seconds * 1000.0) as i64)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// A JSON answer as the query protocol's XML elements.
fn write(out: &mut String, name: &str, v: &Value, timestamp: bool) {
    match v {
        Value::Null => {}
        Value::Array(items) => {
            out.push_str(&format!("<{name}>"));
            for item in items {
                write(out, "member", item, timestamp);
            }
            out.push_str(&format!("</{name}>"));
        }
        // The one map CloudWatch answers (ExtendedStatistics) is written as entries.
        Value::Object(o) if name == "ExtendedStatistics" => {
            out.push_str(&format!("<{name}>"));
            for (k, v) in o {
                out.push_str(&format!("<entry><key>{}</key>", escape(k)));
                write(out, "value", v, false);
                out.push_str("</entry>");
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::Object(o) => {
            out.push_str(&format!("<{name}>"));
            for (k, v) in o {
                write(out, k, v, TIMESTAMPS.contains(&k.as_str()));
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::Number(n) if timestamp => {
            out.push_str(&format!(
                "<{name}>{}</{name}>",
                iso(n.as_f64().unwrap_or_default())
            ));
        }
        Value::Number(n) => out.push_str(&format!("<{name}>{n}</{name}>")),
        Value::Bool(b) => out.push_str(&format!("<{name}>{b}</{name}>")),
        Value::String(s) => out.push_str(&format!("<{name}>{}</{name}>", escape(s))),
    }
}

/// One query-protocol request.
pub(crate) async fn serve(p: Platform, params: Vec<(String, String)>) -> Response {
    let action = params
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let request_id = uuid::Uuid::new_v4().to_string();
    match operation(&p, &action, members(&params)).await {
        Ok(answer) => {
            let mut body = format!("<{action}Response xmlns=\"{NAMESPACE}\">");
            write(&mut body, &format!("{action}Result"), &answer, false);
            body.push_str(&format!(
                "<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>\
                 </{action}Response>"
            ));
            xml(StatusCode::OK, body)
        }
        Err(e) => error(&e, &request_id),
    }
}

fn error(e: &CloudWatchError, request_id: &str) -> Response {
    let body = format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>{}</Type><Code>{}</Code>\
         <Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        e.fault(),
        e.code(),
        escape(&e.to_string())
    );
    let mut resp = xml(status(e), body);
    resp.headers_mut()
        .insert("x-amzn-query-error", query_error(e));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn flattened_lists_and_structures_become_members() {
        let p = params(&[
            ("Action", "GetMetricData"),
            ("Version", "2010-08-01"),
            ("StartTime", "2026-12-05T00:00:00Z"),
            ("MetricDataQueries.member.1.Id", "a"),
            ("MetricDataQueries.member.1.MetricStat.Period", "60"),
            (
                "MetricDataQueries.member.1.MetricStat.Metric.MetricName",
                "Errors",
            ),
            (
                "MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name",
                "FunctionName",
            ),
            (
                "MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Value",
                "f",
            ),
            ("MetricDataQueries.member.2.Id", "b"),
            ("Statistics.member.2", "Sum"),
            ("Statistics.member.1", "Average"),
            ("Dimensions", ""),
        ]);
        assert_eq!(
            members(&p),
            serde_json::json!({
                "StartTime": "2026-12-05T00:00:00Z",
                "MetricDataQueries": [
                    {"Id": "a", "MetricStat": {"Period": "60", "Metric": {
                        "MetricName": "Errors",
                        "Dimensions": [{"Name": "FunctionName", "Value": "f"}]}}},
                    {"Id": "b"}
                ],
                "Statistics": ["Average", "Sum"]
            })
        );
        assert!(is_query(&p));
        assert!(!is_query(&params(&[("Version", "2012-11-05")])));
    }

    #[test]
    fn answers_are_written_as_the_query_protocols_xml() {
        let mut out = String::new();
        let answer = serde_json::json!({
            "Label": "Duration",
            "Datapoints": [{"Timestamp": 1_764_892_800.0, "Sum": 2.5,
                            "ExtendedStatistics": {"p99": 1.5}, "Unit": "Milliseconds"}]
        });
        write(&mut out, "GetMetricStatisticsResult", &answer, false);
        assert_eq!(
            out,
            "<GetMetricStatisticsResult><Datapoints><member>\
             <ExtendedStatistics><entry><key>p99</key><value>1.5</value></entry></ExtendedStatistics>\
             <Sum>2.5</Sum><Timestamp>2025-12-05T00:00:00.000Z</Timestamp><Unit>Milliseconds</Unit>\
             </member></Datapoints><Label>Duration</Label></GetMetricStatisticsResult>"
        );
    }
}
