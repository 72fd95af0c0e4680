//! Runtimes forked from a zygote (`serve --zygotes`, on by default): a Python interpreter or
//! a Node.js process with Lamina's bootstrap loaded forks each runtime into its sandbox. These
//! tests check, for both, that forked runtimes of two functions share no writable memory with
//! each other or with the zygote, see their own variables, `/tmp`, random numbers and
//! privileges and hold no descriptor of the host's, end the way started runtimes end, and
//! that a burst of cold starts is served by forks.
//!
//! They need root (the sandbox needs it), as the other sandbox tests do.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Server, zip};
use serde_json::{Value, json};

/// A managed runtime whose runtimes are forked, with a handler that reports what it sees.
struct Runtime {
    id: &'static str,
    file: &'static str,
    probe: &'static str,
    /// The zygote's script, as its command line names it.
    zygote: &'static str,
    /// The bootstrap as the sandbox shows it.
    bootstrap: &'static str,
    /// Code whose loading ends the process with status 3.
    exits_at_init: &'static str,
    /// A handler that kills its own process when the event says `die`, and returns 1.
    killable: &'static str,
    /// A handler that, when the event says `die`, throws from a timer while the invocation
    /// waits (an uncaught exception, which ends the process with status 1); else returns 1.
    throws_later: Option<&'static str>,
}

const PYTHON: Runtime = Runtime {
    id: "python3.11",
    file: "app.py",
    probe: r#"
import os, random, sys

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()

def descriptors():
    out = []
    for fd in sorted(os.listdir("/proc/self/fd"), key=int):
        try:
            out.append(os.readlink("/proc/self/fd/" + fd))
        except OSError:
            pass
    return out

def handler(event, context):
    mine = "/tmp/" + os.environ["SECRET"]
    open(mine, "w").write("x")
    return {
        "secret": os.environ["SECRET"],
        "name": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
        "stream": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"],
        "tmp": sorted(os.listdir("/tmp")),
        "random": random.random(),
        "urandom": os.urandom(8).hex(),
        "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
        "cap_eff": status("CapEff"), "cap_bnd": status("CapBnd"), "cap_prm": status("CapPrm"),
        "no_new_privs": status("NoNewPrivs"), "seccomp": status("Seccomp"),
        "root": sorted(os.listdir("/")),
        "argv": sys.argv, "main": sys.modules["__main__"].__file__,
        "context_module": type(context).__module__,
        "pid": os.getpid(), "proc_pid": int(os.readlink("/proc/self")),
        "fds": descriptors(),
        "mountinfo": open("/proc/self/mountinfo").read(),
        "cmdline": open("/proc/self/cmdline").read(),
    }
"#,
    zygote: "zygote.py",
    bootstrap: "/var/runtime/python/bootstrap.py",
    exits_at_init: "import sys\nsys.exit(3)\ndef handler(e, c):\n    return 1\n",
    killable: "import os, signal\ndef handler(e, c):\n    if e.get('die'):\n        os.kill(os.getpid(), signal.SIGKILL)\n    return 1\n",
    throws_later: None,
};

const NODE: Runtime = Runtime {
    id: "nodejs20.x",
    file: "index.js",
    probe: r#"
const fs = require('fs');
const status = (field) => fs.readFileSync('/proc/self/status', 'utf8').split('\n')
  .find((l) => l.startsWith(field + ':')).split(':')[1].trim();
const descriptors = () => fs.readdirSync('/proc/self/fd').sort((a, b) => a - b).flatMap((fd) => {
  try { return [fs.readlinkSync('/proc/self/fd/' + fd)]; } catch (e) { return []; }
});
exports.handler = async (event, context) => {
  fs.writeFileSync('/tmp/' + process.env.SECRET, 'x');
  // A process and a thread of its own, each with an event loop the fork did not make.
  const { stdout } = await require('util').promisify(require('child_process').execFile)('/bin/sh', ['-c', 'echo spawned']);
  const worker = await new Promise((resolve, reject) => {
    const w = new (require('worker_threads').Worker)('require("worker_threads").parentPort.postMessage(6 * 7)', { eval: true });
    w.on('message', resolve);
    w.on('error', reject);
  });
  return {
    spawned: stdout.trim(),
    worker,
    secret: process.env.SECRET,
    name: process.env.AWS_LAMBDA_FUNCTION_NAME,
    stream: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    tmp: fs.readdirSync('/tmp').sort(),
    random: Math.random(),
    urandom: require('crypto').randomBytes(8).toString('hex'),
    uid: process.getuid(), gid: process.getgid(),
    // Node adds the effective gid to the list.
    groups: process.getgroups().filter((g) => g !== process.getegid()),
    cap_eff: status('CapEff'), cap_bnd: status('CapBnd'), cap_prm: status('CapPrm'),
    no_new_privs: status('NoNewPrivs'), seccomp: status('Seccomp'),
    root: fs.readdirSync('/').sort(),
    argv: process.argv.slice(1), main: require.main && require.main.filename,
    pid: process.pid, proc_pid: Number(fs.readlinkSync('/proc/self')),
    fds: descriptors(),
    mountinfo: fs.readFileSync('/proc/self/mountinfo', 'utf8'),
    cmdline: fs.readFileSync('/proc/self/cmdline', 'utf8'),
  };
};
"#,
    zygote: "zygote.cjs",
    bootstrap: "/var/runtime/node/bootstrap.cjs",
    exits_at_init: "process.exit(3);\nexports.handler = async () => 1;\n",
    killable: "exports.handler = async (e) => {\n  if (e.die) process.kill(process.pid, 'SIGKILL');\n  return 1;\n};\n",
    throws_later: Some(
        "exports.handler = async (e) => {\n  if (e.die) {\n    setTimeout(() => { throw new Error('thrown later'); }, 10);\n    await new Promise(() => {});\n  }\n  return 1;\n};\n",
    ),
};

impl Runtime {
    fn function(&self, name: &str, code: &str, secret: &str) -> Value {
        let handler = format!("{}.handler", self.file.split('.').next().unwrap_or("app"));
        json!({"FunctionName": name, "Runtime": self.id, "Handler": handler,
               "Role": common::ROLE,
               "Environment": {"Variables": {"SECRET": secret}},
               "Code": {"ZipFile": common::b64(&zip(&[(self.file, code, 0o644)]))}})
    }

    fn body(&self, name: &str, secret: &str) -> Value {
        self.function(name, self.probe, secret)
    }
}

/// Invokes `name` once; returns the body and what its cold start had started ahead
/// (`forked`: a runtime forked from the zygote for this launch).
async fn first_invoke(s: &Server, name: &str) -> (Value, String) {
    let (status, h, body) = s.invoke_raw(name, "{}", &[]).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let ahead = common::prestarted(&h).unwrap_or_default();
    (serde_json::from_slice(&body).unwrap_or(Value::Null), ahead)
}

/// Creates functions from `make(name)` until one's first invocation was forked (the zygote
/// starts in the background when the first Python function appears).
async fn forked(s: &Server, prefix: &str, make: impl Fn(&str) -> Value) -> (String, Value) {
    for i in 0..40 {
        let name = format!("{prefix}-{i}");
        s.create_with(make(&name)).await;
        let (out, ahead) = first_invoke(s, &name).await;
        if ahead == "forked" {
            return (name, out);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!("no cold start of {prefix} was forked\n{}", s.output_text());
}

/// The server's zygote of `rt`: its child whose command line runs the runtime's zygote.
fn zygote_of(server: u32, rt: &Runtime) -> u32 {
    children(server)
        .into_iter()
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(rt.zygote))
        })
        .expect("the server runs a zygote")
}

/// Children of every thread of `parent`.
fn children(parent: u32) -> Vec<u32> {
    std::fs::read_dir(format!("/proc/{parent}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// Mappings that are both writable and shared (`rw-s`): what two processes could write to
/// each other through.
fn shared_writable(pid: u32) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            let perms = l.split_whitespace().nth(1).unwrap_or("");
            perms.contains('w') && perms.ends_with('s')
        })
        .map(str::to_string)
        .collect()
}

/// The page frames present in `pid`'s private writable mappings, each with whether `pid`
/// alone maps it (from `/proc/<pid>/pagemap`, where root sees frame numbers). A page forked
/// from the zygote and not written since is one frame in both; a write copies it.
fn writable_frames(pid: u32) -> BTreeMap<u64, bool> {
    use std::io::{Read, Seek, SeekFrom};
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    let mut pagemap = std::fs::File::open(format!("/proc/{pid}/pagemap")).unwrap();
    let mut frames = BTreeMap::new();
    for line in maps.lines() {
        let mut parts = line.split_whitespace();
        let (Some(range), Some(perms)) = (parts.next(), parts.next()) else {
            continue;
        };
        if !perms.starts_with("rw") || !perms.ends_with('p') {
            continue;
        }
        let (start, end) = range.split_once('-').unwrap();
        let page = |hex: &str| u64::from_str_radix(hex, 16).unwrap() / 4096;
        let (start, end) = (page(start), page(end));
        let mut buf = vec![0u8; ((end - start) * 8) as usize];
        if pagemap.seek(SeekFrom::Start(start * 8)).is_err()
            || pagemap.read_exact(&mut buf).is_err()
        {
            continue;
        }
        for entry in buf.chunks_exact(8) {
            let e = u64::from_le_bytes(entry.try_into().unwrap());
            let frame = e & ((1 << 55) - 1);
            // Bit 63: present; bit 56: mapped by this process alone.
            if e >> 63 & 1 == 1 && frame != 0 {
                frames.insert(frame, e >> 56 & 1 == 1);
            }
        }
    }
    frames
}

#[tokio::test(flavor = "multi_thread")]
async fn forked_python_runtimes_of_two_functions_share_nothing_writable() {
    share_nothing_writable(&PYTHON).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn forked_node_runtimes_of_two_functions_share_nothing_writable() {
    share_nothing_writable(&NODE).await;
}

async fn share_nothing_writable(rt: &Runtime) {
    let s = Server::start_with(&["--runtime-pool", "0"], None);
    let (a, out_a) = forked(&s, "alpha", |n| rt.body(n, &format!("secret-of-{n}"))).await;
    let (b, out_b) = forked(&s, "beta", |n| rt.body(n, &format!("secret-of-{n}"))).await;

    // Each sees its own variables, its own /tmp, its own random numbers.
    let mut all_fds = Vec::new();
    for (name, out) in [(&a, &out_a), (&b, &out_b)] {
        assert_eq!(out["secret"], format!("secret-of-{name}"), "{out}");
        assert_eq!(out["name"], name.as_str());
        assert_eq!(out["tmp"], json!([format!("secret-of-{name}")]), "{out}");
        // Privileges exactly as a runtime the sandbox starts itself.
        assert_eq!(
            (out["uid"].as_u64(), out["gid"].as_u64()),
            (Some(993), Some(990))
        );
        assert_eq!(out["groups"], json!([]));
        for cap in ["cap_eff", "cap_bnd", "cap_prm"] {
            assert_eq!(out[cap], "0000000000000000", "{cap}: {out}");
        }
        assert_eq!(out["no_new_privs"], "1");
        assert_eq!(out["seccomp"], "2", "a seccomp filter");
        // The sandbox's root, and nothing of the host's.
        assert_eq!(
            out["root"],
            json!([
                "bin", "dev", "etc", "lib", "lib64", "opt", "proc", "sbin", "tmp", "usr", "var"
            ]),
            "{out}"
        );
        for seen in ["mountinfo", "cmdline"] {
            let text = out[seen].as_str().unwrap();
            assert!(
                !text.contains(&s.data_dir.display().to_string()),
                "{seen}: {text}"
            );
        }
        assert_eq!(out["main"], rt.bootstrap);
        assert_eq!(out["argv"], json!([rt.bootstrap]));
        if rt.id.starts_with("nodejs") {
            assert_eq!(
                (&out["spawned"], &out["worker"]),
                (&json!("spawned"), &json!(42)),
                "a child process and a worker thread"
            );
        }
        if rt.id.starts_with("python") {
            assert_eq!(
                out["context_module"], "__main__",
                "as in a runtime started with it"
            );
        }
        assert_eq!(out["pid"], out["proc_pid"], "its pid in the sandbox");
        // Nothing of the zygote's: no namespace, pidfd, host file, or pipe or event loop of
        // its own or of another runtime (what Node's other threads had, which a fork leaves
        // behind, opens /dev/null). Pipes are the runtime's standard streams and its event
        // loop's, made after the fork.
        let fds: Vec<&str> = out["fds"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for fd in &fds {
            assert!(
                fd.starts_with("pipe:")
                    || fd.starts_with("socket:")
                    || matches!(
                        *fd,
                        "anon_inode:[eventfd]" | "anon_inode:[eventpoll]" | "/dev/null"
                    ),
                "a descriptor of the host's: {fd} in {fds:?}"
            );
        }
        all_fds.push(fds.iter().map(|f| f.to_string()).collect::<Vec<_>>());
    }
    // No pipe or socket of one runtime is open in the other (a channel between them).
    let [fds_a, fds_b] = &all_fds[..] else {
        unreachable!()
    };
    for fd in fds_a {
        assert!(
            fd == "/dev/null" || fd.starts_with("anon_inode:") || !fds_b.contains(fd),
            "{fd} is open in both runtimes: {fds_a:?} and {fds_b:?}"
        );
    }
    assert_ne!(out_a["stream"], out_b["stream"]);
    assert_ne!(
        out_a["random"], out_b["random"],
        "the generator is reseeded in each"
    );
    assert_ne!(out_a["urandom"], out_b["urandom"]);

    // On the host: the zygote is the parent of both runtimes, and no mapping of either or
    // of the zygote is shared and writable.
    let zygote = zygote_of(s.pid(), rt);
    let runtimes = children(zygote);
    assert!(runtimes.len() >= 2, "the zygote's runtimes: {runtimes:?}");
    for pid in runtimes.iter().copied().chain([zygote]) {
        assert_eq!(shared_writable(pid), Vec::<String>::new(), "process {pid}");
    }
    // Pages: each runtime still maps frames of the zygote's (what forking saves: pages
    // neither has written since the fork, copied by the kernel on the first write), and has
    // pages of its own, which it alone maps.
    let zygote_frames = writable_frames(zygote);
    for pid in &runtimes {
        let own = writable_frames(*pid);
        let from_zygote = own.keys().filter(|f| zygote_frames.contains_key(f)).count();
        let written = own.values().filter(|alone| **alone).count();
        assert!(
            from_zygote > 0,
            "process {pid} shares no page with its zygote"
        );
        assert!(written > 0, "process {pid} has written no page of its own");
        assert!(
            own.iter()
                .filter(|(f, _)| zygote_frames.contains_key(f))
                .all(|(_, alone)| !alone),
            "a frame of the zygote's is mapped by process {pid} alone"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forked_python_runtime_ends_as_a_started_one() {
    ends_as_a_started_one(&PYTHON).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forked_node_runtime_ends_as_a_started_one() {
    ends_as_a_started_one(&NODE).await;
}

async fn ends_as_a_started_one(rt: &Runtime) {
    let s = Server::start_with(&["--runtime-pool", "0"], None);
    // An exit during init: the status reaches the invocation, as from a started runtime.
    let exiting = |name: &str| rt.function(name, rt.exits_at_init, "x");
    let mut seen = false;
    for i in 0..40 {
        let name = format!("exits-{i}");
        s.create_with(exiting(&name)).await;
        let (status, h, body) = s.invoke_raw(&name, "{}", &[]).await;
        assert_eq!(status, 200);
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["errorType"], "Runtime.ExitError", "{body}");
        assert!(
            body["errorMessage"]
                .as_str()
                .unwrap()
                .ends_with("Runtime exited with error: exit status 3"),
            "{body}"
        );
        if h["x-lamina-init-ms"]
            .to_str()
            .unwrap()
            .ends_with("prestarted=forked")
        {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(seen, "no exiting function was forked");

    // Killed by a signal during an invocation: its end says so.
    let (name, _) = forked(&s, "killed", |n| rt.function(n, rt.killable, "x")).await;
    let out = s.invoke(&name, json!({"die": true})).await;
    out.assert_error("a runtime killed", "Runtime.ExitError", "signal: killed");
    // The next invocation gets a new environment.
    assert_eq!(s.invoke(&name, json!({})).await.body, json!(1));

    // An uncaught exception ends the process with status 1, and what it printed is logged.
    let Some(throws_later) = rt.throws_later else {
        return;
    };
    let (name, _) = forked(&s, "throws", |n| rt.function(n, throws_later, "x")).await;
    let out = s.invoke(&name, json!({"die": true})).await;
    out.assert_error(
        "an uncaught exception",
        "Runtime.ExitError",
        "exit status 1",
    );
    assert!(out.log.contains("Error: thrown later"), "{}", out.log);
    assert_eq!(s.invoke(&name, json!({})).await.body, json!(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_python_cold_starts_is_served_by_forks() {
    burst_served_by_forks(&PYTHON).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_node_cold_starts_is_served_by_forks() {
    burst_served_by_forks(&NODE).await;
}

async fn burst_served_by_forks(rt: &Runtime) {
    let s = Server::start_with(&["--runtime-pool", "0", "--sandbox-pool", "0"], None);
    // The zygote is up once one cold start was forked.
    forked(&s, "first", |n| rt.body(n, "x")).await;
    s.create_with(rt.body("burst", "x")).await;
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let http = s.http.clone();
        let url = s.url("/2015-03-31/functions/burst/invocations");
        tasks.push(tokio::spawn(async move {
            let resp = http.post(url).body("{}").send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 200);
            common::prestarted(resp.headers()).unwrap_or_else(|| "warm".into())
        }));
    }
    let mut kinds = BTreeMap::<String, usize>::new();
    for t in tasks {
        *kinds.entry(t.await.unwrap()).or_default() += 1;
    }
    // Every cold start of the burst was a fork: none started an interpreter.
    assert!(kinds.get("forked").copied().unwrap_or(0) >= 1, "{kinds:?}");
    assert_eq!(
        kinds
            .keys()
            .filter(|k| !matches!(k.as_str(), "forked" | "warm"))
            .count(),
        0,
        "{kinds:?}; the server said: {}",
        s.output_text()
    );
}
