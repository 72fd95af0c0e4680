//! [`ScriptedLauncher`]: a [`Launcher`] whose environments' runtimes run inside the test
//! process. Each environment is a real child process (a `sleep`, so that the executor's
//! exit watching, killing and accounting work as for any environment) and a task that talks
//! to the environment's real Runtime API listener: it fetches invocations and answers each
//! as the [`Script`] of the function's handler says.

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use lamina_executor::launcher::{
    EnvironmentControls, LaunchError, LaunchSpec, Launched, Prestarted,
};
use lamina_executor::{Launcher, Layout};

/// What a scripted runtime does with one event.
#[derive(Debug, Clone)]
pub enum Script {
    /// Answers with these bytes.
    Answer(Bytes),
    /// Answers the event itself.
    Echo,
    /// Reports a function error of this type and message.
    Fail(String, String),
    /// Waits, then does the rest.
    Wait(Duration, Box<Script>),
    /// Its process exits without answering.
    Exit,
}

type Handler = Arc<dyn Fn(&Bytes) -> Script + Send + Sync>;

/// Starts scripted environments. Cheap to clone; clones share their handlers and counts.
#[derive(Clone, Default)]
pub struct ScriptedLauncher {
    handlers: Arc<Mutex<HashMap<String, Handler>>>,
    launches: Arc<AtomicUsize>,
}

impl std::fmt::Debug for ScriptedLauncher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedLauncher")
            .field("launches", &self.launches())
            .finish()
    }
}

impl ScriptedLauncher {
    /// A launcher with no handler: every handler echoes until one is set.
    pub fn new() -> ScriptedLauncher {
        ScriptedLauncher::default()
    }

    /// Functions whose handler is `handler` run `script` on each event.
    pub fn on(&self, handler: &str, script: impl Fn(&Bytes) -> Script + Send + Sync + 'static) {
        self.handlers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(handler.to_string(), Arc::new(script));
    }

    /// Environments launched so far.
    pub fn launches(&self) -> usize {
        self.launches.load(Ordering::SeqCst)
    }

    fn handler(&self, name: &str) -> Handler {
        self.handlers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
            .unwrap_or_else(|| Arc::new(|_| Script::Echo))
    }
}

impl Launcher for ScriptedLauncher {
    fn launch(&self, spec: &LaunchSpec) -> Result<Launched, LaunchError> {
        let setup = LaunchError::Setup;
        let listener = TcpListener::bind("127.0.0.1:0").map_err(setup)?;
        listener.set_nonblocking(true).map_err(setup)?;
        let api = listener.local_addr().map_err(setup)?;
        let (read, write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| setup(e.into()))?;
        let runtime = tokio::runtime::Handle::current();
        let _entered = runtime.enter();
        let child = tokio::process::Command::new("sleep")
            .arg("3600")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(setup)?;
        let handler_name = spec
            .env
            .iter()
            .find(|(k, _)| k == "_HANDLER")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let handler = self.handler(&handler_name);
        let pid = child.id().unwrap_or(0);
        let task = runtime.spawn(run_runtime(api.to_string(), handler, write, pid));
        self.launches.fetch_add(1, Ordering::SeqCst);
        Ok(Launched {
            runtime_api: listener,
            child: child.into(),
            output: read,
            egress: None,
            controls: Box::new(Controls {
                pid,
                task: Mutex::new(Some(task)),
            }),
            prestarted: Prestarted::Nothing,
        })
    }

    fn layout(&self, host: &Layout) -> Layout {
        host.clone()
    }

    fn describe(&self) -> String {
        "scripted: runtimes are tasks of the test".into()
    }

    fn prepare_package(&self, _task_dir: &Path) {}
}

/// The runtime's loop: fetch, run the script, answer; until the API goes away.
async fn run_runtime(api: String, handler: Handler, log: OwnedFd, pid: u32) {
    let mut log = std::fs::File::from(log);
    let http = reqwest::Client::new();
    let base = format!("http://{api}/2018-06-01/runtime/invocation");
    loop {
        let Ok(next) = http.get(format!("{base}/next")).send().await else {
            return;
        };
        let id = next
            .headers()
            .get("lambda-runtime-aws-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let Ok(event) = next.bytes().await else {
            return;
        };
        let _ = writeln!(log, "scripted runtime: event {id}");
        let mut script = handler(&event);
        loop {
            match script {
                Script::Wait(d, then) => {
                    tokio::time::sleep(d).await;
                    script = *then;
                }
                Script::Exit => {
                    if pid > 0 {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid as i32),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                    return;
                }
                Script::Echo => {
                    script = Script::Answer(event.clone());
                }
                Script::Answer(body) => {
                    let _ = http
                        .post(format!("{base}/{id}/response"))
                        .body(body)
                        .send()
                        .await;
                    break;
                }
                Script::Fail(error_type, message) => {
                    let doc = serde_json::json!({"errorType": error_type, "errorMessage": message});
                    let _ = http
                        .post(format!("{base}/{id}/error"))
                        .header("Lambda-Runtime-Function-Error-Type", error_type)
                        .body(doc.to_string())
                        .send()
                        .await;
                    break;
                }
            }
        }
    }
}

/// Kills a scripted environment: its process and its runtime task.
#[derive(Debug)]
struct Controls {
    pid: u32,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl EnvironmentControls for Controls {
    fn kill(&self) {
        if self.pid > 0 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if let Some(task) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
    }

    fn peak_memory_bytes(&self) -> Option<u64> {
        None
    }
}
