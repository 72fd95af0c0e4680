//! Attacks run as function code inside real sandboxed environments, next to a second
//! environment and a listener standing in for the control plane. Each must fail, and the
//! platform and the neighbour must keep working afterwards.
//!
//! These tests need root (the sandbox needs it): the server is started with
//! `--isolation sandbox`, which refuses to start otherwise.

mod common;

use common::{Server, sandbox_cgroups};
use serde_json::{Value, json};

/// Python attack code: `attack(event)` returns what the attack achieved.
const ATTACKS: &str = r#"
import os, socket, json, errno

def attempt(fn):
    try:
        return {"ok": True, "value": fn()}
    except OSError as e:
        return {"ok": False, "errno": errno.errorcode.get(e.errno, str(e.errno))}
    except Exception as e:
        return {"ok": False, "error": type(e).__name__ + ": " + str(e)}

def handler(event, context):
    kind = event["attack"]
    if kind == "read_path":
        return attempt(lambda: open(event["path"]).read()[:100])
    if kind == "write_path":
        return attempt(lambda: open(event["path"], "w").write("x"))
    if kind == "list_dir":
        return attempt(lambda: sorted(os.listdir(event["path"])))
    if kind == "connect":
        return attempt(lambda: socket.create_connection((event["host"], event["port"]), timeout=1).close())
    if kind == "pids":
        return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    if kind == "kill_all":
        return attempt(lambda: os.kill(-1, 9))
    if kind == "tmp_write":
        open("/tmp/secret-" + event["tag"], "w").write("mine")
        return "written"
    if kind == "status":
        keep = ("Uid", "Gid", "CapEff", "CapPrm", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")
        return {l.split(":")[0]: l.split(":", 1)[1].strip() for l in open("/proc/self/status") if l.split(":")[0] in keep}
    if kind == "setuid_root":
        return attempt(lambda: os.setuid(0))
    if kind == "mountinfo":
        return open("/proc/self/mountinfo").read()
    if kind == "environ":
        return dict(os.environ)
    if kind == "hostname":
        return socket.gethostname()
    raise ValueError("unknown attack " + kind)
"#;

async fn attack(s: &Server, function: &str, event: Value) -> Value {
    let out = s.invoke(function, event).await;
    assert_eq!(out.function_error, None, "{:?}\n{}", out.body, out.log);
    out.body
}

/// A sandboxing server whose Python runtimes are forked from its zygote (the default):
/// returns once one cold start was, so that the attacks run in forked runtimes.
async fn sandboxed() -> Server {
    let s = Server::start_with(&["--isolation", "sandbox"], None);
    await_forked_runtimes(&s).await;
    s
}

/// Waits until a cold start of a Python function is served by a runtime forked from the
/// zygote (pre-started or forked at once), which starts in the background once the first
/// Python function exists; panics after 40 tries.
async fn await_forked_runtimes(s: &Server) {
    for i in 0..40 {
        let name = format!("zygote-probe-{i}");
        s.python(&name, "def handler(e, c):\n    return 1\n").await;
        let (status, h, _) = s.invoke_raw(&name, "{}", &[]).await;
        assert_eq!(status, 200);
        let ahead = h
            .get("x-lamina-init-ms")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        s.delete(&format!("/2015-03-31/functions/{name}")).await;
        if ahead.ends_with("prestarted=forked") || ahead.ends_with("prestarted=runtime") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!(
        "no Python cold start was forked from a zygote\n{}",
        s.output_text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn functions_cannot_see_the_host_or_each_other() {
    let s = sandboxed().await;
    s.python("a", ATTACKS).await;
    s.create(
        "b",
        "python3.11",
        "app.handler",
        &[
            ("app.py", ATTACKS, 0o644),
            ("secret.txt", "b's secret", 0o644),
        ],
    )
    .await;
    // Where b's code lives on the host.
    let code_root = s.data_dir.join("code");
    let b_secret = std::fs::read_dir(&code_root)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("task/secret.txt"))
        .find(|p| p.exists())
        .expect("b's code on the host");
    for path in [
        b_secret.display().to_string(),
        format!("/proc/1/root{}", b_secret.display()),
        "/etc/shadow".into(),
        s.data_dir.join("functions.sqlite3").display().to_string(),
    ] {
        let got = attack(&s, "a", json!({"attack": "read_path", "path": path})).await;
        assert_eq!(got["ok"], false, "read {path}: {got}");
    }
    let listed = attack(
        &s,
        "a",
        json!({"attack": "list_dir", "path": code_root.display().to_string()}),
    )
    .await;
    assert_eq!(listed["ok"], false, "{listed}");

    // Read-only everywhere but /tmp.
    for path in [
        "/var/task/app.py",
        "/usr/evil",
        "/etc/passwd",
        "/evil",
        "/var/runtime/python/bootstrap.py",
    ] {
        let got = attack(&s, "a", json!({"attack": "write_path", "path": path})).await;
        assert_eq!(got["ok"], false, "write {path}: {got}");
    }

    // /tmp is private to an environment.
    let tag = std::process::id().to_string();
    attack(&s, "a", json!({"attack": "tmp_write", "tag": tag})).await;
    let from_b = attack(
        &s,
        "b",
        json!({"attack": "read_path", "path": format!("/tmp/secret-{tag}")}),
    )
    .await;
    assert_eq!(from_b["ok"], false, "{from_b}");
    let from_a = attack(
        &s,
        "a",
        json!({"attack": "read_path", "path": format!("/tmp/secret-{tag}")}),
    )
    .await;
    assert_eq!(from_a["value"], "mine");
    assert!(
        !std::path::Path::new(&format!("/tmp/secret-{tag}")).exists(),
        "not on the host"
    );

    // Processes: only the environment's own; kill(-1) reaches nothing else.
    let pids = attack(&s, "a", json!({"attack": "pids"})).await;
    assert_eq!(pids, json!([1, 2]), "only the sandbox's init and runtime");
    let killed = attack(&s, "b", json!({"attack": "kill_all"})).await;
    assert_eq!(
        killed["ok"], false,
        "uid 993 can signal nothing but itself: {killed}"
    );
    assert_eq!(
        attack(&s, "a", json!({"attack": "pids"})).await,
        json!([1, 2]),
        "a survived b's kill(-1)"
    );

    // Privileges.
    let status = attack(&s, "a", json!({"attack": "status"})).await;
    assert_eq!(
        status["Uid"].as_str().unwrap().split_whitespace().next(),
        Some("993")
    );
    for cap in ["CapEff", "CapPrm", "CapBnd", "CapAmb"] {
        assert_eq!(status[cap], "0000000000000000", "{cap}");
    }
    assert_eq!(status["NoNewPrivs"], "1");
    assert_eq!(
        attack(&s, "a", json!({"attack": "setuid_root"})).await["ok"],
        false
    );

    // Nothing of the host's layout or the platform's environment shows.
    let mountinfo = attack(&s, "a", json!({"attack": "mountinfo"})).await;
    let mountinfo = mountinfo.as_str().unwrap();
    let data_dir = s.data_dir.display().to_string();
    assert!(
        !mountinfo.contains(&data_dir) && !mountinfo.contains("sandbox-root"),
        "host paths show:\n{mountinfo}"
    );
    let task = mountinfo
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/var/task"))
        .expect("a /var/task mount");
    assert_eq!(
        task.split(' ').nth(3),
        Some("/"),
        "the code is a filesystem of its own: {task}"
    );
    let env = attack(&s, "a", json!({"attack": "environ"})).await;
    for leaked in [
        "HOME",
        "CARGO",
        "LAMINA_LOG",
        "PYENV_ROOT",
        "RUST_BACKTRACE",
    ] {
        assert!(env.get(leaked).is_none(), "{leaked} leaked: {env}");
    }
    assert_eq!(env["AWS_LAMBDA_RUNTIME_API"], "127.0.0.1:9001");
    assert_eq!(
        attack(&s, "a", json!({"attack": "hostname"})).await,
        "localhost"
    );
    assert_eq!(s.health().await["status"], "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn functions_cannot_reach_the_platform_or_host_services() {
    let s = sandboxed().await;
    // A listener standing in for the control plane, and the platform's own port.
    let control_plane = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let control_port = control_plane.local_addr().unwrap().port();
    let api_port: u16 = s.endpoint.rsplit(':').next().unwrap().parse().unwrap();
    s.python("a", ATTACKS).await;
    for (host, port) in [
        ("127.0.0.1", control_port),
        ("127.0.0.1", api_port),
        ("169.254.169.254", 80),
        ("10.0.0.1", 80),
    ] {
        let got = attack(
            &s,
            "a",
            json!({"attack": "connect", "host": host, "port": port}),
        )
        .await;
        assert_eq!(got["ok"], false, "{host}:{port} reachable: {got}");
    }
    // Its own Runtime API is the only thing it reaches.
    let own = attack(
        &s,
        "a",
        json!({"attack": "connect", "host": "127.0.0.1", "port": 9001}),
    )
    .await;
    assert_eq!(own["ok"], true, "{own}");
    drop(control_plane);
}

/// Resource attacks: each is contained to its environment, reported as Lambda reports it,
/// and the neighbour keeps answering.
const HOGS: &str = r#"
import os, errno, sys

def handler(event, context):
    kind = event["attack"]
    if kind == "memory":
        hoard = []
        while True:
            hoard.append(bytearray(8 * 1024 * 1024))
    if kind == "fork":
        children, failure = 0, None
        while children < 5000:
            try:
                pid = os.fork()
            except OSError as e:
                failure = errno.errorcode.get(e.errno)
                break
            if pid == 0:
                try:
                    os.execv("/bin/sleep", ["sleep", "30"])
                finally:
                    os._exit(0)
            children += 1
        return {"children": children, "failure": failure}
    if kind == "tmp":
        written = 0
        try:
            with open("/tmp/fill", "wb") as f:
                while True:
                    f.write(b"x" * (1024 * 1024))
                    f.flush()
                    written += 1
        except OSError as e:
            return {"mb": written, "failure": errno.errorcode.get(e.errno)}
    if kind == "fds":
        files = []
        try:
            while True:
                files.append(open("/dev/null"))
        except OSError as e:
            return {"opened": len(files), "failure": errno.errorcode.get(e.errno)}
    if kind == "flood":
        line = "y" * 1023 + "\n"
        for _ in range(event["mb"] * 1024):
            sys.stdout.write(line)
        sys.stdout.flush()
        return "flooded"
    if kind == "ping":
        return "pong"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn resource_attacks_are_contained() {
    let s = Server::start_with(
        &["--isolation", "sandbox", "--log-group-max-bytes", "4194304"],
        None,
    );
    let make = |name: &'static str, memory: u32, tmp: u32, timeout: u32| {
        json!({"FunctionName": name, "Runtime": "python3.11", "Handler": "app.handler", "Role": common::ROLE,
               "MemorySize": memory, "Timeout": timeout, "EphemeralStorage": {"Size": tmp},
               "Code": {"ZipFile": common::b64(&common::zip(&[("app.py", HOGS, 0o644)]))}})
    };
    s.create_with(make("neighbour", 128, 512, 3)).await;
    s.create_with(make("hog", 128, 512, 5)).await;
    s.create_with(make("forker", 1024, 512, 10)).await;
    let neighbour_ok = async || {
        let out = s.invoke("neighbour", json!({"attack": "ping"})).await;
        assert_eq!(
            out.body, "pong",
            "the neighbour keeps working: {:?}",
            out.body
        );
    };
    neighbour_ok().await;

    // Memory bomb: killed at the limit, reported as OutOfMemory with the peak.
    let out = s.invoke("hog", json!({"attack": "memory"})).await;
    assert_eq!(
        out.body["errorType"], "Runtime.OutOfMemory",
        "{:?}",
        out.body
    );
    assert!(
        out.body["errorMessage"]
            .as_str()
            .unwrap()
            .ends_with("Runtime exited with error: signal: killed")
    );
    let peak = out.report_field("Max Memory Used").unwrap();
    assert!(
        (100.0..=129.0).contains(&peak),
        "peak at the limit (MemorySize, 128 MB; /tmp is on disk): {peak}"
    );
    neighbour_ok().await;

    // Fork bomb: held at the pids limit.
    let out = s.invoke("forker", json!({"attack": "fork"})).await;
    assert_eq!(out.body["failure"], "EAGAIN", "{:?}", out.body);
    let children = out.body["children"].as_u64().unwrap();
    assert!(children < 1024, "held below 1,024 processes: {children}");
    neighbour_ok().await;

    // /tmp fill: ENOSPC at its size; the function keeps its memory (no OOM).
    let out = s.invoke("hog", json!({"attack": "tmp"})).await;
    assert_eq!(out.body["failure"], "ENOSPC", "{:?}", out.body);
    let mb = out.body["mb"].as_u64().unwrap();
    assert!(
        (500..=512).contains(&mb),
        "filled up to the 512 MB /tmp: {mb}"
    );
    neighbour_ok().await;

    // fd exhaustion: EMFILE at 1,024.
    let out = s.invoke("hog", json!({"attack": "fds"})).await;
    assert_eq!(out.body["failure"], "EMFILE", "{:?}", out.body);
    assert!(
        (1000..1024).contains(&out.body["opened"].as_u64().unwrap()),
        "{:?}",
        out.body
    );

    // An output flood is kept within the log group's bound on disk.
    let out = s.invoke("hog", json!({"attack": "flood", "mb": 24})).await;
    assert_eq!(out.body, "flooded", "{:?}", out.body);
    let group = s.data_dir.join("logs").join("%2Faws%2Flambda%2Fhog");
    let on_disk: u64 = std::fs::read_dir(&group)
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(
        on_disk <= 5 * 1024 * 1024,
        "log group bounded: {on_disk} bytes"
    );
    neighbour_ok().await;
    assert_eq!(s.health().await["status"], "ok");
}

/// Calls a function has no business making fail, whatever the arguments.
const SYSCALLS: &str = r#"
import ctypes, errno, os, socket
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def call(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return "ok" if r >= 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))

NR = {"unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
      "ptrace": 101, "bpf": 321, "perf_event_open": 298, "keyctl": 250, "add_key": 248,
      "io_uring_setup": 425, "userfaultfd": 323, "open_by_handle_at": 304, "init_module": 175,
      "finit_module": 313, "kexec_load": 246, "clock_settime": 227, "settimeofday": 164,
      "reboot": 169, "sethostname": 170, "swapon": 167, "process_vm_readv": 310, "clone3": 435,
      "open_tree": 428, "fsopen": 430, "move_mount": 429}
CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWNS = 0x10000000, 0x40000000, 0x00020000
SIGCHLD = 17

def handler(event, context):
    out = {}
    out["unshare"] = call(NR["unshare"], CLONE_NEWUSER)
    out["unshare_net"] = call(NR["unshare"], CLONE_NEWNET)
    out["setns"] = call(NR["setns"], 0, 0)
    out["mount"] = call(NR["mount"], 0, 0, 0, 0, 0)
    out["umount2"] = call(NR["umount2"], 0, 0)
    out["pivot_root"] = call(NR["pivot_root"], 0, 0)
    out["chroot"] = call(NR["chroot"], 0)
    out["ptrace"] = call(NR["ptrace"], 16, 1, 0, 0)  # PTRACE_ATTACH to PID 1
    out["bpf"] = call(NR["bpf"], 0, 0, 0)
    out["perf_event_open"] = call(NR["perf_event_open"], 0, 0, -1, -1, 0)
    out["keyctl"] = call(NR["keyctl"], 0, 0, 0)
    out["add_key"] = call(NR["add_key"], 0, 0, 0, 0, 0)
    out["io_uring_setup"] = call(NR["io_uring_setup"], 1, 0)
    out["userfaultfd"] = call(NR["userfaultfd"], 0)
    out["open_by_handle_at"] = call(NR["open_by_handle_at"], 0, 0, 0)
    out["init_module"] = call(NR["init_module"], 0, 0, 0)
    out["finit_module"] = call(NR["finit_module"], 0, 0, 0)
    out["kexec_load"] = call(NR["kexec_load"], 0, 0, 0, 0)
    out["clock_settime"] = call(NR["clock_settime"], 0, 0)
    out["settimeofday"] = call(NR["settimeofday"], 0, 0)
    out["reboot"] = call(NR["reboot"], 0, 0, 0, 0)
    out["sethostname"] = call(NR["sethostname"], 0, 0)
    out["swapon"] = call(NR["swapon"], 0, 0)
    out["process_vm_readv"] = call(NR["process_vm_readv"], 1, 0, 0, 0, 0, 0)
    out["open_tree"] = call(NR["open_tree"], -100, 0, 0)
    out["fsopen"] = call(NR["fsopen"], 0, 0)
    out["move_mount"] = call(NR["move_mount"], 0, 0, 0, 0, 0)
    out["clone3"] = call(NR["clone3"], 0, 0)
    # clone with a namespace flag is refused; a plain fork still works.
    out["clone_newuser"] = call(56, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    out["fork"] = "ok"
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        out["af_packet"] = "ok"
    except OSError as e:
        out["af_packet"] = errno.errorcode.get(e.errno)
    out["seccomp"] = [l.split()[1] for l in open("/proc/self/status") if l.startswith("Seccomp:")][0]
    return out
"#;

#[tokio::test(flavor = "multi_thread")]
async fn dangerous_system_calls_are_refused() {
    let s = sandboxed().await;
    s.python("calls", SYSCALLS).await;
    let out = attack(&s, "calls", json!({})).await;
    let map = out.as_object().unwrap();
    assert_eq!(out["seccomp"], "2", "a seccomp filter is on");
    assert_eq!(out["fork"], "ok", "ordinary process creation still works");
    assert_eq!(
        out["clone3"], "ENOSYS",
        "clone3 looks absent so libc uses clone"
    );
    for (call, result) in map {
        if ["seccomp", "fork", "clone3"].contains(&call.as_str()) {
            continue;
        }
        assert_eq!(result, "EPERM", "{call} must be refused: {out}");
    }
    assert_eq!(s.health().await["status"], "ok");
}

const KERNEL: &str = r#"
import ctypes, errno, os, socket

def attempt(fn):
    try:
        return {"ok": True, "value": fn()}
    except OSError as e:
        return {"ok": False, "errno": errno.errorcode.get(e.errno, str(e.errno))}

libc = ctypes.CDLL(None, use_errno=True)
KEY = 0x1a3b5c7d

def handler(event, context):
    kind = event["attack"]
    if kind == "shm_create":
        shmid = libc.shmget(KEY, 4096, 0o1666)  # IPC_CREAT | 0666
        return {"shmid": shmid}
    if kind == "shm_find":
        shmid = libc.shmget(KEY, 0, 0o666)
        return {"shmid": shmid, "errno": errno.errorcode.get(ctypes.get_errno())}
    if kind == "abstract_listen":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind("\0lamina-abstract-test")
        s.listen(1)
        globals()["KEEP"] = s
        return "listening"
    if kind == "abstract_connect":
        def go():
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect("\0lamina-abstract-test")
        return attempt(go)
    if kind == "kernel":
        return {
            "sysrq": attempt(lambda: open("/proc/sysrq-trigger", "w").write("h")),
            "proc_sys": attempt(lambda: open("/proc/sys/kernel/hostname", "w").write("x")),
            "sys": attempt(lambda: os.listdir("/sys")),
            "mknod": attempt(lambda: os.mknod("/tmp/sda", 0o600 | 0o060000, os.makedev(8, 0))),
            "dev": sorted(os.listdir("/dev")),
            "kmsg": attempt(lambda: open("/dev/kmsg").read(1)),
        }
    if kind == "ping":
        return "pong"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn ipc_and_kernel_interfaces_are_isolated() {
    let s = sandboxed().await;
    s.python("k1", KERNEL).await;
    s.python("k2", KERNEL).await;

    // SysV IPC: a segment made in one environment does not exist in another.
    let made = attack(&s, "k1", json!({"attack": "shm_create"})).await;
    assert!(made["shmid"].as_i64().unwrap() >= 0, "{made}");
    let found = attack(&s, "k2", json!({"attack": "shm_find"})).await;
    assert_eq!(found["shmid"], -1, "{found}");
    assert_eq!(found["errno"], "ENOENT");
    // Abstract Unix sockets are per network namespace.
    assert_eq!(
        attack(&s, "k1", json!({"attack": "abstract_listen"})).await,
        "listening"
    );
    let reached = attack(&s, "k2", json!({"attack": "abstract_connect"})).await;
    assert_eq!(reached["ok"], false, "{reached}");
    let own = attack(&s, "k1", json!({"attack": "abstract_connect"})).await;
    assert_eq!(own["ok"], true, "its own socket is reachable: {own}");

    let k = attack(&s, "k1", json!({"attack": "kernel"})).await;
    for what in ["sysrq", "proc_sys", "sys", "mknod", "kmsg"] {
        assert_eq!(k[what]["ok"], false, "{what}: {k}");
    }
    assert_eq!(
        k["dev"],
        json!([
            "fd", "full", "null", "random", "stderr", "stdin", "stdout", "urandom", "zero"
        ]),
        "a minimal /dev"
    );
}

/// The cgroup directories (memory, pids, cpu) of this server's sandboxes.
fn read(path: std::path::PathBuf) -> String {
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_follow_the_functions_memory() {
    let s = sandboxed().await;
    // 3,538 MB: two vCPUs at Lambda's 1,769 MB per vCPU.
    s.create_with(json!({"FunctionName": "big", "Runtime": "python3.11", "Handler": "app.handler",
                         "Role": common::ROLE, "MemorySize": 3538, "EphemeralStorage": {"Size": 1024},
                         "Code": {"ZipFile": common::b64(&common::zip(&[("app.py", KERNEL, 0o644)]))}}))
        .await;
    assert_eq!(attack(&s, "big", json!({"attack": "ping"})).await, "pong");
    // The warm environment's cgroups are the ones with this function's CPU shares.
    let cpu: Vec<_> = sandbox_cgroups(s.pid(), "cpu")
        .into_iter()
        .filter(|d| read(d.join("cpu.shares")) == "2048")
        .collect();
    assert_eq!(
        cpu.len(),
        1,
        "one environment with 2,048 shares (1,024 per 1,769 MB)"
    );
    let id = cpu[0].file_name().unwrap().to_owned();
    assert_eq!(
        read(cpu[0].join("cpu.cfs_quota_us")),
        "200000",
        "two vCPUs per 100 ms"
    );
    assert_eq!(read(cpu[0].join("cpu.cfs_period_us")), "100000");
    let memory = sandbox_cgroups(s.pid(), "memory")
        .into_iter()
        .find(|d| d.file_name() == Some(&id))
        .unwrap();
    assert_eq!(
        read(memory.join("memory.limit_in_bytes")),
        (3538u64 * 1024 * 1024).to_string(),
        "MemorySize alone: /tmp is on disk"
    );
    let pids = sandbox_cgroups(s.pid(), "pids")
        .into_iter()
        .find(|d| d.file_name() == Some(&id))
        .unwrap();
    assert_eq!(read(pids.join("pids.max")), "1024");
    assert!(
        !read(pids.join("cgroup.procs")).is_empty(),
        "the environment's processes are inside"
    );
}

/// Packages whose files are private to their owner (0600, as Python's `zipfile.writestr`
/// stores them) still run as the unprivileged function user.
#[tokio::test(flavor = "multi_thread")]
async fn packages_with_private_modes_run() {
    let s = sandboxed().await;
    s.create(
        "private",
        "python3.11",
        "app.handler",
        &[
            (
                "app.py",
                "from lib import WORD\ndef handler(e, c):\n    return WORD\n",
                0o600,
            ),
            ("lib.py", "WORD = 'readable'\n", 0o600),
        ],
    )
    .await;
    assert_eq!(attack(&s, "private", json!({})).await, "readable");
}

/// Without root, a sandbox still isolates the function, inside a user namespace of its own;
/// memory is then bounded by RLIMIT_DATA rather than a cgroup.
#[tokio::test(flavor = "multi_thread")]
async fn sandboxes_without_root_use_a_user_namespace() {
    let s = Server::start_unprivileged(&[]);
    assert!(
        s.output_text().contains("user namespace"),
        "{}",
        s.output_text()
    );
    s.python("a", ATTACKS).await;
    s.python("hog", HOGS).await;
    let status = attack(&s, "a", json!({"attack": "status"})).await;
    assert_eq!(
        status["Uid"].as_str().unwrap().split_whitespace().next(),
        Some("993")
    );
    assert_eq!(status["CapEff"], "0000000000000000");
    assert_eq!(status["CapBnd"], "0000000000000000");
    assert_eq!(status["NoNewPrivs"], "1");
    assert_eq!(status["Seccomp"], "2");
    assert_eq!(
        attack(&s, "a", json!({"attack": "pids"})).await,
        json!([1, 2])
    );
    let write = attack(
        &s,
        "a",
        json!({"attack": "write_path", "path": "/var/task/app.py"}),
    )
    .await;
    assert_eq!(write["ok"], false, "{write}");
    let api_port: u16 = s.endpoint.rsplit(':').next().unwrap().parse().unwrap();
    let reach = attack(
        &s,
        "a",
        json!({"attack": "connect", "host": "127.0.0.1", "port": api_port}),
    )
    .await;
    assert_eq!(reach["ok"], false, "{reach}");
    // A memory bomb fails its allocation at the function's memory size.
    let bomb = s.invoke("hog", json!({"attack": "memory"})).await;
    assert_eq!(bomb.body["errorType"], "MemoryError", "{:?}", bomb.body);
    assert_eq!(attack(&s, "hog", json!({"attack": "ping"})).await, "pong");
}
