//! The floor the warm path is judged against: a minimal Invoke-to-Runtime-API relay with no
//! sandbox, no store, no accounting and no logs, run as its own process (this binary,
//! started with [`RELAY_ENV`]) with copies of the native echo runtime as plain children.
//! An Invoke goes to the runtime that asked for work last (as a warm pool hands out its most
//! recently used environment) or waits until one asks; the runtime's response is the
//! Invoke's answer. What Lamina costs above this is what its
//! isolation, routing and bookkeeping cost.
//!
//! Run with [`Runner::Node`], its runtimes are instead copies of the least a Node.js runtime
//! can do (`node_loop.js`: the Runtime API loop with Node's own HTTP client and the echo
//! inlined), the baseline Lamina's Node.js runtime is judged against.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::http::summary;

/// Set (to the number of runtimes, then `:node` for [`Runner::Node`]) when this binary is
/// started as the relay.
pub const RELAY_ENV: &str = "LAMINA_BENCH_RELAY";

/// The minimal Node.js runtime loop, run with `node -e`.
const NODE_LOOP: &str = include_str!("node_loop.js");

/// What the relay's runtimes are.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Runner {
    /// The native echo runtime (this binary as a `bootstrap`).
    Native,
    /// The minimal Node.js runtime loop ([`NODE_LOOP`]).
    Node,
}

/// How long an Invoke may wait for its answer before the relay gives up on it.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The function name the relay answers to (any name is accepted).
const FUNCTION: &str = "relay-echo";

/// Whether this binary was started as the relay: the number of runtimes to run, and which.
pub fn invoked_as_relay() -> Option<(usize, Runner)> {
    let value = std::env::var(RELAY_ENV).ok()?;
    match value.strip_suffix(":node") {
        Some(n) => Some((n.parse().ok()?, Runner::Node)),
        None => Some((value.parse().ok()?, Runner::Native)),
    }
}

struct Job {
    payload: Bytes,
    reply: oneshot::Sender<Bytes>,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    /// Runtimes waiting in `/next`, the most recent last.
    idle: Vec<oneshot::Sender<Job>>,
    running: HashMap<u64, oneshot::Sender<Bytes>>,
    next_id: u64,
}

#[derive(Default)]
struct Hub(Mutex<State>);

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn submit(&self, mut job: Job) {
        let mut st = self.lock();
        while let Some(runtime) = st.idle.pop() {
            match runtime.send(job) {
                Ok(()) => return,
                // That runtime's connection went away while it waited.
                Err(back) => job = back,
            }
        }
        st.jobs.push_back(job);
    }

    async fn next(&self) -> Option<(u64, Bytes)> {
        let waiting = {
            let mut st = self.lock();
            match st.jobs.pop_front() {
                Some(job) => Ok(job),
                None => {
                    let (tx, rx) = oneshot::channel();
                    st.idle.push(tx);
                    Err(rx)
                }
            }
        };
        let job = match waiting {
            Ok(job) => job,
            Err(rx) => rx.await.ok()?,
        };
        let mut st = self.lock();
        st.next_id += 1;
        let id = st.next_id;
        st.running.insert(id, job.reply);
        Some((id, job.payload))
    }

    fn respond(&self, id: u64, body: Bytes) -> bool {
        match self.lock().running.remove(&id) {
            Some(reply) => reply.send(body).is_ok(),
            None => false,
        }
    }
}

type Answer = Response<Full<Bytes>>;

fn answer(status: StatusCode, body: Bytes) -> Answer {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp
}

async fn invoke(hub: Arc<Hub>, req: Request<Incoming>) -> Answer {
    let Ok(body) = req.into_body().collect().await else {
        return answer(StatusCode::BAD_REQUEST, Bytes::new());
    };
    let (reply, answered) = oneshot::channel();
    hub.submit(Job {
        payload: body.to_bytes(),
        reply,
    });
    match tokio::time::timeout(INVOKE_TIMEOUT, answered).await {
        Ok(Ok(body)) => answer(StatusCode::OK, body),
        _ => answer(StatusCode::GATEWAY_TIMEOUT, Bytes::new()),
    }
}

async fn runtime_api(hub: Arc<Hub>, req: Request<Incoming>) -> Answer {
    let path = req.uri().path().to_string();
    if path == "/2018-06-01/runtime/invocation/next" {
        let Some((id, payload)) = hub.next().await else {
            return answer(StatusCode::GONE, Bytes::new());
        };
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            + INVOKE_TIMEOUT;
        let mut resp = answer(StatusCode::OK, payload);
        let headers = resp.headers_mut();
        headers.insert("lambda-runtime-aws-request-id", id.into());
        headers.insert(
            "lambda-runtime-deadline-ms",
            (deadline.as_millis() as u64).into(),
        );
        return resp;
    }
    let id = path
        .strip_prefix("/2018-06-01/runtime/invocation/")
        .and_then(|rest| rest.strip_suffix("/response"))
        .and_then(|id| id.parse().ok());
    let (Some(id), Ok(body)) = (id, req.into_body().collect().await) else {
        return answer(StatusCode::BAD_REQUEST, Bytes::new());
    };
    if hub.respond(id, body.to_bytes()) {
        answer(StatusCode::ACCEPTED, Bytes::new())
    } else {
        answer(StatusCode::BAD_REQUEST, Bytes::new())
    }
}

async fn serve<F, Fut>(listener: tokio::net::TcpListener, hub: Arc<Hub>, handle: F)
where
    F: Fn(Arc<Hub>, Request<Incoming>) -> Fut + Copy + Send + Sync + 'static,
    Fut: std::future::Future<Output = Answer> + Send + 'static,
{
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let hub = hub.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let hub = hub.clone();
                async move { Ok::<_, Infallible>(handle(hub, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The relay process: serves Invoke and the Runtime API, runs `runtimes` echo runtimes,
/// prints its Invoke address, and ends when its standard input closes.
pub fn run(runtimes: usize, runner: Runner) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let hub = Arc::new(Hub::default());
        let invokes = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api_addr = api.local_addr()?;
        println!("{}", invokes.local_addr()?);
        tokio::spawn(serve(invokes, hub.clone(), invoke));
        tokio::spawn(serve(api, hub, runtime_api));
        let me = std::env::current_exe()?;
        let mut children = Vec::new();
        for _ in 0..runtimes {
            let mut runtime = match runner {
                Runner::Native => {
                    let mut c = Command::new(&me);
                    c.arg0("bootstrap");
                    c
                }
                Runner::Node => {
                    let mut c = Command::new("node");
                    c.arg("-e").arg(NODE_LOOP);
                    c
                }
            };
            children.push(
                runtime
                    .env_remove(RELAY_ENV)
                    .env("AWS_LAMBDA_RUNTIME_API", api_addr.to_string())
                    .stdin(Stdio::null())
                    .spawn()
                    .with_context(|| format!("starting a {runner:?} runtime"))?,
            );
        }
        // Ends when the bench closes the pipe (or goes away).
        let _ = tokio::task::spawn_blocking(|| {
            std::io::copy(&mut std::io::stdin(), &mut std::io::sink())
        })
        .await;
        for mut child in children {
            let _ = child.kill();
            let _ = child.wait();
        }
        anyhow::Ok(())
    })
}

/// The relay, started by the bench; stopped when dropped.
struct Relay {
    child: Child,
}

impl Drop for Relay {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn start(runtimes: usize, runner: Runner) -> anyhow::Result<(Relay, SocketAddr)> {
    let value = match runner {
        Runner::Native => runtimes.to_string(),
        Runner::Node => format!("{runtimes}:node"),
    };
    let mut child = Command::new(std::env::current_exe()?)
        .env(RELAY_ENV, value)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the relay")?;
    let stdout = child.stdout.take().context("the relay's output")?;
    let relay = Relay { child };
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let addr = line.trim().parse().context("the relay's address")?;
    Ok((relay, addr))
}

/// The relay's warm p50 (sequential invocations, as the warm scenario makes them), `paused`
/// invocations each after `pause` of idleness (what a pause costs on this machine with no
/// freezing at all), and its throughput at `clients` clients for `seconds`, with `runner`'s
/// echo.
pub async fn measure(
    runner: Runner,
    warm: usize,
    (paused, pause): (usize, Duration),
    seconds: f64,
    clients: usize,
) -> anyhow::Result<Value> {
    let (relay, addr) = start(clients, runner)?;
    let pid = relay.child.id();
    let samples = crate::probe::warm(addr, FUNCTION, warm).await?;
    let after_pause = crate::probe::paused(addr, FUNCTION, (paused, pause)).await?;
    let cpu_before = crate::procfs::tree_cpu_ms(pid);
    let started = Instant::now();
    let (per_second, p99_us) = crate::cluster::rate(&[addr], FUNCTION, clients, seconds).await?;
    let invocations = per_second * started.elapsed().as_secs_f64();
    let cpu = crate::procfs::tree_cpu_ms(pid) - cpu_before;
    drop(relay);
    Ok(json!({
        "warm": summary(samples),
        "paused": summary(after_pause),
        "pause_ms": pause.as_millis() as u64,
        "throughput": {
            "clients": clients,
            "per_second": per_second,
            "p99_us": p99_us,
            "cpu_ms_per_1000": cpu * 1000.0 / invocations.max(1.0),
        },
    }))
}
