//! Smithy RPC v2 CBOR, the protocol current SDKs speak to CloudWatch: requests and answers
//! are CBOR maps; timestamps are tag 1 (epoch seconds); errors carry `__type`. Requests
//! are read into JSON members (tags dropped, byte strings as base64) so that every
//! protocol shares one operation; answers are written back with their timestamps tagged.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use ciborium::Value as Cbor;
use lamina_model::cloudwatch::CloudWatchError;
use lamina_platform::Platform;
use serde_json::Value;

use super::{MAX_REQUEST, operation, query_error, status};

/// Members whose values are timestamps (tag 1 on the wire).
const TIMESTAMPS: [&str; 2] = ["Timestamp", "Timestamps"];

/// A CBOR value as JSON: tags unwrapped, byte strings in base64, keys as text.
pub(crate) fn to_json(v: Cbor) -> Value {
    match v {
        Cbor::Integer(i) => {
            let i = i128::from(i);
            i64::try_from(i)
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(i as f64))
        }
        Cbor::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        Cbor::Bool(b) => Value::Bool(b),
        Cbor::Text(t) => Value::String(t),
        Cbor::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Cbor::Array(a) => Value::Array(a.into_iter().map(to_json).collect()),
        Cbor::Map(m) => Value::Object(
            m.into_iter()
                .filter_map(|(k, v)| match k {
                    Cbor::Text(k) => Some((k, to_json(v))),
                    _ => None,
                })
                .collect(),
        ),
        Cbor::Tag(_, inner) => to_json(*inner),
        _ => Value::Null,
    }
}

/// A JSON answer as CBOR, with the members named in [`TIMESTAMPS`] tagged as epoch times.
pub(crate) fn from_json(v: Value, timestamp: bool) -> Cbor {
    match v {
        Value::Null => Cbor::Null,
        Value::Bool(b) => Cbor::Bool(b),
        Value::Number(n) => {
            let plain = match n.as_i64() {
                Some(i) if !timestamp => Cbor::Integer(i.into()),
                _ => Cbor::Float(n.as_f64().unwrap_or_default()),
            };
            if timestamp {
                Cbor::Tag(1, Box::new(plain))
            } else {
                plain
            }
        }
        Value::String(s) => Cbor::Text(s),
        Value::Array(a) => Cbor::Array(a.into_iter().map(|v| from_json(v, timestamp)).collect()),
        Value::Object(o) => Cbor::Map(
            o.into_iter()
                .map(|(k, v)| {
                    let tagged = TIMESTAMPS.contains(&k.as_str());
                    (Cbor::Text(k), from_json(v, tagged))
                })
                .collect(),
        ),
    }
}

fn cbor_response(status: StatusCode, v: Cbor) -> Response {
    let mut body = Vec::new();
    if ciborium::into_writer(&v, &mut body).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/cbor"));
    h.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    resp
}

/// `POST /service/GraniteServiceVersion20100801/operation/{operation}`.
pub(super) async fn serve(
    State(p): State<Platform>,
    Path(op): Path<String>,
    _headers: HeaderMap,
    body: Body,
) -> Response {
    let answer = match crate::error::read_body(body, MAX_REQUEST, &op).await {
        Err(e) => Err(CloudWatchError::InvalidParameterValue(e.0.to_string())),
        Ok(bytes) if bytes.is_empty() => {
            operation(&p, &op, Value::Object(Default::default())).await
        }
        Ok(bytes) => match ciborium::from_reader::<Cbor, _>(&bytes[..]) {
            Ok(v) => operation(&p, &op, to_json(v)).await,
            Err(e) => Err(CloudWatchError::InvalidParameterValue(format!(
                "The request body is not valid CBOR: {e}"
            ))),
        },
    };
    match answer {
        Ok(v) => cbor_response(StatusCode::OK, from_json(v, false)),
        Err(e) => {
            let body = Cbor::Map(vec![
                (
                    Cbor::Text("__type".into()),
                    Cbor::Text(format!("com.amazonaws.cloudwatch#{}", e.shape())),
                ),
                (Cbor::Text("message".into()), Cbor::Text(e.to_string())),
            ]);
            let mut resp = cbor_response(status(&e), body);
            resp.headers_mut()
                .insert("x-amzn-query-error", query_error(&e));
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_timestamps_and_bytes_read_as_json_and_answers_tag_theirs() {
        let request = Cbor::Map(vec![
            (
                Cbor::Text("StartTime".into()),
                Cbor::Tag(1, Box::new(Cbor::Float(1_700_000_000.5))),
            ),
            (Cbor::Text("Period".into()), Cbor::Integer(60.into())),
            (Cbor::Text("Blob".into()), Cbor::Bytes(vec![1, 2])),
        ]);
        assert_eq!(
            to_json(request),
            serde_json::json!({"StartTime": 1_700_000_000.5, "Period": 60, "Blob": "AQI="})
        );
        let answer = from_json(
            serde_json::json!({"Datapoints": [{"Timestamp": 60, "Sum": 3}], "Timestamps": [120]}),
            false,
        );
        let Cbor::Map(m) = answer else { panic!() };
        let Cbor::Array(points) = &m[0].1 else {
            panic!()
        };
        let Cbor::Map(point) = &points[0] else {
            panic!()
        };
        assert!(
            point
                .iter()
                .any(|(k, v)| *k == Cbor::Text("Timestamp".into())
                    && *v == Cbor::Tag(1, Box::new(Cbor::Float(60.0))))
        );
        assert!(
            point
                .iter()
                .any(|(k, v)| *k == Cbor::Text("Sum".into()) && *v == Cbor::Integer(3.into()))
        );
        let Cbor::Array(stamps) = &m[1].1 else {
            panic!()
        };
        assert_eq!(stamps[0], Cbor::Tag(1, Box::new(Cbor::Float(120.0))));
    }
}
