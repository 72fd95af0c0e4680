//! The protocol state of one environment and the hand-off of invocations to it.
//!
//! The executor [`assign`](Session::assign)s an [`Invocation`], which carries two one-shot
//! channels: one fires when the runtime fetches it (`/next`), the other carries the
//! [`Reply`]. The HTTP handlers only ever move the state forward.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::{Notify, oneshot, watch};

use crate::extensions::Extensions;
use crate::telemetry::Telemetry;

/// One invocation handed to an environment.
#[derive(Debug)]
pub struct Invocation {
    /// Request id, a UUID.
    pub request_id: String,
    /// Event payload.
    pub payload: Bytes,
    /// Function timeout; the deadline is counted from the moment the runtime fetches it.
    pub timeout: Duration,
    /// ARN the caller invoked (qualified or not).
    pub invoked_function_arn: String,
    /// X-Ray style trace header.
    pub trace_id: String,
    /// Decoded client context JSON, for synchronous invocations that sent one.
    pub client_context: Option<String>,
    /// Fires when the runtime fetches the invocation.
    pub picked_up: oneshot::Sender<PickedUp>,
    /// Carries the outcome.
    pub reply: oneshot::Sender<Reply>,
    /// Runs synchronously when the runtime fetches the invocation, before the event is
    /// returned to it: whatever it writes is ordered before anything the handler writes.
    pub on_pickup: Option<PickupHook>,
}

/// A callback run at the moment an invocation is fetched.
pub struct PickupHook(pub Box<dyn FnOnce() + Send>);

impl std::fmt::Debug for PickupHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PickupHook")
    }
}

/// When and with which deadline the runtime fetched an invocation.
#[derive(Debug, Clone, Copy)]
pub struct PickedUp {
    /// Monotonic time of the fetch.
    pub at: Instant,
    /// Monotonic deadline (fetch + timeout).
    pub deadline: Instant,
    /// Whether this is the environment's first invocation (it ends the init phase).
    pub first_fetch: bool,
    /// When the runtime first asked for an invocation: the end of its init phase. It may
    /// come before the invocation was assigned.
    pub init_done: Instant,
}

/// The outcome of an invocation, as the runtime reported it.
#[derive(Debug)]
pub enum Reply {
    /// `POST /runtime/invocation/{id}/response`.
    Response(Bytes),
    /// `POST /runtime/invocation/{id}/error`.
    Error {
        /// `errorType` of the body, or the `Lambda-Runtime-Function-Error-Type` header.
        error_type: String,
        /// The error document to return to the caller.
        body: Bytes,
    },
    /// `POST /runtime/init/error` before the invocation was fetched.
    InitError {
        /// Error type.
        error_type: String,
        /// The error document.
        body: Bytes,
    },
    /// `POST /runtime/invocation/{id}/response` in streaming mode: the body follows.
    Stream(crate::streaming::ResponseStream),
    /// The response was larger than the Runtime API accepts.
    ResponseTooLarge,
    /// The environment went away (exit, kill) before replying.
    Closed,
}

#[derive(Debug)]
enum Phase {
    /// Started, no `/next` yet.
    Init,
    /// Between invocations.
    Waiting,
    /// Assigned, not yet fetched.
    Assigned(Invocation),
    /// Fetched, not yet answered.
    Running {
        request_id: String,
        reply: oneshot::Sender<Reply>,
    },
    /// The runtime reported an init error before any invocation was assigned (a runtime
    /// started ahead of time can fail within a millisecond of getting its code): the first
    /// invocation assigned receives it. Closed otherwise.
    InitFailed { error_type: String, body: Bytes },
    /// Closed for good.
    Closed,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// The runtime has called `/next` at least once, at this time.
    initialized: Option<Instant>,
    /// An invocation has been handed over already.
    delivered: bool,
}

/// Why the Runtime API refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 400 `InvalidRequestID`: not the running invocation (unknown, or already answered).
    InvalidRequestId,
    /// 403 `InvalidStateTransition`: the call is not allowed in the current phase.
    InvalidStateTransition,
    /// 500: the environment is being torn down; the runtime should exit.
    Closed,
}

/// Protocol state of one environment.
#[derive(Debug)]
pub struct Session {
    // Held only for short, await-free transitions.
    state: Mutex<State>,
    wake: Notify,
    closed: watch::Sender<bool>,
    /// How the init phase ended: `Some(true)` at the first `/next`, `Some(false)` on an init
    /// error or a close before it.
    init_end: watch::Sender<Option<bool>>,
    /// The environment's extensions (Extensions API).
    extensions: Extensions,
    /// Its telemetry subscriptions (Telemetry API).
    telemetry: Arc<Telemetry>,
}

impl Default for Session {
    fn default() -> Self {
        Session {
            state: Mutex::new(State {
                phase: Phase::Init,
                initialized: None,
                delivered: false,
            }),
            wake: Notify::new(),
            closed: watch::channel(false).0,
            init_end: watch::channel(None).0,
            extensions: Extensions::default(),
            telemetry: Arc::default(),
        }
    }
}

impl Session {
    /// A session in its init phase.
    pub fn new() -> Session {
        Session::default()
    }

    /// A session whose environment started extensions: its runtime's first invocation waits
    /// for their init.
    pub fn with_extensions(extensions: Extensions) -> Session {
        Session {
            extensions,
            ..Session::default()
        }
    }

    /// The environment's extensions.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// The environment's telemetry subscriptions.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// The environment's telemetry subscriptions, to publish from elsewhere (its output).
    pub fn telemetry_handle(&self) -> Arc<Telemetry> {
        self.telemetry.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands an invocation to the environment. Gives it back if the environment is closed or
    /// already has one. The first invocation of an environment whose runtime failed its init
    /// or exited before any invocation reached it is taken and answered at once with that
    /// end ([`Reply::InitError`] or [`Reply::Closed`]), as it would have been a moment later.
    pub fn assign(&self, invocation: Invocation) -> Result<(), Box<Invocation>> {
        let mut st = self.lock();
        match st.phase {
            Phase::Init | Phase::Waiting => {
                st.phase = Phase::Assigned(invocation);
                drop(st);
                self.wake.notify_one();
                Ok(())
            }
            Phase::InitFailed { .. } | Phase::Closed if !st.delivered => {
                st.delivered = true;
                let reply = match std::mem::replace(&mut st.phase, Phase::Closed) {
                    Phase::InitFailed { error_type, body } => Reply::InitError { error_type, body },
                    _ => Reply::Closed,
                };
                drop(st);
                let _ = invocation.reply.send(reply);
                Ok(())
            }
            _ => Err(Box::new(invocation)),
        }
    }

    /// Closes the session: any assigned or running invocation gets [`Reply::Closed`], every
    /// waiting `/next` returns, and all later calls are refused.
    pub fn close(&self) {
        let mut st = self.lock();
        let old = std::mem::replace(&mut st.phase, Phase::Closed);
        match old {
            failed @ Phase::InitFailed { .. } => st.phase = failed,
            Phase::Assigned(inv) => {
                let _ = inv.reply.send(Reply::Closed);
            }
            Phase::Running { reply, .. } => {
                let _ = reply.send(Reply::Closed);
            }
            _ => {}
        }
        drop(st);
        self.extensions.close();
        self.telemetry.close();
        self.end_init(false);
        self.closed.send_replace(true);
        self.wake.notify_waiters();
        self.wake.notify_one();
    }

    /// Whether [`close`](Session::close) was called.
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Waits for the end of the init phase: true once the runtime asked for its first
    /// invocation, false if it reported an init error or the session closed first.
    pub async fn initialized(&self) -> bool {
        let mut rx = self.init_end.subscribe();
        rx.wait_for(Option::is_some)
            .await
            .map(|end| end.unwrap_or(false))
            .unwrap_or(false)
    }

    /// Whether the runtime has asked for its first invocation.
    pub fn is_initialized(&self) -> bool {
        *self.init_end.borrow() == Some(true)
    }

    fn end_init(&self, ok: bool) {
        self.init_end.send_if_modified(|end| {
            let first = end.is_none();
            if first {
                *end = Some(ok);
            }
            first
        });
    }

    /// Resolves once the session is closed.
    pub async fn closed(&self) {
        let mut rx = self.closed.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }

    /// `GET /runtime/invocation/next`: waits for an assigned invocation and moves it to
    /// running. Returns the invocation's data and its epoch-millisecond deadline.
    pub async fn next(&self) -> Result<(NextEvent, u64), Refusal> {
        if !self.extensions.init_complete() {
            // Lambda's init phase: the runtime's first invocation waits for every extension
            // to register and finish its own init.
            tokio::select! {
                _ = self.extensions.init() => {}
                _ = self.closed() => return Err(Refusal::Closed),
            }
        }
        if !self.is_initialized() {
            self.extensions.close_registration();
        }
        loop {
            {
                let mut st = self.lock();
                match std::mem::replace(&mut st.phase, Phase::Waiting) {
                    Phase::Assigned(inv) => {
                        let at = Instant::now();
                        let init_done = *st.initialized.get_or_insert(at);
                        let first_fetch = !st.delivered;
                        st.delivered = true;
                        self.end_init(true);
                        let deadline = at + inv.timeout;
                        let deadline_ms = epoch_ms(SystemTime::now() + inv.timeout);
                        st.phase = Phase::Running {
                            request_id: inv.request_id.clone(),
                            reply: inv.reply,
                        };
                        drop(st);
                        if let Some(hook) = inv.on_pickup {
                            (hook.0)();
                        }
                        let _ = inv.picked_up.send(PickedUp {
                            at,
                            deadline,
                            first_fetch,
                            init_done,
                        });
                        self.extensions.invoke(
                            &inv.request_id,
                            deadline_ms,
                            &inv.invoked_function_arn,
                            &inv.trace_id,
                        );
                        let event = NextEvent {
                            request_id: inv.request_id,
                            payload: inv.payload,
                            invoked_function_arn: inv.invoked_function_arn,
                            trace_id: inv.trace_id,
                            client_context: inv.client_context,
                        };
                        return Ok((event, deadline_ms));
                    }
                    ended @ (Phase::Closed | Phase::InitFailed { .. }) => {
                        st.phase = ended;
                        return Err(Refusal::Closed);
                    }
                    running @ Phase::Running { .. } => {
                        // A second /next while an invocation is unanswered: the runtime has
                        // lost track; refuse rather than silently drop the running one.
                        st.phase = running;
                        return Err(Refusal::InvalidStateTransition);
                    }
                    Phase::Init | Phase::Waiting => {
                        st.initialized.get_or_insert_with(Instant::now);
                        drop(st);
                        self.end_init(true);
                    }
                }
            }
            self.wake.notified().await;
        }
    }

    /// `POST /runtime/invocation/{id}/response` or `/error`: completes the running
    /// invocation if `request_id` is the one running.
    pub fn complete(&self, request_id: &str, reply: Reply) -> Result<(), Refusal> {
        let mut st = self.lock();
        match &st.phase {
            Phase::Running {
                request_id: running,
                ..
            } if running == request_id => {
                let Phase::Running { reply: tx, .. } =
                    std::mem::replace(&mut st.phase, Phase::Waiting)
                else {
                    unreachable!("phase checked above")
                };
                drop(st);
                let _ = tx.send(reply);
                Ok(())
            }
            Phase::Closed | Phase::InitFailed { .. } => Err(Refusal::Closed),
            _ => Err(Refusal::InvalidRequestId),
        }
    }

    /// `POST /runtime/init/error`: allowed only before the first `/next` returned. An
    /// invocation already assigned receives the error as its reply.
    pub fn init_error(&self, error_type: String, body: Bytes) -> Result<(), Refusal> {
        let mut st = self.lock();
        if st.initialized.is_some() {
            return Err(Refusal::InvalidStateTransition);
        }
        self.end_init(false);
        match std::mem::replace(&mut st.phase, Phase::Closed) {
            Phase::Assigned(inv) => {
                drop(st);
                let _ = inv.reply.send(Reply::InitError { error_type, body });
            }
            Phase::Init => st.phase = Phase::InitFailed { error_type, body },
            ended @ (Phase::Closed | Phase::InitFailed { .. }) => {
                st.phase = ended;
                return Err(Refusal::Closed);
            }
            _ => {}
        }
        Ok(())
    }
}

/// What `/next` returns to the runtime.
#[derive(Debug)]
pub struct NextEvent {
    /// Request id.
    pub request_id: String,
    /// Event payload.
    pub payload: Bytes,
    /// Invoked ARN.
    pub invoked_function_arn: String,
    /// Trace header.
    pub trace_id: String,
    /// Client context JSON.
    pub client_context: Option<String>,
}

fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(
        id: &str,
    ) -> (
        Invocation,
        oneshot::Receiver<PickedUp>,
        oneshot::Receiver<Reply>,
    ) {
        let (ptx, prx) = oneshot::channel();
        let (rtx, rrx) = oneshot::channel();
        let inv = Invocation {
            request_id: id.into(),
            payload: Bytes::from_static(b"{}"),
            timeout: Duration::from_secs(3),
            invoked_function_arn: "arn".into(),
            trace_id: "t".into(),
            client_context: None,
            picked_up: ptx,
            reply: rtx,
            on_pickup: None,
        };
        (inv, prx, rrx)
    }

    #[tokio::test]
    async fn assign_next_respond() {
        let s = Session::new();
        let (inv, prx, rrx) = invocation("a");
        s.assign(inv).unwrap();
        let (ev, deadline) = s.next().await.unwrap();
        assert_eq!(ev.request_id, "a");
        assert!(deadline > 0);
        assert!(prx.await.unwrap().first_fetch);
        assert_eq!(
            s.complete("b", Reply::Response(Bytes::new())),
            Err(Refusal::InvalidRequestId)
        );
        s.complete("a", Reply::Response(Bytes::from_static(b"1")))
            .unwrap();
        assert!(matches!(rrx.await.unwrap(), Reply::Response(b) if &b[..] == b"1"));
        assert_eq!(
            s.complete("a", Reply::Response(Bytes::new())),
            Err(Refusal::InvalidRequestId)
        );
        assert_eq!(
            s.init_error("x".into(), Bytes::new()),
            Err(Refusal::InvalidStateTransition)
        );
    }

    #[tokio::test]
    async fn pickup_hook_runs_before_the_event_is_returned() {
        let s = Session::new();
        let (mut inv, _prx, _rrx) = invocation("a");
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        inv.on_pickup = Some(PickupHook(Box::new(move || {
            flag.store(true, std::sync::atomic::Ordering::SeqCst)
        })));
        s.assign(inv).unwrap();
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
        s.next().await.unwrap();
        assert!(ran.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn init_error_goes_to_the_assigned_invocation() {
        let s = Session::new();
        let (inv, _prx, rrx) = invocation("a");
        s.assign(inv).unwrap();
        s.init_error(
            "Runtime.ImportModuleError".into(),
            Bytes::from_static(b"{}"),
        )
        .unwrap();
        assert!(matches!(rrx.await.unwrap(), Reply::InitError { .. }));
        assert_eq!(s.next().await.unwrap_err(), Refusal::Closed);
    }

    #[tokio::test]
    async fn close_fails_the_running_invocation_and_wakes_next() {
        let s = std::sync::Arc::new(Session::new());
        let waiter = {
            let s = s.clone();
            tokio::spawn(async move { s.next().await.map(|_| ()) })
        };
        tokio::task::yield_now().await;
        s.close();
        assert_eq!(waiter.await.unwrap(), Err(Refusal::Closed));
        // The environment ended before its first invocation reached it: that invocation
        // learns so; later ones are given back, to be run elsewhere.
        let (inv, _p, r) = invocation("z");
        s.assign(inv).unwrap();
        assert!(matches!(r.await.unwrap(), Reply::Closed));
        let (inv, _p, _r) = invocation("y");
        assert!(s.assign(inv).is_err());
    }

    #[tokio::test]
    async fn init_error_before_any_invocation_waits_for_the_first() {
        let s = Session::new();
        s.init_error(
            "Runtime.ImportModuleError".into(),
            Bytes::from_static(b"{}"),
        )
        .unwrap();
        // The runtime exits right after; the error outlives the close.
        s.close();
        assert_eq!(s.next().await.unwrap_err(), Refusal::Closed);
        let (inv, _p, r) = invocation("a");
        s.assign(inv).unwrap();
        assert!(
            matches!(r.await.unwrap(), Reply::InitError { error_type, .. } if error_type == "Runtime.ImportModuleError")
        );
        let (inv, _p, _r) = invocation("b");
        assert!(s.assign(inv).is_err());
    }
}
