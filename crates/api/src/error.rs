//! Lambda's error shape on the wire: the status, `x-amzn-ErrorType`, `x-amzn-RequestId` and a
//! JSON body with `Type` and `message`, which botocore turns into
//! `client.exceptions.<ErrorType>`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lamina_model::LambdaError;

/// A [`LambdaError`] ready to be sent.
#[derive(Debug)]
pub struct ApiError(pub LambdaError);

impl From<LambdaError> for ApiError {
    fn from(e: LambdaError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(status(&self.0)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, axum::Json(body(&self.0))).into_response();
        let h = resp.headers_mut();
        h.insert(
            "x-amzn-errortype",
            HeaderValue::from_static(self.0.error_type()),
        );
        if let Ok(v) = HeaderValue::from_str(&lamina_model::new_id()) {
            h.insert("x-amzn-requestid", v);
        }
        if matches!(self.0, LambdaError::TooManyRequests { .. }) {
            h.insert("retry-after", HeaderValue::from_static("1"));
        }
        resp
    }
}

/// Reads a whole request body of at most `limit` bytes. Past the limit it is Lambda's
/// RequestTooLargeException for `operation`; a body that breaks off or is mis-framed (the
/// client closed early, a chunk header is not hex) is the client's 400, never "too large".
pub async fn read_body(
    body: axum::body::Body,
    limit: usize,
    operation: &str,
) -> Result<bytes::Bytes, ApiError> {
    use http_body_util::{BodyExt, LengthLimitError, Limited};
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError(LambdaError::RequestTooLarge(format!(
                "Request must be smaller than {limit} bytes for the {operation} operation"
            ))))
        }
        Err(e) => Err(ApiError(LambdaError::InvalidRequestContent(format!(
            "The request body could not be read: {e}"
        )))),
    }
}

/// Lambda's error answer, as a whole HTTP/1.1 response that closes the connection.
pub(crate) fn shaped_response(
    status: &str,
    error_type: &str,
    message: &str,
    extra: &str,
) -> Vec<u8> {
    let body = serde_json::json!({"Type": "User", "message": message}).to_string();
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nx-amzn-errortype: {error_type}\r\n\
         x-amzn-requestid: {}\r\n{extra}connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        lamina_model::new_id(),
        body.len()
    )
    .into_bytes()
}

/// The HTTP status Lambda uses for `e`.
pub fn status(e: &LambdaError) -> u16 {
    match e {
        LambdaError::ResourceNotFound(_)
        | LambdaError::UnknownOperation(_)
        | LambdaError::ProvisionedConcurrencyConfigNotFound(_) => 404,
        LambdaError::ResourceConflict(_) => 409,
        LambdaError::InvalidParameterValue(_)
        | LambdaError::ResourceInUse(_)
        | LambdaError::Validation(_)
        | LambdaError::InvalidRequestContent(_)
        | LambdaError::PolicyLengthExceeded(_)
        | LambdaError::CodeStorageExceeded(_) => 400,
        LambdaError::RequestTooLarge(_) => 413,
        LambdaError::PreconditionFailed(_) => 412,
        LambdaError::TooManyRequests { .. } => 429,
        LambdaError::InvalidRuntime(_) => 502,
        LambdaError::Service(_) => 500,
    }
}

/// `User` for errors the caller caused, `Service` for the platform's own faults.
fn fault_type(e: &LambdaError) -> &'static str {
    match e {
        LambdaError::Service(_) | LambdaError::InvalidRuntime(_) => "Service",
        _ => "User",
    }
}

/// The JSON body Lambda sends with `e`.
pub fn body(e: &LambdaError) -> serde_json::Value {
    let mut body = serde_json::json!({
        "Type": fault_type(e),
        "message": e.to_string(),
    });
    if let LambdaError::TooManyRequests { reason, .. } = e {
        body["Reason"] = serde_json::Value::String(reason.clone());
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_bodies_follow_lambda() {
        let e = LambdaError::function_not_found("arn:aws:lambda:us-east-1:000000000000:function:f");
        assert_eq!(status(&e), 404);
        assert_eq!(body(&e)["Type"], "User");
        assert_eq!(
            body(&e)["message"],
            "Function not found: arn:aws:lambda:us-east-1:000000000000:function:f"
        );
        let t = LambdaError::TooManyRequests {
            reason: "ConcurrentInvocationLimitExceeded".into(),
            message: "Rate Exceeded.".into(),
        };
        assert_eq!(status(&t), 429);
        assert_eq!(body(&t)["Reason"], "ConcurrentInvocationLimitExceeded");
        assert_eq!(status(&LambdaError::RequestTooLarge(String::new())), 413);
        let s = LambdaError::Service(String::new());
        assert_eq!(
            (status(&s), body(&s)["Type"].as_str()),
            (500, Some("Service"))
        );
    }
}
