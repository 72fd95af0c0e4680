//! Invoke's request, as its headers say it: the invocation type, the log type, the client
//! context, each parsed (and refused in AWS's words) where the request arrives.

use base64::Engine;

use crate::LambdaError;
use crate::limits::CLIENT_CONTEXT_MAX_BYTES;

/// `X-Amz-Invocation-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvocationType {
    /// Synchronous (default).
    RequestResponse,
    /// Asynchronous.
    Event,
    /// Validate parameters and permissions only.
    DryRun,
}

impl InvocationType {
    /// Parses the header value.
    pub fn parse(s: Option<&str>) -> Result<InvocationType, LambdaError> {
        match s {
            None | Some("RequestResponse") => Ok(InvocationType::RequestResponse),
            Some("Event") => Ok(InvocationType::Event),
            Some("DryRun") => Ok(InvocationType::DryRun),
            Some(other) => Err(LambdaError::not_in_enum(
                other,
                "invocationType",
                &["DryRun", "RequestResponse", "Event"],
            )),
        }
    }
}

/// `X-Amz-Log-Type`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogType {
    /// No log in the answer (default).
    #[default]
    None,
    /// The last 4 KB of the invocation's log in `X-Amz-Log-Result`.
    Tail,
}

impl LogType {
    /// Parses the header value.
    pub fn parse(s: Option<&str>) -> Result<LogType, LambdaError> {
        match s {
            None | Some("None") => Ok(LogType::None),
            Some("Tail") => Ok(LogType::Tail),
            Some(other) => Err(LambdaError::not_in_enum(
                other,
                "logType",
                &["Tail", "None"],
            )),
        }
    }
}

/// `X-Amz-Client-Context`: a JSON object, checked and decoded from base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientContext(String);

impl ClientContext {
    /// Decodes the header value.
    pub fn parse(b64: &str) -> Result<ClientContext, LambdaError> {
        decode_client_context(b64).map(ClientContext)
    }

    /// The JSON text, as the runtime receives it.
    pub fn into_json(self) -> String {
        self.0
    }
}

/// An Invoke request, parsed from HTTP.
#[derive(Debug, Clone)]
pub struct InvokeInput {
    /// Function name, ARN or partial ARN (possibly qualified).
    pub function_name: String,
    /// `?Qualifier=`.
    pub qualifier: Option<String>,
    /// Invocation type.
    pub invocation_type: InvocationType,
    /// `X-Amz-Log-Type`.
    pub log_type: LogType,
    /// `X-Amz-Client-Context`, decoded.
    pub client_context: Option<ClientContext>,
    /// Body.
    pub payload: bytes::Bytes,
    /// The invocation's request id, when the caller named one (a function URL names it in
    /// the event it builds, so that the event, the function's context and the answer's
    /// `x-amzn-RequestId` agree); else a fresh one.
    pub request_id: Option<String>,
    /// The caller's `X-Amzn-Trace-Id`, whose trace the invocation joins.
    pub trace_header: Option<String>,
}

fn decode_client_context(b64: &str) -> Result<String, LambdaError> {
    let invalid = || {
        LambdaError::InvalidRequestContent(
            "Client context must be a valid Base64-encoded JSON object.".into(),
        )
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| invalid())?;
    if raw.len() > CLIENT_CONTEXT_MAX_BYTES {
        return Err(LambdaError::InvalidParameterValue(format!(
            "Client context must be at most {CLIENT_CONTEXT_MAX_BYTES} bytes."
        )));
    }
    let value: serde_json::Value = serde_json::from_slice(&raw).map_err(|_| invalid())?;
    if !value.is_object() {
        return Err(invalid());
    }
    String::from_utf8(raw).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_as_lambda_does() {
        assert_eq!(
            InvocationType::parse(None).unwrap(),
            InvocationType::RequestResponse
        );
        assert_eq!(
            InvocationType::parse(Some("Event")).unwrap(),
            InvocationType::Event
        );
        let e = InvocationType::parse(Some("Later"))
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with("Member must satisfy enum value set: [DryRun, RequestResponse, Event]"),
            "{e}"
        );
        assert_eq!(LogType::parse(Some("Tail")).unwrap(), LogType::Tail);
        assert_eq!(LogType::parse(Some("None")).unwrap(), LogType::None);
        assert!(matches!(
            LogType::parse(Some("All")),
            Err(LambdaError::Validation(_))
        ));
        let b64 = base64::engine::general_purpose::STANDARD.encode(r#"{"custom":{"a":1}}"#);
        assert_eq!(
            ClientContext::parse(&b64).unwrap().into_json(),
            r#"{"custom":{"a":1}}"#
        );
        for bad in ["%%%", "WzFd" /* [1] */] {
            assert!(
                matches!(
                    ClientContext::parse(bad),
                    Err(LambdaError::InvalidRequestContent(_))
                ),
                "{bad}"
            );
        }
    }
}
