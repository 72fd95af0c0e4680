//! The Extensions API (2020-01-01) of one environment: which extensions registered, for
//! which events, what each has still to fetch, and whether each is done with its last
//! event.
//!
//! Lambda's lifecycle, as this module keeps it:
//! - **Init**: every extension found in `/opt/extensions` registers and then calls
//!   `event/next`; the runtime's first `/next` is held until all have (so Init Duration
//!   includes extension init). Registration closes when the runtime gets past that point.
//! - **Invoke**: when the runtime fetches an invocation, every extension registered for
//!   `INVOKE` gets the event; the environment is free again only once each has called
//!   `event/next` again ([`Extensions::invoke_done`]).
//! - **Shutdown**: when the environment is retired, extensions registered for `SHUTDOWN` get
//!   the event and a deadline; the platform waits until each has called `event/next` again
//!   (or the deadline) before it stops the environment.
//!
//! An extension whose `event/next` connection is dropped while it waits has exited; one
//! that does so outside a shutdown crashed (`Extension.Crash`).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use tokio::sync::watch;

/// At most this many extensions per function, as Lambda allows.
pub const MAX_EXTENSIONS: usize = 10;

/// What `register` answers with about the function.
#[derive(Debug, Clone, Default)]
pub struct FunctionInfo {
    /// Function name.
    pub function_name: String,
    /// Version that runs.
    pub function_version: String,
    /// Configured handler.
    pub handler: String,
    /// The account id, for extensions that ask for it.
    pub account_id: String,
}

/// Why an Extensions API call was refused: the status and Lambda's error type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtRefusal {
    /// HTTP status.
    pub status: u16,
    /// Lambda's `errorType`.
    pub error_type: &'static str,
    /// Message.
    pub message: String,
}

impl ExtRefusal {
    fn new(status: u16, error_type: &'static str, message: impl Into<String>) -> ExtRefusal {
        ExtRefusal {
            status,
            error_type,
            message: message.into(),
        }
    }

    fn unknown_id() -> ExtRefusal {
        ExtRefusal::new(
            403,
            "Extension.UnknownExtensionIdentifier",
            "Unknown extension identifier",
        )
    }
}

#[derive(Debug)]
struct Ext {
    id: String,
    name: String,
    invoke: bool,
    shutdown: bool,
    /// Events not fetched yet.
    queue: VecDeque<Bytes>,
    /// Called `event/next` since it was last handed an event.
    done: bool,
    /// Called `event/next` at least once: its init is over.
    initialised: bool,
    /// Its `event/next` connection went away while it waited.
    exited: bool,
}

#[derive(Debug, Default)]
struct State {
    exts: Vec<Ext>,
    registration_closed: bool,
    shutting_down: bool,
    /// The first extension that failed: its name and Lambda's error type.
    failed: Option<(String, String)>,
    closed: bool,
}

impl State {
    fn find(&mut self, id: &str) -> Result<&mut Ext, ExtRefusal> {
        self.exts
            .iter_mut()
            .find(|e| e.id == id)
            .ok_or_else(ExtRefusal::unknown_id)
    }

    fn init_complete(&self, expected: usize) -> bool {
        self.failed.is_some()
            || self.closed
            || (self.exts.len() >= expected && self.exts.iter().all(|e| e.initialised || e.exited))
    }
}

/// The extensions of one environment.
#[derive(Debug)]
pub struct Extensions {
    /// Extension executables started with the environment: init waits for this many.
    expected: usize,
    info: FunctionInfo,
    /// Whether any extension ever registered: until one does, every question below is
    /// answered without the lock (the invoke path of a function without extensions).
    ever_registered: AtomicBool,
    // Held only for short, await-free sections; after the session's own lock, never before.
    state: Mutex<State>,
    /// Bumped at every change; waiters re-check their condition.
    changed: watch::Sender<u64>,
}

impl Default for Extensions {
    fn default() -> Self {
        Extensions::new(0, FunctionInfo::default())
    }
}

impl Extensions {
    /// Extensions of an environment that started `expected` extension executables.
    pub fn new(expected: usize, info: FunctionInfo) -> Extensions {
        Extensions {
            expected,
            info,
            ever_registered: AtomicBool::new(false),
            state: Mutex::new(State::default()),
            changed: watch::channel(0).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Waits until `done` holds over the state.
    async fn wait(&self, done: impl Fn(&State) -> bool) {
        let mut rx = self.changed.subscribe();
        loop {
            if done(&self.lock()) {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Whether any extension may take part in this environment (started or registered).
    pub fn any(&self) -> bool {
        self.expected > 0 || self.ever_registered.load(Ordering::Acquire)
    }

    /// `POST /extension/register`: `name` (the `Lambda-Extension-Name` header) and the
    /// events asked for. Returns the new identifier and the body to answer with.
    pub fn register(
        &self,
        name: Option<&str>,
        events: &[String],
        with_account: bool,
    ) -> Result<(String, Bytes), ExtRefusal> {
        let name = name.filter(|n| !n.is_empty()).ok_or_else(|| {
            ExtRefusal::new(
                403,
                "Extension.InvalidExtensionName",
                "Lambda-Extension-Name header is required",
            )
        })?;
        let mut invoke = false;
        let mut shutdown = false;
        for e in events {
            match e.as_str() {
                "INVOKE" => invoke = true,
                "SHUTDOWN" => shutdown = true,
                other => {
                    return Err(ExtRefusal::new(
                        403,
                        "Extension.InvalidEventType",
                        format!("Unknown event type: {other}"),
                    ));
                }
            }
        }
        let mut st = self.lock();
        if st.registration_closed || st.closed {
            return Err(ExtRefusal::new(
                403,
                "Extension.RegistrationClosed",
                "Extensions can register only during the init phase",
            ));
        }
        if st.exts.len() >= MAX_EXTENSIONS {
            return Err(ExtRefusal::new(
                403,
                "Extension.TooManyExtensions",
                format!("A function can have at most {MAX_EXTENSIONS} extensions"),
            ));
        }
        if st.exts.iter().any(|e| e.name == name) {
            return Err(ExtRefusal::new(
                403,
                "Extension.AlreadyRegistered",
                format!("An extension named {name} is registered already"),
            ));
        }
        let id = uuid::Uuid::new_v4().to_string();
        st.exts.push(Ext {
            id: id.clone(),
            name: name.to_string(),
            invoke,
            shutdown,
            queue: VecDeque::new(),
            done: true,
            initialised: false,
            exited: false,
        });
        self.ever_registered.store(true, Ordering::Release);
        drop(st);
        self.bump();
        let mut body = serde_json::json!({
            "functionName": self.info.function_name,
            "functionVersion": self.info.function_version,
            "handler": self.info.handler,
        });
        if with_account {
            body["accountId"] = self.info.account_id.clone().into();
        }
        Ok((id, Bytes::from(body.to_string())))
    }

    /// The name of a registered extension.
    pub fn name_of(&self, id: &str) -> Option<String> {
        self.lock()
            .exts
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.name.clone())
    }

    /// `GET /extension/event/next`: marks the extension done with its last event and waits
    /// for its next one. Returns `None` when the environment is going away.
    pub async fn next(&self, id: &str) -> Result<Option<Bytes>, ExtRefusal> {
        {
            let mut st = self.lock();
            let ext = st.find(id)?;
            ext.done = true;
            ext.initialised = true;
        }
        self.bump();
        // Dropped with the request (the extension's process or connection went away)
        // while it waits: it exited.
        let mut guard = ExitGuard {
            exts: self,
            id,
            armed: true,
        };
        let mut rx = self.changed.subscribe();
        loop {
            {
                let mut st = self.lock();
                if st.closed {
                    guard.armed = false;
                    return Ok(None);
                }
                let ext = st.find(id)?;
                if let Some(event) = ext.queue.pop_front() {
                    ext.done = false;
                    drop(st);
                    guard.armed = false;
                    self.bump();
                    return Ok(Some(event));
                }
            }
            if rx.changed().await.is_err() {
                guard.armed = false;
                return Ok(None);
            }
        }
    }

    /// `POST /extension/init/error` or `/extension/exit/error`: the extension failed.
    /// Returns the extension's name.
    pub fn failed(&self, id: &str, error_type: &str) -> Result<String, ExtRefusal> {
        let mut st = self.lock();
        let name = st.find(id)?.name.clone();
        st.failed
            .get_or_insert((name.clone(), error_type.to_string()));
        drop(st);
        self.bump();
        Ok(name)
    }

    /// The first failure reported: the extension's name and its error type.
    pub fn failure(&self) -> Option<(String, String)> {
        if !self.any() {
            return None;
        }
        self.lock().failed.clone()
    }

    /// Whether every extension started has registered and finished its init (or one
    /// failed, or the environment is closed).
    pub fn init_complete(&self) -> bool {
        !self.any() || self.lock().init_complete(self.expected)
    }

    /// Waits for [`init_complete`](Self::init_complete), then closes registration.
    pub async fn init(&self) {
        let expected = self.expected;
        self.wait(|st| st.init_complete(expected)).await;
        self.lock().registration_closed = true;
    }

    /// Every registered extension: its name and the events it asked for.
    pub fn registered(&self) -> Vec<(String, Vec<&'static str>)> {
        self.lock()
            .exts
            .iter()
            .map(|e| {
                let mut events = Vec::new();
                if e.invoke {
                    events.push("INVOKE");
                }
                if e.shutdown {
                    events.push("SHUTDOWN");
                }
                (e.name.clone(), events)
            })
            .collect()
    }

    /// Refuses registrations from now on (the runtime's init is over).
    pub fn close_registration(&self) {
        self.lock().registration_closed = true;
    }

    /// Hands the INVOKE event to every extension registered for it.
    pub fn invoke(&self, request_id: &str, deadline_ms: u64, arn: &str, trace: &str) {
        if !self.any() {
            return;
        }
        let mut st = self.lock();
        if !st.exts.iter().any(|e| e.invoke && !e.exited) {
            return;
        }
        let event = Bytes::from(
            serde_json::json!({
                "eventType": "INVOKE",
                "deadlineMs": deadline_ms,
                "requestId": request_id,
                "invokedFunctionArn": arn,
                "tracing": {"type": "X-Amzn-Trace-Id", "value": trace},
            })
            .to_string(),
        );
        for ext in st.exts.iter_mut().filter(|e| e.invoke && !e.exited) {
            ext.queue.push_back(event.clone());
            ext.done = false;
        }
        drop(st);
        self.bump();
    }

    /// Waits until every extension given the last INVOKE is done with it (or gone).
    pub async fn invoke_done(&self) {
        self.wait(invoke_finished).await
    }

    /// Whether every extension registered for INVOKE is done with the invocation now: the
    /// invoke path asks this before it waits (with a timer) for [`Self::invoke_done`], which
    /// an environment whose extensions take no INVOKE event never needs.
    pub fn invoke_is_done(&self) -> bool {
        !self.any() || invoke_finished(&self.lock())
    }

    /// Whether an extension registered for SHUTDOWN is still there.
    pub fn wants_shutdown(&self) -> bool {
        self.any() && self.lock().exts.iter().any(|e| e.shutdown && !e.exited)
    }

    /// Hands the SHUTDOWN event (`reason`: `spindown`, `timeout` or `failure`) to every
    /// extension registered for it.
    pub fn shutdown(&self, reason: &str, deadline_ms: u64) {
        let mut st = self.lock();
        st.shutting_down = true;
        let event = Bytes::from(
            serde_json::json!({
                "eventType": "SHUTDOWN",
                "shutdownReason": reason,
                "deadlineMs": deadline_ms,
            })
            .to_string(),
        );
        for ext in st.exts.iter_mut().filter(|e| e.shutdown && !e.exited) {
            ext.queue.push_back(event.clone());
            ext.done = false;
        }
        drop(st);
        self.bump();
    }

    /// Waits until every extension given SHUTDOWN is done with it or gone.
    pub async fn shutdown_done(&self) {
        self.wait(|st| {
            st.closed
                || st
                    .exts
                    .iter()
                    .all(|e| !e.shutdown || e.exited || (e.done && e.queue.is_empty()))
        })
        .await
    }

    /// The name of an extension that exited outside a shutdown, if one did.
    pub fn crashed(&self) -> Option<String> {
        if !self.any() {
            return None;
        }
        let st = self.lock();
        if st.shutting_down {
            return None;
        }
        st.exts.iter().find(|e| e.exited).map(|e| e.name.clone())
    }

    /// The environment is going away: every waiter returns.
    pub fn close(&self) {
        self.lock().closed = true;
        self.bump();
    }
}

struct ExitGuard<'a> {
    exts: &'a Extensions,
    id: &'a str,
    armed: bool,
}

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Ok(ext) = self.exts.lock().find(self.id) {
            ext.exited = true;
        }
        self.exts.bump();
    }
}

fn invoke_finished(st: &State) -> bool {
    st.closed
        || st
            .exts
            .iter()
            .all(|e| !e.invoke || e.exited || (e.done && e.queue.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn info() -> FunctionInfo {
        FunctionInfo {
            function_name: "f".into(),
            function_version: "$LATEST".into(),
            handler: "h".into(),
            account_id: "000000000000".into(),
        }
    }

    #[tokio::test]
    async fn init_waits_for_every_started_extension() {
        let x = Arc::new(Extensions::new(2, info()));
        assert!(!x.init_complete());
        let (a, body) = x
            .register(Some("a"), &["INVOKE".into(), "SHUTDOWN".into()], true)
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["functionName"], "f");
        assert_eq!(body["accountId"], "000000000000");
        let waiter = {
            let x = x.clone();
            tokio::spawn(async move { x.next(&a).await })
        };
        tokio::task::yield_now().await;
        assert!(!x.init_complete(), "b has not registered");
        let (b, _) = x.register(Some("b"), &["SHUTDOWN".into()], false).unwrap();
        let b_next = {
            let x = x.clone();
            let b = b.clone();
            tokio::spawn(async move { x.next(&b).await })
        };
        x.init().await;
        assert_eq!(
            x.register(Some("c"), &[], false).unwrap_err().error_type,
            "Extension.RegistrationClosed"
        );

        x.invoke("r1", 1, "arn", "Root=1-0-0");
        let event = waiter.await.unwrap().unwrap().unwrap();
        let event: serde_json::Value = serde_json::from_slice(&event).unwrap();
        assert_eq!(event["eventType"], "INVOKE");
        assert_eq!(event["requestId"], "r1");
        let done = {
            let x = x.clone();
            tokio::spawn(async move { x.invoke_done().await })
        };
        tokio::task::yield_now().await;
        assert!(!done.is_finished(), "a is still busy with the invoke");
        let a2 = {
            let x = x.clone();
            let a = x.lock().exts[0].id.clone();
            tokio::spawn(async move { x.next(&a).await })
        };
        done.await.unwrap();

        x.shutdown("spindown", 2);
        let event = b_next.await.unwrap().unwrap().unwrap();
        assert!(String::from_utf8_lossy(&event).contains("spindown"));
        let event = a2.await.unwrap().unwrap().unwrap();
        assert!(String::from_utf8_lossy(&event).contains("SHUTDOWN"));
        assert!(x.crashed().is_none());
    }

    #[tokio::test]
    async fn refusals_and_a_dropped_wait() {
        let x = Arc::new(Extensions::new(0, info()));
        assert_eq!(
            x.register(None, &[], false).unwrap_err().error_type,
            "Extension.InvalidExtensionName"
        );
        assert_eq!(
            x.register(Some("a"), &["BOGUS".into()], false)
                .unwrap_err()
                .error_type,
            "Extension.InvalidEventType"
        );
        assert_eq!(
            x.next("nope").await.unwrap_err().error_type,
            "Extension.UnknownExtensionIdentifier"
        );
        let (a, _) = x.register(Some("a"), &["INVOKE".into()], false).unwrap();
        assert_eq!(
            x.register(Some("a"), &[], false).unwrap_err().error_type,
            "Extension.AlreadyRegistered"
        );
        let waiting = {
            let x = x.clone();
            tokio::spawn(async move { x.next(&a).await })
        };
        tokio::task::yield_now().await;
        waiting.abort();
        let _ = waiting.await;
        assert_eq!(x.crashed().as_deref(), Some("a"));
        // A gone extension holds nothing up.
        x.invoke("r", 1, "arn", "t");
        x.invoke_done().await;
    }
}
