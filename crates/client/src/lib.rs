//! A typed client for Lamina's HTTP API: the Lambda operations the CLI needs and the
//! CloudWatch Logs reads behind `lamina logs`. It speaks exactly the wire format AWS
//! clients speak, so it doubles as a check of that format.

mod generic;
mod own;

use base64::Engine;
use bytes::Bytes;
use lamina_model::function::{
    CreateFunctionRequest, FunctionConfiguration, ListFunctionsResponse,
    UpdateFunctionConfigurationRequest,
};
use lamina_model::logs::FilterLogEventsResponse;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What may go wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answers at the endpoint.
    #[error(
        "cannot reach the Lamina server at {endpoint}: is `lamina serve` running there? (use --endpoint or LAMINA_ENDPOINT to point elsewhere)"
    )]
    Unreachable {
        /// Where we tried.
        endpoint: String,
        /// Cause.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error.
    #[error("{error_type}: {message}{}", throttled_detail(reason, retry_after))]
    Api {
        /// HTTP status.
        status: u16,
        /// `x-amzn-ErrorType`.
        error_type: String,
        /// Message.
        message: String,
        /// A throttle's `Reason` (`ReservedFunctionConcurrentInvocationLimitExceeded`, …).
        reason: Option<String>,
        /// A throttle's `Retry-After`, in seconds.
        retry_after: Option<String>,
    },
    /// The connection failed mid-request or the answer could not be read.
    #[error("talking to {endpoint}: {detail}")]
    Protocol {
        /// Where.
        endpoint: String,
        /// What.
        detail: String,
    },
}

/// What the message of a throttle adds: its reason and when to retry.
fn throttled_detail(reason: &Option<String>, retry_after: &Option<String>) -> String {
    match (reason, retry_after) {
        (Some(r), Some(a)) => format!(" (reason {r}; retry after {a} s)"),
        (Some(r), None) => format!(" (reason {r})"),
        (None, Some(a)) => format!(" (retry after {a} s)"),
        (None, None) => String::new(),
    }
}

impl ClientError {
    /// True when the server said the resource does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Api { error_type, .. } if error_type == "ResourceNotFoundException")
    }
}

/// The answer to an invocation.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// HTTP status.
    pub status: u16,
    /// Response or error document.
    pub payload: Bytes,
    /// `X-Amz-Function-Error`.
    pub function_error: Option<String>,
    /// Decoded `X-Amz-Log-Result`.
    pub log: Option<String>,
    /// `X-Amz-Executed-Version`.
    pub executed_version: Option<String>,
}

/// Characters of a function name or ARN that must be escaped in a path segment.
/// `s` percent-encoded as one segment of a path, as the AWS SDKs encode names.
pub fn segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// A client of one Lamina server.
#[derive(Debug, Clone)]
pub struct Client {
    endpoint: String,
    http: reqwest::Client,
    /// The key requests are signed with, and the region of the signature's scope.
    signing: Option<(lamina_sigv4::Credentials, String)>,
}

impl Client {
    /// A client of the server at `endpoint` (`http://127.0.0.1:9000`).
    pub fn new(endpoint: &str) -> Client {
        Client {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            signing: None,
        }
    }

    /// The same client, signing every request (SigV4) with `credentials` for `region`, as a
    /// server started with `--credentials` requires.
    pub fn signed(mut self, credentials: lamina_sigv4::Credentials, region: &str) -> Client {
        self.signing = Some((credentials, region.to_string()));
        self
    }

    /// `req`, signed when the client has a key: for `logs` when it names a CloudWatch Logs
    /// operation, `sqs` for an SQS one, `events` for EventBridge, `scheduler` for the
    /// Scheduler's paths, else for `lambda`.
    fn build(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Request, reqwest::Error> {
        let req = req.build()?;
        let service = match req.headers().get("x-amz-target") {
            Some(t) if t.as_bytes().starts_with(b"Logs_") => "logs",
            Some(t) if t.as_bytes().starts_with(b"AmazonSQS.") => "sqs",
            Some(t) if t.as_bytes().starts_with(b"AWSEvents.") => "events",
            _ if req.url().path().starts_with("/schedule") => "scheduler",
            _ => "lambda",
        };
        match &self.signing {
            Some((creds, region)) => Ok(Client::sign(req, creds, region, service)),
            None => Ok(req),
        }
    }

    /// `req` signed for `service`.
    fn sign(
        mut req: reqwest::Request,
        creds: &lamina_sigv4::Credentials,
        region: &str,
        service: &str,
    ) -> reqwest::Request {
        let url = req.url().clone();
        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let body = req
            .body()
            .and_then(reqwest::Body::as_bytes)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        let method = req.method().as_str().to_string();
        let headers = req.headers_mut();
        if let Ok(v) = reqwest::header::HeaderValue::from_str(&host) {
            headers.insert("host", v);
        }
        lamina_sigv4::sign(
            lamina_sigv4::Unsigned {
                method: &method,
                path: url.path(),
                query: url.query().unwrap_or_default(),
                headers,
                body: &body,
            },
            creds,
            region,
            service,
            chrono::Utc::now(),
        );
        req
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint)
    }

    fn function_path(name: &str, suffix: &str) -> String {
        format!(
            "/2015-03-31/functions/{}{suffix}",
            utf8_percent_encode(name, SEGMENT)
        )
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let req = self.build(req).map_err(|e| ClientError::Protocol {
            endpoint: self.endpoint.clone(),
            detail: e.to_string(),
        })?;
        self.execute(req).await
    }

    /// Sends a request made and signed, and reads an error answer into [`ClientError::Api`].
    async fn execute(&self, req: reqwest::Request) -> Result<reqwest::Response, ClientError> {
        let resp = self.http.execute(req).await.map_err(|e| {
            if e.is_connect() {
                ClientError::Unreachable {
                    endpoint: self.endpoint.clone(),
                    source: e,
                }
            } else {
                ClientError::Protocol {
                    endpoint: self.endpoint.clone(),
                    detail: e.to_string(),
                }
            }
        })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let header_type = resp
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.text().await.unwrap_or_default();
        let body: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|_| xml_error(&text));
        let error_type = header_type
            .or_else(|| {
                body.get("__type")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| status.to_string());
        let message = body
            .get("message")
            .or_else(|| body.get("Message"))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        let reason = body
            .get("Reason")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        Err(ClientError::Api {
            status,
            error_type,
            message,
            reason,
            retry_after,
        })
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        resp: reqwest::Response,
    ) -> Result<T, ClientError> {
        resp.json().await.map_err(|e| ClientError::Protocol {
            endpoint: self.endpoint.clone(),
            detail: e.to_string(),
        })
    }

    /// CreateFunction (`Code.ZipFile` as base64).
    pub async fn create_function(
        &self,
        request: &CreateFunctionRequest,
    ) -> Result<FunctionConfiguration, ClientError> {
        let resp = self
            .send(
                self.http
                    .post(self.url("/2015-03-31/functions"))
                    .json(request),
            )
            .await?;
        self.json(resp).await
    }

    /// GetFunctionConfiguration.
    pub async fn get_configuration(
        &self,
        name: &str,
    ) -> Result<FunctionConfiguration, ClientError> {
        let resp = self
            .send(
                self.http
                    .get(self.url(&Client::function_path(name, "/configuration"))),
            )
            .await?;
        self.json(resp).await
    }

    /// UpdateFunctionCode with a zip.
    pub async fn update_code(
        &self,
        name: &str,
        zip: &[u8],
    ) -> Result<FunctionConfiguration, ClientError> {
        let body =
            serde_json::json!({ "ZipFile": base64::engine::general_purpose::STANDARD.encode(zip) });
        let resp = self
            .send(
                self.http
                    .put(self.url(&Client::function_path(name, "/code")))
                    .json(&body),
            )
            .await?;
        self.json(resp).await
    }

    /// UpdateFunctionConfiguration.
    pub async fn update_configuration(
        &self,
        name: &str,
        changes: &UpdateFunctionConfigurationRequest,
    ) -> Result<FunctionConfiguration, ClientError> {
        let resp = self
            .send(
                self.http
                    .put(self.url(&Client::function_path(name, "/configuration")))
                    .json(changes),
            )
            .await?;
        self.json(resp).await
    }

    /// Every function, across pages.
    pub async fn list_functions(&self) -> Result<Vec<FunctionConfiguration>, ClientError> {
        let mut all = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let path = match &marker {
                Some(m) => format!(
                    "/2015-03-31/functions?Marker={}",
                    utf8_percent_encode(m, SEGMENT)
                ),
                None => "/2015-03-31/functions".to_string(),
            };
            let req = self.http.get(self.url(&path));
            let page: ListFunctionsResponse = self.json(self.send(req).await?).await?;
            all.extend(page.functions);
            match page.next_marker {
                Some(m) => marker = Some(m),
                None => return Ok(all),
            }
        }
    }

    /// EventBridge Scheduler's CreateSchedule, with its body as the API takes it.
    pub async fn create_schedule(
        &self,
        name: &str,
        body: &serde_json::Value,
    ) -> Result<String, ClientError> {
        let path = format!("/schedules/{}", utf8_percent_encode(name, SEGMENT));
        let req = self.http.post(self.url(&path)).json(body);
        let answer: serde_json::Value = self.json(self.send(req).await?).await?;
        Ok(answer["ScheduleArn"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// One SQS operation in the JSON protocol (`X-Amz-Target: AmazonSQS.<op>`), on this
    /// endpoint or any SQS-compatible one: its answer.
    pub async fn sqs(
        &self,
        op: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        let req = self
            .http
            .post(self.url("/"))
            .header("X-Amz-Target", format!("AmazonSQS.{op}"))
            .header("Content-Type", "application/x-amz-json-1.0")
            .body(body.to_string());
        let resp = self.send(req).await?;
        self.json(resp).await
    }

    /// DeleteFunction.
    pub async fn delete_function(&self, name: &str) -> Result<(), ClientError> {
        self.send(self.http.delete(self.url(&Client::function_path(name, ""))))
            .await?;
        Ok(())
    }

    /// Invoke (synchronous), optionally with the log tail.
    pub async fn invoke(
        &self,
        name: &str,
        payload: Bytes,
        tail: bool,
    ) -> Result<Invoked, ClientError> {
        self.invoke_as(name, payload, tail, "RequestResponse").await
    }

    /// Invoke with an invocation type (`RequestResponse`, `Event`, `DryRun`).
    pub async fn invoke_as(
        &self,
        name: &str,
        payload: Bytes,
        tail: bool,
        invocation_type: &str,
    ) -> Result<Invoked, ClientError> {
        let mut req = self
            .http
            .post(self.url(&Client::function_path(name, "/invocations")))
            .header("X-Amz-Invocation-Type", invocation_type)
            .body(payload);
        if tail {
            req = req.header("X-Amz-Log-Type", "Tail");
        }
        let resp = self.send(req).await?;
        let h = resp.headers();
        let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        let function_error = get("x-amz-function-error");
        let executed_version = get("x-amz-executed-version");
        let log = get("x-amz-log-result")
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let status = resp.status().as_u16();
        let payload = resp.bytes().await.map_err(|e| ClientError::Protocol {
            endpoint: self.endpoint.clone(),
            detail: e.to_string(),
        })?;
        Ok(Invoked {
            status,
            payload,
            function_error,
            log,
            executed_version,
        })
    }

    /// CloudWatch Logs FilterLogEvents on a log group.
    pub async fn filter_log_events(
        &self,
        group: &str,
        start_ms: Option<i64>,
        next_token: Option<&str>,
    ) -> Result<FilterLogEventsResponse, ClientError> {
        self.filter_log_events_matching(group, start_ms, None, next_token)
            .await
    }

    /// FilterLogEvents with a CloudWatch Logs filter pattern.
    pub async fn filter_log_events_matching(
        &self,
        group: &str,
        start_ms: Option<i64>,
        pattern: Option<&str>,
        next_token: Option<&str>,
    ) -> Result<FilterLogEventsResponse, ClientError> {
        let mut body = serde_json::json!({ "logGroupName": group, "interleaved": true });
        if let Some(s) = start_ms {
            body["startTime"] = s.into();
        }
        if let Some(p) = pattern {
            body["filterPattern"] = p.into();
        }
        if let Some(t) = next_token {
            body["nextToken"] = t.into();
        }
        let req = self
            .http
            .post(self.url("/"))
            .header("X-Amz-Target", "Logs_20140328.FilterLogEvents")
            .header("Content-Type", "application/x-amz-json-1.1")
            .body(body.to_string());
        let resp = self.send(req).await?;
        self.json(resp).await
    }
}

/// The `Code` and `Message` of an error answered in XML (S3's), as the JSON members the
/// other services answer.
fn xml_error(text: &str) -> serde_json::Value {
    let element = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(text[start..end].to_string())
    };
    serde_json::json!({
        "__type": element("Code"),
        "message": element("Message"),
    })
}
