"""Lamina's zygote for the managed python3.x runtimes.

Started by the platform (as root, on the host, never inside a sandbox) with the interpreter
and flags of a pre-started runtime, it loads Lamina's bootstrap (its imports done, its
`main` not called), freezes the heap's objects out of the collector's reach, and waits. For
each request the platform sends (a sandbox built to the end, waiting with no runtime), it
forks a child that joins that sandbox and becomes its runtime:

1. the zygote joins the sandbox's pid namespace for its children only (setns of
   CLONE_NEWPID through a pidfd of the sandbox's PID 1), forks, and goes back to its own:
   the child, the runtime, is born inside the sandbox's pid namespace, with one fork and
   one copy of the zygote's page tables;
2. the child joins the sandbox's cgroups and its mount, network, ipc, uts and cgroup
   namespaces (one setns; its root becomes the sandbox's root), and its host pid goes back
   to the platform. The zygote stays its parent (the sandbox's PID 1 cannot be: a process
   born of one outside the namespace has its parent outside) and, when the runtime ends,
   writes how (`e<code>` or `s<signal>`) on the pipe the platform gave for it, which PID 1
   reads to end the sandbox the same way;
3. the runtime drops every privilege exactly as a runtime the sandbox starts itself: the
   sandbox's rlimits, an empty capability bounding set, uid 993 and gid 990, no capabilities,
   no_new_privs, and the platform's seccomp filter (sent once, compiled);
4. it then runs the bootstrap's `main`, which waits on standard input for the function's
   environment as a pre-started runtime does.

The zygote never runs a function's code and never reads what a runtime sends. Once its
control socket closes (the platform replaced it, or ended), it forks no more and exits when
the last of its runtimes has ended. A child shares
no writable memory with it: fork copies every private page on write, and nothing here maps
memory shared. It does share its layout (the addresses of libraries and heap) and the
interpreter's hash seed, so the platform replaces a zygote after a number of forks and an age.

Messages come on standard input, a SOCK_SEQPACKET socket: one JSON object each, with
descriptors beside it. This file is embedded in the lamina binary.
"""

import ctypes
import gc
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
import types

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
# Joined by the runtime itself; the pid namespace is joined by the zygote, for its children.
JOINED = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET

PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SYS_CAPGET = 125
SYS_CAPSET = 126
LINUX_CAPABILITY_VERSION_3 = 0x20080522

libc = ctypes.CDLL(None, use_errno=True)
# Read on the host at start: a runtime drops its privileges before it looks at anything of
# its sandbox.
with open("/proc/sys/kernel/cap_last_cap") as _f:
    LAST_CAP = int(_f.read())


def check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def load_bootstrap(host_path, seen_path):
    """The bootstrap as a module named as in a runtime the sandbox starts itself, compiled
    with the path the sandbox shows, so that tracebacks never name a host path."""
    with open(host_path, "rb") as f:
        code = compile(f.read(), seen_path, "exec")
    module = types.ModuleType("__main__")
    module.__file__ = seen_path
    # Not "__main__" yet: its main() would run now.
    module.__dict__["__name__"] = "lamina_bootstrap"
    exec(code, module.__dict__)
    module.__dict__["__name__"] = "__main__"
    # What it defined says it comes from __main__, as in a runtime started with it.
    for value in list(module.__dict__.values()):
        if getattr(value, "__module__", None) == "lamina_bootstrap":
            value.__module__ = "__main__"
    return module


def warm_up():
    """Does once here what each runtime would otherwise do for the first time after the fork:
    ctypes makes a foreign function's object and call interface at its first use, and libc
    reads its address configuration at the first getaddrinfo. Made here, before the heap is
    frozen, they are shared with every child rather than built (and their pages copied) in
    each. Every call is harmless: a query, a read, a call refused for its bad descriptor."""
    libc.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    libc.syscall(SYS_CAPGET, header, data)
    libc.setns(-1, 0)
    program = ctypes.create_string_buffer(8)
    ctypes.byref(SockFprog(1, ctypes.addressof(program)))
    try:
        # The Runtime API's address, as the bootstrap's client connects to it.
        socket.getaddrinfo("127.0.0.1", 9001, 0, socket.SOCK_STREAM)
    except OSError:
        pass


def join_sandbox(req, pidfd):
    # A forked child has one thread, so moving the thread moves the process; in a cgroup v1
    # hierarchy, `tasks` does that without the kernel's lock on every thread group, whose
    # RCU grace period made a lone cold start wait (see the sandbox crate's cgroup::join).
    for directory in req["cgroups"]:
        tasks = os.path.join(directory, "tasks")
        target = tasks if os.path.exists(tasks) else os.path.join(directory, "cgroup.procs")
        with open(target, "w") as f:
            f.write("0")
    check(libc.setns(pidfd, JOINED), "setns")


def drop_privileges(req, filters):
    resource.setrlimit(resource.RLIMIT_NOFILE, (req["nofile"], req["nofile"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if req.get("data_limit") is not None:
        resource.setrlimit(resource.RLIMIT_DATA, (req["data_limit"], req["data_limit"]))
    for cap in range(LAST_CAP + 1):
        check(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "dropping the bounding set")
    check(libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "ambient set")
    os.setgroups([])
    os.setresgid(req["gid"], req["gid"], req["gid"])
    os.setresuid(req["uid"], req["uid"], req["uid"])
    header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    check(libc.syscall(SYS_CAPSET, header, data), "capset")
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    for program in filters:
        buf = ctypes.create_string_buffer(program, len(program))
        prog = SockFprog(len(program) // 8, ctypes.addressof(buf))
        check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), "seccomp")


def become_runtime(req, fds, filters, bootstrap):
    """In the forked child, born into the sandbox's pid namespace: join the sandbox, tell
    the platform its host pid on the reply pipe, drop every privilege and run the bootstrap.
    Never returns."""
    pidfd, stdin, output, reply, _ended = fds
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        # /proc is still the host's: its "self" is the host pid.
        host_pid = int(os.readlink("/proc/self"))
        join_sandbox(req, pidfd)
    except BaseException as e:  # noqa: BLE001 - every failure goes back to the platform
        os.write(reply, ("err %s" % e).encode())
        os._exit(1)
    os.write(reply, b"ok %d" % host_pid)
    # The runtime, in the sandbox's pid namespace.
    try:
        os.dup2(stdin, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.closerange(3, 1 << 20)
        os.chdir("/")
        drop_privileges(req, filters)
    except BaseException as e:  # noqa: BLE001
        os.write(2, ("lamina sandbox: a forked runtime could not drop its privileges: %s\n" % e).encode())
        os._exit(126)
    sys.argv = [bootstrap.__file__]
    sys.path[0] = os.path.dirname(bootstrap.__file__)
    sys.modules["__main__"] = bootstrap
    os._exit(run(bootstrap.main))


def run(entry):
    """Runs `entry` and ends as the interpreter would have: exit handlers run, output
    flushed, the status of a SystemExit, or 1 after printing an uncaught exception."""
    import atexit
    import traceback

    status = 0
    try:
        entry()
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            status = e.code or 0
        else:
            print(e.code, file=sys.stderr)
            status = 1
    except BaseException as e:  # noqa: BLE001 - as the interpreter reports an uncaught one
        # From the bootstrap's frame on: this file's own frames would name a host path.
        traceback.print_exception(type(e), e, e.__traceback__.tb_next)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream at exit is no failure
            pass
    return status


def fork_into(fds, own_pid_ns):
    """Forks a child born into the pid namespace of the sandbox whose PID 1 `fds[0]` names;
    returns as fork does, or -1 after telling the platform why not (on the reply pipe)."""
    try:
        check(libc.setns(fds[0], CLONE_NEWPID), "joining the sandbox's pid namespace")
    except OSError as e:
        os.write(fds[3], ("err %s" % e).encode())
        return -1
    try:
        child = os.fork()
    except OSError as e:
        os.write(fds[3], ("err fork: %s" % e).encode())
        child = -1
    if child != 0:
        # Children to come are born in the zygote's own pid namespace again; a zygote that
        # cannot go back ends (the platform starts another).
        check(libc.setns(own_pid_ns, CLONE_NEWPID), "going back to the zygote's pid namespace")
    return child


class Runtimes:
    """The zygote's children, the runtimes, with the pipe on which each one's end is told."""

    def __init__(self):
        self.running = {}  # a runtime -> its pipe

    def reap(self):
        ended = []
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            ended.append((pid, status))
        for pid, status in ended:
            pipe = self.running.pop(pid, None)
            if pipe is None:
                continue
            if os.WIFSIGNALED(status):
                how = "s%d" % os.WTERMSIG(status)
            else:
                how = "e%d" % os.WEXITSTATUS(status)
            try:
                os.write(pipe, how.encode())
            except OSError:
                pass
            os.close(pipe)

    def empty(self):
        return not self.running


def receive(control, fds_space):
    """One request and its descriptors; None at the end of the control socket."""
    message, ancillary, _flags, _addr = control.recvmsg(1 << 20, fds_space)
    if not message:
        return None
    fds = []
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.extend(struct.unpack("%di" % (len(data) // 4), data[: len(data) - len(data) % 4]))
    return json.loads(message), fds


def main():
    host_bootstrap, seen_bootstrap = sys.argv[1], sys.argv[2]
    control = socket.socket(fileno=0)
    own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    bootstrap = load_bootstrap(host_bootstrap, seen_bootstrap)
    warm_up()
    # Objects that exist now are never collected: the collector then never writes to their
    # pages in a child, which keeps more of them shared.
    gc.freeze()
    wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda _signal, _frame: None)
    fds_space = socket.CMSG_SPACE(5 * struct.calcsize("i"))
    hello = receive(control, fds_space)
    if hello is None:
        return
    filters = [bytes.fromhex(p) for p in hello[0]["seccomp"]]
    control.send(b"ready")
    runtimes = Runtimes()
    listening = True
    while listening or not runtimes.empty():
        readable, _, _ = select.select([wake_read] + ([control] if listening else []), [], [])
        if wake_read in readable:
            try:
                while os.read(wake_read, 512):
                    pass
            except BlockingIOError:
                pass
            runtimes.reap()
        if control not in readable:
            continue
        received = receive(control, fds_space)
        if received is None:
            listening = False
            continue
        req, fds = received
        if len(fds) != 5:
            for fd in fds:
                os.close(fd)
            continue
        child = fork_into(fds, own_pid_ns)
        if child == 0:
            # Whatever happens in the child, it never comes back to this loop.
            try:
                control.close()
                become_runtime(req, fds, filters, bootstrap)
            finally:
                os._exit(1)
        for fd in fds[:4]:
            os.close(fd)
        if child > 0:
            runtimes.running[child] = fds[4]
        else:
            os.close(fds[4])
        runtimes.reap()


if __name__ == "__main__":
    main()
