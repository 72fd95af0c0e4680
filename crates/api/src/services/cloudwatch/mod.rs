//! CloudWatch's metric API (service `monitoring`) in the three protocols its SDKs speak:
//! - Smithy RPC v2 CBOR, what current SDKs send: `POST
//!   /service/GraniteServiceVersion20100801/operation/<Operation>` (`cbor`);
//! - JSON 1.0: `POST /` with `X-Amz-Target: GraniteServiceVersion20100801.<Operation>`;
//! - the query protocol, what older SDKs send: `Action=<Operation>&Version=2010-08-01`,
//!   answered in XML (`query`).
//!
//! All three read into the same members (a JSON value), run the same operation, and write
//! its answer in their own form. Errors carry `x-amzn-query-error` (`Code;Sender`), from
//! which the SDKs take the error's query-protocol code, as CloudWatch's do.

mod cbor;
pub(crate) mod query;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lamina_model::cloudwatch::CloudWatchError;
use lamina_platform::Platform;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The `X-Amz-Target` prefix of the JSON protocol.
pub(crate) const TARGET_PREFIX: &str = "GraniteServiceVersion20100801.";

/// The largest request read (500 queries of GetMetricData fit well within it).
const MAX_REQUEST: usize = 1 << 20;

/// The CBOR routes.
pub fn routes() -> axum::Router<Platform> {
    axum::Router::new().route(
        "/service/GraniteServiceVersion20100801/operation/{operation}",
        axum::routing::post(cbor::serve),
    )
}

fn members<T: DeserializeOwned>(v: Value) -> Result<T, CloudWatchError> {
    serde_json::from_value(v).map_err(|e| {
        CloudWatchError::InvalidParameterValue(format!("The request could not be read: {e}"))
    })
}

/// Runs `operation` on its members; its answer as JSON with timestamps as epoch seconds.
pub(crate) async fn operation(
    p: &Platform,
    operation: &str,
    input: Value,
) -> Result<Value, CloudWatchError> {
    let cw = lamina_platform::cloudwatch::CloudWatch::of(p);
    let answer = match operation {
        "GetMetricStatistics" => to_value(cw.get_metric_statistics(members(input)?).await?),
        "GetMetricData" => to_value(cw.get_metric_data(members(input)?).await?),
        "ListMetrics" => to_value(cw.list_metrics(members(input)?).await?),
        other => {
            return Err(CloudWatchError::InvalidParameterValue(format!(
                "The operation {other} is not served here: this server answers \
                 GetMetricStatistics, GetMetricData and ListMetrics for AWS/Lambda."
            )));
        }
    };
    Ok(answer)
}

fn to_value<T: serde::Serialize>(t: T) -> Value {
    serde_json::to_value(t).unwrap_or_default()
}

/// The error header the SDKs read the query-protocol code from.
fn query_error(e: &CloudWatchError) -> HeaderValue {
    HeaderValue::from_str(&format!("{};{}", e.code(), e.fault()))
        .unwrap_or(HeaderValue::from_static("InternalServiceError;Receiver"))
}

fn status(e: &CloudWatchError) -> StatusCode {
    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST)
}

/// A JSON 1.0 request (`X-Amz-Target: GraniteServiceVersion20100801.<Operation>`).
pub(super) async fn serve_json(p: Platform, headers: HeaderMap, body: Body) -> Response {
    let answer = match super::json_request(&headers, body, TARGET_PREFIX, MAX_REQUEST).await {
        Ok((op, input)) => operation(&p, &op, input).await,
        Err(message) => Err(CloudWatchError::InvalidParameterValue(message)),
    };
    let content_type = HeaderValue::from_static("application/x-amz-json-1.0");
    match answer {
        Ok(v) => {
            let mut resp = (StatusCode::OK, axum::Json(v)).into_response();
            resp.headers_mut().insert("content-type", content_type);
            resp
        }
        Err(e) => {
            let body = serde_json::json!({
                "__type": format!("com.amazonaws.cloudwatch#{}", e.shape()),
                "message": e.to_string(),
            });
            let mut resp = (status(&e), axum::Json(body)).into_response();
            resp.headers_mut().insert("content-type", content_type);
            resp.headers_mut()
                .insert("x-amzn-query-error", query_error(&e));
            resp
        }
    }
}
