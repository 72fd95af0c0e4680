//! The path of one invocation on one environment: handing it to the environment's Runtime
//! API session, waiting for the runtime to fetch and answer it within the init or function
//! timeout, and turning what happened into Lambda's result: the payload or error document,
//! the END and REPORT lines, the log tail; then the environment goes back to its pool.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lamina_model::limits::LOG_TAIL_BYTES;
use lamina_runtime_api::{Invocation, PickedUp, PickupHook, Reply, STREAM_MAX_BYTES, StreamEnd};
use tokio::sync::oneshot;

use crate::config::ExecutorConfig;
use crate::environment::Environment;
use crate::housekeeping::Counters;
use crate::lambda_env::trace_id;
use crate::logs;
use crate::platform_telemetry::{self, Status};
use crate::pool::Pool;
use crate::report::Report;
use crate::streaming::{Relayed, StreamSink, relay};
use crate::version::FunctionVersion;

/// One synchronous invocation.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    /// Request id.
    pub request_id: String,
    /// Event payload (JSON).
    pub payload: Bytes,
    /// Decoded client context JSON.
    pub client_context: Option<String>,
    /// The ARN the caller used.
    pub invoked_arn: String,
    /// Whether to return the tail of the log.
    pub tail: bool,
    /// Where a streamed response goes as it is written (InvokeWithResponseStream, streaming
    /// URLs); without one, a streamed response is gathered into the payload.
    pub stream: Option<StreamSink>,
    /// The caller's `X-Amzn-Trace-Id`: the invocation joins its trace.
    pub trace_header: Option<String>,
}

/// The outcome of an invocation.
#[derive(Debug, Clone)]
pub struct InvokeResult {
    /// Response payload, or the error document.
    pub payload: Bytes,
    /// `Unhandled` when the function or its runtime failed.
    pub function_error: Option<&'static str>,
    /// The last 4 KB of this invocation's log, when asked for.
    pub log_tail: Option<String>,
    /// The version that ran.
    pub executed_version: String,
    /// Figures of the REPORT line.
    pub report: Report,
    /// Whether the response went to the request's stream sink (the payload then holds only
    /// the error document, if the stream ended with one).
    pub streamed: bool,
    /// The X-Ray trace header the invocation ran with (`Root=…;Parent=…;Sampled=…`).
    pub trace: String,
}

/// Runs invocations on environments.
#[derive(Debug)]
pub(crate) struct Runner {
    config: Arc<ExecutorConfig>,
    counters: Arc<Counters>,
}

impl Runner {
    pub(crate) fn new(config: Arc<ExecutorConfig>, counters: Arc<Counters>) -> Runner {
        Runner { config, counters }
    }

    /// Runs `req` on `env`. `None` means the environment was already closed and never saw the
    /// invocation, so the caller may try another.
    pub(crate) async fn run(
        &self,
        pool: &Arc<Pool>,
        env: Arc<Environment>,
        cold: bool,
        req: &InvokeRequest,
    ) -> Option<InvokeResult> {
        let trace = trace_id(req.trace_header.as_deref(), pool.version.tracing_active);
        let mut result = self.run_traced(pool, env, cold, req, trace.clone()).await?;
        result.trace = trace;
        Some(result)
    }

    async fn run_traced(
        &self,
        pool: &Arc<Pool>,
        env: Arc<Environment>,
        cold: bool,
        req: &InvokeRequest,
        trace: String,
    ) -> Option<InvokeResult> {
        let version = &pool.version;
        if !cold {
            env.log.reset_tail();
        }
        let start_log = env.log.clone();
        let sample_env = Arc::downgrade(&env);
        let start_lines = version.logging.start(&req.request_id, &version.version);
        let (picked_tx, picked_rx) = oneshot::channel();
        let (reply_tx, mut reply_rx) = oneshot::channel();
        let hook_version = pool.version.clone();
        let hook_request = req.request_id.clone();
        let hook_trace = trace.clone();
        let invocation = Invocation {
            request_id: req.request_id.clone(),
            payload: req.payload.clone(),
            timeout: version.timeout,
            invoked_function_arn: req.invoked_arn.clone(),
            trace_id: trace,
            client_context: req.client_context.clone(),
            picked_up: picked_tx,
            reply: reply_tx,
            on_pickup: Some(PickupHook(Box::new(move || {
                let Some(env) = sample_env.upgrade() else {
                    start_log.platform_lines(start_lines);
                    return;
                };
                let telemetry = env.session.telemetry();
                if cold {
                    // The init phase is over: extensions report ready, as Lambda logs them.
                    let json = hook_version.logging.json;
                    let mut lines =
                        platform_telemetry::extension_lines(env.session.extensions(), json);
                    lines.extend(start_lines);
                    start_log.platform_lines(lines);
                    if !env.initialised_ahead {
                        let init_ms = millis(env.started.elapsed());
                        platform_telemetry::init_done(telemetry, &hook_version, init_ms);
                    }
                    // One sample per environment once init is done, so that a runtime
                    // that dies in its first invocation still reports its memory.
                    env.peak_memory_mb();
                } else {
                    start_log.platform_lines(start_lines);
                }
                platform_telemetry::start(
                    telemetry,
                    &hook_request,
                    &hook_version.version,
                    &hook_trace,
                );
            }))),
        };
        let assigned_at = Instant::now();
        if env.session.assign(invocation).is_err() {
            pool.forget(&env);
            return None;
        }

        // A new environment has the init phase to reach /next; a warm one is already there
        // or on its way back, so its invocation is bounded by the function's own timeout.
        let pickup_limit = if cold {
            self.config.init_timeout
        } else {
            version.timeout
        };
        let picked: Option<PickedUp> = match tokio::time::timeout(pickup_limit, picked_rx).await {
            Ok(Ok(p)) => Some(p),
            Ok(Err(_)) => None,
            Err(_) => {
                env.kill();
                let outcome = if cold {
                    Outcome::InitTimeout
                } else {
                    Outcome::Timeout
                };
                return Some(
                    self.finish(pool, &env, req, None, assigned_at, outcome)
                        .await,
                );
            }
        };
        if let Some(p) = picked {
            let mut outcome = match tokio::time::timeout_at(p.deadline.into(), &mut reply_rx).await
            {
                Ok(Ok(Reply::Stream(stream))) => {
                    let max = self.config.max_response_bytes;
                    match relay(
                        stream,
                        req.stream.as_ref(),
                        p.deadline,
                        max,
                        &version.version,
                    )
                    .await
                    {
                        Relayed::Streamed(end) => Outcome::Streamed(end),
                        Relayed::Gathered(body) => Outcome::Reply(Reply::Response(body)),
                        Relayed::GatheredTooLarge => Outcome::Reply(Reply::ResponseTooLarge),
                        Relayed::TimedOut => {
                            env.kill();
                            Outcome::Timeout
                        }
                    }
                }
                Ok(Ok(reply)) => Outcome::Reply(reply),
                Ok(Err(_)) => Outcome::Reply(Reply::Closed),
                Err(_) => {
                    env.kill();
                    Outcome::Timeout
                }
            };
            let extensions = env.session.extensions();
            platform_telemetry::runtime_done(
                env.session.telemetry(),
                &req.request_id,
                outcome.status(),
                millis(p.at.elapsed()),
            );
            // The invocation is over when the runtime and every extension are done, within
            // the function's timeout.
            if !extensions.invoke_is_done()
                && !matches!(outcome, Outcome::Timeout)
                && tokio::time::timeout_at(p.deadline.into(), extensions.invoke_done())
                    .await
                    .is_err()
            {
                env.kill();
                outcome = Outcome::Timeout;
            }
            return Some(
                self.finish(pool, &env, req, Some(p), assigned_at, outcome)
                    .await,
            );
        }
        // Not fetched: the runtime failed its init or exited first.
        let reply = reply_rx.await.unwrap_or(Reply::Closed);
        if matches!(reply, Reply::Closed) && !cold {
            // A warm environment that ended before its runtime fetched this invocation (reaped
            // or retired just before, or killed while frozen, which takes effect at the thaw):
            // the function never saw it, so another environment takes it.
            pool.forget(&env);
            return None;
        }
        env.log
            .platform_lines(version.logging.start(&req.request_id, &version.version));
        Some(
            self.finish(pool, &env, req, None, assigned_at, Outcome::Reply(reply))
                .await,
        )
    }

    async fn finish(
        &self,
        pool: &Arc<Pool>,
        env: &Arc<Environment>,
        req: &InvokeRequest,
        picked: Option<PickedUp>,
        assigned_at: Instant,
        outcome: Outcome,
    ) -> InvokeResult {
        let version = &pool.version;
        let started = picked.map(|p| p.at).unwrap_or(assigned_at);
        let ended = Instant::now();
        let id = &req.request_id;
        let streamed = matches!(outcome, Outcome::Streamed(_));
        let status = outcome.status();
        let (payload, function_error, mut lines) =
            self.outcome_document(outcome, env, version, id).await;
        let (duration_ms, billed_ms) = billed(ended.duration_since(started));
        let init_ms = init_ms(picked, env.initialised_ahead, env.started, ended);
        let report = Report {
            duration_ms,
            billed_ms,
            memory_mb: version.memory_mb,
            max_memory_mb: env.peak_memory_mb(),
            init_ms,
            setup_ms: init_ms.map(|_| millis(env.launched.saturating_duration_since(env.started))),
            prestarted: init_ms.map(|_| env.prestarted),
        };
        let extensions = env.session.extensions();
        let failed_extension = extensions
            .crashed()
            .map(|name| (name, "Extension.Crash".to_string()))
            .or_else(|| extensions.failure());
        if let Some((name, error_type)) = &failed_extension {
            // The environment is reset, as Lambda resets one whose extension failed.
            lines.push(format!(
                "RequestId: {id} Error: extension {name} failed: {error_type}"
            ));
        }
        lines.extend(version.logging.end(id, &report, function_error.is_some()));
        env.log.platform_lines(lines);
        platform_telemetry::report(env.session.telemetry(), id, status, &report);
        let log_tail = req.tail.then(|| env.log.tail(LOG_TAIL_BYTES));
        if failed_extension.is_none() && pool.release(env) {
            self.counters.idle_now();
        } else {
            env.kill();
        }
        InvokeResult {
            payload,
            function_error,
            log_tail,
            executed_version: version.version.clone(),
            report,
            streamed,
            trace: String::new(),
        }
    }

    /// What the caller gets for `outcome` (the payload or Lambda's error document, and the
    /// function error), and the platform's log lines that go before END.
    async fn outcome_document(
        &self,
        outcome: Outcome,
        env: &Environment,
        version: &FunctionVersion,
        id: &str,
    ) -> (Bytes, Option<&'static str>, Vec<String>) {
        let mut lines = Vec::new();
        let (payload, function_error) = match outcome {
            Outcome::Reply(Reply::Response(body)) => (body, None),
            Outcome::Streamed(StreamEnd::Complete) => (Bytes::new(), None),
            Outcome::Streamed(StreamEnd::Error { body, .. }) => (body, Some("Unhandled")),
            Outcome::Streamed(StreamEnd::TooLarge) => (
                error_doc(
                    "Function.ResponseSizeTooLarge",
                    &format!(
                        "Response payload size exceeded maximum allowed payload size ({STREAM_MAX_BYTES} bytes)."
                    ),
                ),
                Some("Unhandled"),
            ),
            Outcome::Streamed(StreamEnd::Broken) => {
                let message =
                    format!("RequestId: {id} Error: the runtime's response stream broke off");
                lines.push(message.clone());
                (
                    error_doc("Runtime.TruncatedResponse", &message),
                    Some("Unhandled"),
                )
            }
            // Only a stream's reader gets this; the runtime API never replies it.
            Outcome::Reply(Reply::Stream(_)) => (Bytes::new(), None),
            Outcome::Reply(Reply::Error { body, .. }) => (body, Some("Unhandled")),
            Outcome::Reply(Reply::InitError { body, .. }) => {
                env.kill();
                (body, Some("Unhandled"))
            }
            Outcome::Reply(Reply::ResponseTooLarge) => {
                let doc = error_doc(
                    "Function.ResponseSizeTooLarge",
                    &format!(
                        "Response payload size exceeded maximum allowed payload size ({} bytes).",
                        self.config.max_response_bytes
                    ),
                );
                (doc, Some("Unhandled"))
            }
            Outcome::Reply(Reply::Closed) => {
                let how = tokio::time::timeout(Duration::from_secs(2), env.exited())
                    .await
                    .unwrap_or_else(|_| "unknown".into());
                let message = format!("RequestId: {id} Error: Runtime exited with error: {how}");
                let error_type = if env.out_of_memory() {
                    "Runtime.OutOfMemory"
                } else {
                    "Runtime.ExitError"
                };
                lines.push(message.clone());
                lines.push(error_type.into());
                (error_doc(error_type, &message), Some("Unhandled"))
            }
            Outcome::Timeout => {
                let secs = version.timeout.as_secs_f64();
                lines.push(format!(
                    "{} {id} Task timed out after {secs:.2} seconds",
                    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ")
                ));
                let message =
                    format!("RequestId: {id} Error: Task timed out after {secs:.2} seconds");
                (error_doc("Sandbox.Timedout", &message), Some("Unhandled"))
            }
            Outcome::InitTimeout => {
                let secs = self.config.init_timeout.as_secs_f64();
                let message =
                    format!("RequestId: {id} Error: Init phase timed out after {secs:.2} seconds");
                lines.push(message.clone());
                (error_doc("Sandbox.Timedout", &message), Some("Unhandled"))
            }
        };
        (payload, function_error, lines)
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The REPORT line's Duration (hundredths of a millisecond) and Billed Duration: Lambda bills
/// the Duration it shows, rounded up to the next millisecond, and at least 1 ms, so both come
/// from one rounded figure.
fn billed(duration: Duration) -> (f64, u64) {
    let hundredths = (duration.as_secs_f64() * 100_000.0).round() as u64;
    (hundredths as f64 / 100.0, hundredths.div_ceil(100).max(1))
}

/// The REPORT line's Init Duration: only on an environment's first invocation, from the
/// start of its set-up to its runtime's first fetch; none for an environment initialised
/// ahead (provisioned); when the runtime never fetched (its init failed or timed out), how
/// long it ran.
fn init_ms(
    picked: Option<PickedUp>,
    initialised_ahead: bool,
    env_started: Instant,
    ended: Instant,
) -> Option<f64> {
    match picked {
        Some(p) if p.first_fetch && !initialised_ahead => {
            Some(millis(p.init_done.saturating_duration_since(env_started)))
        }
        Some(_) => None,
        None if initialised_ahead => None,
        None => Some(millis(ended.duration_since(env_started))),
    }
}

enum Outcome {
    Reply(Reply),
    Streamed(StreamEnd),
    Timeout,
    InitTimeout,
}

impl Outcome {
    /// How the Telemetry API's records word this end.
    fn status(&self) -> Status {
        let failure = |t| Status {
            status: "failure",
            error_type: Some(t),
        };
        match self {
            Outcome::Reply(Reply::Response(_) | Reply::Stream(_))
            | Outcome::Streamed(StreamEnd::Complete) => Status::SUCCESS,
            Outcome::Reply(Reply::Error { .. }) | Outcome::Streamed(StreamEnd::Error { .. }) => {
                Status {
                    status: "error",
                    error_type: Some("Unhandled"),
                }
            }
            Outcome::Timeout | Outcome::InitTimeout => Status {
                status: "timeout",
                error_type: Some("Sandbox.Timedout"),
            },
            Outcome::Reply(Reply::InitError { .. }) => failure("Runtime.InitError"),
            Outcome::Reply(Reply::ResponseTooLarge) | Outcome::Streamed(StreamEnd::TooLarge) => {
                failure("Function.ResponseSizeTooLarge")
            }
            Outcome::Streamed(StreamEnd::Broken) => failure("Runtime.TruncatedResponse"),
            Outcome::Reply(Reply::Closed) => failure("Runtime.ExitError"),
        }
    }
}

fn error_doc(error_type: &str, message: &str) -> Bytes {
    Bytes::from(serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string())
}

pub(crate) fn start_failure(
    version: &FunctionVersion,
    req: &InvokeRequest,
    error_type: &str,
    message: &str,
) -> InvokeResult {
    let message = format!("RequestId: {} Error: {message}", req.request_id);
    let tail = format!(
        "{}\n{message}\n{error_type}\n{}\n{}\n",
        logs::start_line(&req.request_id, &version.version),
        logs::end_line(&req.request_id),
        logs::report_line(&req.request_id, 0.0, 1, version.memory_mb, 0, None)
    );
    InvokeResult {
        payload: error_doc(error_type, &message),
        function_error: Some("Unhandled"),
        log_tail: req.tail.then_some(tail),
        executed_version: version.version.clone(),
        report: Report {
            duration_ms: 0.0,
            billed_ms: 1,
            memory_mb: version.memory_mb,
            max_memory_mb: 0,
            init_ms: None,
            setup_ms: None,
            prestarted: None,
        },
        streamed: false,
        trace: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billed_duration_is_the_shown_duration_rounded_up() {
        let cases = [
            (Duration::from_micros(0), 0.0, 1),
            (Duration::from_micros(4), 0.0, 1),
            (Duration::from_micros(1_000), 1.0, 1),
            (Duration::from_micros(1_001), 1.0, 1),
            (Duration::from_micros(1_005), 1.01, 2),
            (Duration::from_micros(1_234_567), 1234.57, 1235),
            (Duration::from_secs(900), 900_000.0, 900_000),
        ];
        for (took, shown, billed_ms) in cases {
            assert_eq!(billed(took), (shown, billed_ms), "{took:?}");
        }
    }

    #[test]
    fn init_duration_only_where_lambda_reports_one() {
        let started = Instant::now();
        let fetched = |first_fetch, init_ms: u64| PickedUp {
            at: started + Duration::from_millis(500),
            deadline: started + Duration::from_secs(3),
            first_fetch,
            init_done: started + Duration::from_millis(init_ms),
        };
        let ended = started + Duration::from_millis(700);
        // (picked, initialised ahead, expected Init Duration)
        let cases = [
            (Some(fetched(true, 120)), false, Some(120.0)),
            (Some(fetched(false, 120)), false, None),
            (Some(fetched(true, 120)), true, None),
            (None, true, None),
            (None, false, Some(700.0)),
        ];
        for (picked, ahead, expected) in cases {
            let got = init_ms(picked, ahead, started, ended).map(|ms| ms.round());
            assert_eq!(got, expected, "{picked:?} ahead={ahead}");
        }
    }
}
