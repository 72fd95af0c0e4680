//! The invocation front door: checks the request as Lambda does, then hands it to the
//! executor.

use base64::Engine;
use bytes::Bytes;
use lamina_executor::{ExecutorError, InvokeRequest};
use lamina_model::invoke::{ClientContext, InvocationType, InvokeInput, LogType};
use lamina_model::limits::{ASYNC_PAYLOAD_MAX_BYTES, SYNC_PAYLOAD_MAX_BYTES};
use lamina_model::{FunctionRef, LambdaError};

use crate::Platform;
use crate::admission::Throttle;

/// Why an admitted invocation could not run (a function's own failure is an answer, not
/// one of these). All are transient: an asynchronous event meeting one is retried.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No environment could be had in time.
    #[error(transparent)]
    Throttled(#[from] Throttle),
    /// The server is shutting down.
    #[error("The server is shutting down.")]
    ShuttingDown,
    /// The host cannot run the function's runtime (now).
    #[error("{0}")]
    Runtime(String),
    /// An environment could not be set up.
    #[error("Could not start an execution environment: {0}")]
    Launch(String),
}

impl From<RunError> for LambdaError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Throttled(t) => t.into(),
            RunError::ShuttingDown => LambdaError::Service(e.to_string()),
            RunError::Runtime(why) => LambdaError::InvalidRuntime(why),
            RunError::Launch(_) => LambdaError::Service(e.to_string()),
        }
    }
}

/// The answer to an Invoke.
#[derive(Debug, Clone)]
pub struct InvokeOutput {
    /// 200 (sync) or 204 (dry run).
    pub status: u16,
    /// Response payload or error document.
    pub payload: Bytes,
    /// `X-Amz-Function-Error`.
    pub function_error: Option<&'static str>,
    /// `X-Amz-Log-Result` (base64).
    pub log_result: Option<String>,
    /// `X-Amz-Executed-Version`.
    pub executed_version: Option<String>,
    /// The request id.
    pub request_id: String,
    /// On a cold start, how its init phase divided: `(sandbox set-up, runtime)` in ms, and
    /// what had been started ahead of time (`none`, `sandbox`, `runtime`).
    pub init_breakdown: Option<(f64, f64, &'static str)>,
    /// Whether the response went to the caller's stream sink.
    pub streamed: bool,
}

impl Platform {
    /// Invoke.
    pub async fn invoke(&self, input: InvokeInput) -> Result<InvokeOutput, LambdaError> {
        self.invoke_streaming(input, None).await
    }

    /// Invoke, with a streamed response going to `sink` as the function writes it
    /// (InvokeWithResponseStream, streaming URLs): the answer then says it was streamed, and
    /// holds only how the stream ended.
    pub async fn invoke_streaming(
        &self,
        input: InvokeInput,
        sink: Option<lamina_executor::StreamSink>,
    ) -> Result<InvokeOutput, LambdaError> {
        let identity = self.identity();
        let r = FunctionRef::parse_with_qualifier(
            &input.function_name,
            input.qualifier.as_deref(),
            identity,
        )?;
        let tail = input.log_type == LogType::Tail;
        let max = if input.invocation_type == InvocationType::Event {
            ASYNC_PAYLOAD_MAX_BYTES
        } else {
            SYNC_PAYLOAD_MAX_BYTES
        };
        if input.payload.len() > max {
            return Err(LambdaError::RequestTooLarge(format!(
                "Request must be smaller than {max} bytes for the InvokeFunction operation"
            )));
        }
        let cached = match self.registry().resolve_with(&r, lamina_model::random_unit) {
            Ok(c) => c,
            // In a cluster, a function another node made a moment ago may not be here yet.
            Err(LambdaError::ResourceNotFound(_)) if self.inner.grants.is_some() => {
                self.cluster().catch_up(&r.name).await;
                self.registry()
                    .resolve_with(&r, lamina_model::random_unit)?
            }
            Err(e) => return Err(e),
        };
        let payload = if input.payload.iter().all(u8::is_ascii_whitespace) {
            Bytes::from_static(b"{}")
        } else {
            // serde_json skips over the insides of strings it ignores without checking their
            // UTF-8, so the text is checked first: a runtime would choke on such a payload.
            let parsed = std::str::from_utf8(&input.payload)
                .map_err(|e| e.to_string())
                .and_then(|text| {
                    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| e.to_string())
                });
            if let Err(e) = parsed {
                return Err(LambdaError::InvalidRequestContent(format!(
                    "Could not parse request body into json: Could not parse payload into json: {e}"
                )));
            }
            input.payload
        };
        let client_context = input.client_context.map(ClientContext::into_json);
        let version = cached.version.clone().ok_or_else(|| {
            LambdaError::InvalidRuntime(format!(
                "The runtime {} is not supported by Lamina.",
                cached.config.runtime
            ))
        })?;
        let request_id = input.request_id.unwrap_or_else(lamina_model::new_id);
        match input.invocation_type {
            InvocationType::DryRun => {
                return Ok(InvokeOutput {
                    status: 204,
                    payload: Bytes::new(),
                    function_error: None,
                    log_result: None,
                    executed_version: None,
                    request_id,
                    init_breakdown: None,
                    streamed: false,
                });
            }
            InvocationType::Event => {
                self.async_invoke()
                    .enqueue_event(
                        &r,
                        &payload,
                        client_context,
                        &request_id,
                        input.trace_header,
                    )
                    .await?;
                return Ok(InvokeOutput {
                    status: 202,
                    payload: Bytes::new(),
                    function_error: None,
                    log_result: None,
                    executed_version: None,
                    request_id,
                    init_breakdown: None,
                    streamed: false,
                });
            }
            InvocationType::RequestResponse => {}
        }
        // Admitted before any environment is looked for: a throttle costs nothing.
        let reserved = if cached.config.version == "$LATEST" {
            // $LATEST holds the whole function's reservation: no second lookup.
            cached.config.reserved_concurrency
        } else {
            self.registry().reservation(&r.name)
        };
        let slot = self.admit(&r.name, reserved).await?;
        Ok(self
            .run(
                &r,
                slot,
                version,
                payload,
                client_context,
                tail,
                request_id,
                sink,
                input.trace_header,
            )
            .await?)
    }

    /// Admits one invocation of `function` (reserved `reserved`): within the server's
    /// limits, and in a cluster within the slots of the reservation (or of the account's
    /// limit) this node holds, taking one more from the cluster only when all it holds are
    /// busy.
    pub(crate) async fn admit(
        &self,
        function: &str,
        reserved: Option<u32>,
    ) -> Result<crate::admission::Admission, Throttle> {
        let concurrency = &self.inner.concurrency;
        let Some(grants) = &self.inner.grants else {
            return concurrency.admit(function, reserved);
        };
        let Some(r) = reserved else {
            loop {
                if let Some(slot) = concurrency.try_admit(function, None) {
                    if concurrency.unreserved_in_flight() >= concurrency.unreserved_held() {
                        grants.account_full();
                    }
                    return Ok(slot);
                }
                let pool = concurrency.unreserved_pool();
                if concurrency.unreserved_held() >= pool || !grants.grow_account(pool).await {
                    return concurrency.admit(function, None);
                }
            }
        };
        loop {
            let cap = grants.cap(function, r);
            if let Some(slot) = concurrency.try_admit(function, Some(cap)) {
                if concurrency.in_flight(function) >= cap {
                    grants.full(function);
                }
                return Ok(slot);
            }
            if cap >= r || !grants.grow(function, r).await {
                return concurrency.admit(function, Some(cap));
            }
        }
    }

    /// Runs one invocation (already resolved, checked and admitted: `slot` is given back
    /// when it ends) and waits for its end.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn run(
        &self,
        r: &FunctionRef,
        slot: crate::admission::Admission,
        version: std::sync::Arc<lamina_executor::FunctionVersion>,
        payload: Bytes,
        client_context: Option<String>,
        tail: bool,
        request_id: String,
        stream: Option<lamina_executor::StreamSink>,
        trace_header: Option<String>,
    ) -> Result<InvokeOutput, RunError> {
        let identity = self.identity();
        let invoked_arn = match &r.qualifier {
            Some(q) => identity.qualified_arn(&r.name, q),
            None => identity.function_arn(&r.name),
        };
        // Only a server that exports spans pays for what a span needs.
        let span = self.inner.spans.as_ref().map(|_| {
            (
                crate::traces::caller_parent(trace_header.as_deref()),
                std::time::SystemTime::now(),
                invoked_arn.clone(),
            )
        });
        let req = InvokeRequest {
            request_id: request_id.clone(),
            payload,
            client_context,
            invoked_arn,
            tail,
            stream,
            trace_header,
        };
        let result = self
            .executor()
            .invoke(version, req)
            .await
            .map_err(|e| match e {
                ExecutorError::Throttled => {
                    slot.count_throttle();
                    RunError::Throttled(Throttle::Scaling)
                }
                ExecutorError::ShuttingDown => RunError::ShuttingDown,
                ExecutorError::Runtime(e) => RunError::Runtime(e.to_string()),
                ExecutorError::Launch(e) => {
                    tracing::error!(function = %r.name, error = %e, "could not start an environment");
                    RunError::Launch(e.to_string())
                }
            })?;
        slot.record(
            &result.executed_version,
            r.qualifier.as_deref().unwrap_or_default(),
            &result.report,
            result.function_error.is_some(),
        );
        if let Some(sink) = &self.inner.spans
            && let Some((caller_parent, start, invoked_arn)) = span
            && let Some((trace_id, span_id, true)) = crate::traces::ids(&result.trace)
        {
            let error_type = result.function_error.and_then(|_| {
                serde_json::from_slice::<serde_json::Value>(&result.payload)
                    .ok()?
                    .get("errorType")?
                    .as_str()
                    .map(str::to_string)
            });
            sink.export(crate::traces::InvocationSpan {
                function: r.name.clone(),
                version: result.executed_version.clone(),
                invoked_arn,
                request_id: request_id.clone(),
                trace_id,
                span_id,
                parent_span_id: caller_parent,
                start,
                end: std::time::SystemTime::now(),
                init_ms: result.report.init_ms,
                billed_ms: result.report.billed_ms,
                memory_mb: result.report.memory_mb,
                max_memory_used_mb: result.report.max_memory_mb,
                error_type: error_type.or(result.function_error.map(str::to_string)),
            });
        }
        Ok(InvokeOutput {
            status: 200,
            payload: result.payload,
            function_error: result.function_error,
            log_result: result
                .log_tail
                .map(|t| base64::engine::general_purpose::STANDARD.encode(t)),
            executed_version: Some(result.executed_version),
            request_id,
            streamed: result.streamed,
            init_breakdown: result.report.init_ms.zip(result.report.setup_ms).map(
                |(init, setup)| {
                    let ahead = result.report.prestarted.map_or("none", |p| p.as_str());
                    (setup, (init - setup).max(0.0), ahead)
                },
            ),
        })
    }
}
