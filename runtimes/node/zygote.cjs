// Lamina's zygote for the managed nodejsN.x runtimes: the same protocol and the same steps as
// the Python zygote (runtimes/python/zygote.py, whose header says them in full), with the
// system calls Node has no API for in lamina-zygote.node (native/lamina_zygote.c).
//
// Started by the platform (as root, on the host, never inside a sandbox) with the node binary
// of the runtime and `--single-threaded`, it loads Lamina's bootstrap under the path the
// sandbox shows, warms it up (one HTTP exchange and one ES module import, as a runtime
// started ahead of time does), and forks one child per request into the sandbox it names.
// The child joins the sandbox, drops every privilege and starts the bootstrap, which waits
// on standard input for its function's environment.
//
// Why single-threaded: a fork keeps only the thread that called it. Node's other threads run
// V8's background work (garbage collection, optimising compilers), which in a child would be
// posted and never run; with `--single-threaded` V8 does that work on the main thread, in
// the zygote and in every child alike. Node's thread pool (files, DNS, zlib, crypto) starts
// anew in a child at its first use. Node's own exit joins the threads the child does not
// have, so a child ends with _exit once Node has run its `exit` listeners and written what
// an uncaught exception prints.
//
// The zygote never runs a function's code and never reads what a runtime sends. This file is
// embedded in the lamina binary.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');

const z = require(path.join(__dirname, 'lamina-zygote.node'));

const CLONE_NEWNS = 0x00020000;
const CLONE_NEWCGROUP = 0x02000000;
const CLONE_NEWUTS = 0x04000000;
const CLONE_NEWIPC = 0x08000000;
const CLONE_NEWPID = 0x20000000;
const CLONE_NEWNET = 0x40000000;
// Joined by the runtime itself; the pid namespace is joined by the zygote, for its children.
const JOINED = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET;

// The bootstrap as a module of the path the sandbox shows, so that no stack names a host path.
function loadBootstrap(hostPath, seenPath) {
  const bootstrap = new Module(seenPath, null);
  bootstrap.filename = seenPath;
  bootstrap.paths = Module._nodeModulePaths(path.dirname(seenPath));
  bootstrap._compile(fs.readFileSync(hostPath, 'utf8'), seenPath);
  return bootstrap;
}

// Node's end, without the joins of threads a forked child does not have: `exit` listeners run
// as Node runs them, an uncaught exception is printed, then the process ends at once.
function endWithoutJoins() {
  let uncaught;
  process.on('uncaughtExceptionMonitor', (error) => {
    uncaught = error;
  });
  const emit = process.emit;
  process.emit = function (name, ...args) {
    const result = emit.call(this, name, ...args);
    // Node sets _exiting before it emits its own `exit`; an `exit` emitted by code is only
    // an event.
    if (name === 'exit' && process._exiting) {
      if (uncaught !== undefined && process.listenerCount('uncaughtException') === 0) {
        const text = uncaught instanceof Error && uncaught.stack ? uncaught.stack : require('node:util').inspect(uncaught);
        fs.writeSync(2, `${text}\n\nNode.js ${process.version}\n`);
      }
      z.exit(process.exitCode ?? args[0] ?? 0);
    }
    return result;
  };
  process.reallyExit = (code) => z.exit(code ?? 0);
}

// In the forked child, born in the sandbox's pid namespace: joins the sandbox, tells the
// platform its host pid, drops every privilege and starts the bootstrap. Never returns to the
// zygote's loop.
function becomeRuntime(req, fds, filters, bootstrap) {
  const [pidfd, stdin, output, reply] = fds;
  try {
    // /proc is still the host's: its "self" is the host pid.
    const hostPid = Number(fs.readlinkSync('/proc/self'));
    // One thread: moving it moves the process, through `tasks` where cgroup v1 has it (as
    // the Python zygote's children do, and for the same reason).
    for (const dir of req.cgroups) {
      const tasks = path.join(dir, 'tasks');
      fs.writeFileSync(fs.existsSync(tasks) ? tasks : path.join(dir, 'cgroup.procs'), '0');
    }
    z.setns(pidfd, JOINED);
    fs.writeSync(reply, `ok ${hostPid}`);
  } catch (e) {
    fs.writeSync(reply, `err ${e.message}`);
    z.exit(1);
  }
  try {
    z.dup2(stdin, 0);
    z.dup2(output, 1);
    z.dup2(output, 2);
    // Not a range: libuv's own descriptors (its event loop, made anew by the fork) stay, and
    // the fork left every other one of the zygote's opening /dev/null.
    for (const fd of fds) fs.closeSync(fd);
    process.chdir('/');
    z.dropPrivileges(req.nofile, req.data_limit ?? -1, req.gid, req.uid, filters);
  } catch (e) {
    fs.writeSync(2, `lamina sandbox: a forked runtime could not drop its privileges: ${e.message}\n`);
    z.exit(126);
  }
  endWithoutJoins();
  // As in a runtime the sandbox starts: its pid in the sandbox, the bootstrap as its script.
  Object.defineProperty(process, 'pid', { value: Number(fs.readlinkSync('/proc/self')), enumerable: true, configurable: true });
  process.argv = [process.argv[0], bootstrap.filename];
  process.mainModule = bootstrap;
  bootstrap.exports.start({ warmedUp: true });
}

// Forks a child born into the pid namespace of the sandbox whose PID 1 `fds[0]` names;
// returns as fork does, or -1 after telling the platform why not (on the reply pipe).
function forkInto(fds, ownPidNs) {
  try {
    z.setns(fds[0], CLONE_NEWPID);
  } catch (e) {
    fs.writeSync(fds[3], `err joining the sandbox's pid namespace: ${e.message}`);
    return -1;
  }
  let child;
  try {
    child = z.fork(fds);
  } catch (e) {
    fs.writeSync(fds[3], `err ${e.message}`);
    child = -1;
  }
  // Children to come are born in the zygote's own pid namespace again; a zygote that cannot
  // go back ends (the platform starts another).
  if (child !== 0) z.setns(ownPidNs, CLONE_NEWPID);
  return child;
}

// A full collection before the first fork: what the zygote left is compacted into fewer
// pages, which every child then shares rather than copies at its first collection. The
// collector is reached through a context of its own, so that no `gc` global is left behind.
function collectGarbage() {
  const v8 = require('node:v8');
  v8.setFlagsFromString('--expose-gc');
  const gc = require('node:vm').runInNewContext('gc');
  v8.setFlagsFromString('--no-expose-gc');
  gc();
}

function receive(control) {
  const got = z.recv(control);
  if (got === null) return null;
  const [message, fds] = got;
  return { req: message.length ? JSON.parse(message.toString('utf8')) : null, fds };
}

async function main() {
  const [hostBootstrap, seenBootstrap] = process.argv.slice(2);
  if (!z.forkable()) {
    fs.writeSync(2, `lamina zygote: this Node.js (${process.version}) cannot fork runtimes\n`);
    z.exit(1);
  }
  const control = 0;
  const ownPidNs = fs.openSync('/proc/self/ns/pid', 'r');
  const bootstrap = loadBootstrap(hostBootstrap, seenBootstrap);
  await bootstrap.exports.warmUp();
  // What the warm-up closed, closed for good before the first fork.
  await new Promise((resolve) => setImmediate(resolve));
  collectGarbage();
  const hello = receive(control);
  if (hello === null || hello.req === null) z.exit(0);
  const filters = hello.req.seccomp.map((hex) => Buffer.from(hex, 'hex'));
  fs.writeSync(control, 'ready');
  // A runtime's pidfd -> the pipe on which its end is told.
  const running = new Map();
  let listening = true;
  while (listening || running.size > 0) {
    const readable = z.poll([...(listening ? [control] : []), ...running.keys()]);
    for (const fd of readable) {
      if (fd === control) continue;
      const how = z.reap(fd);
      if (how === null) continue;
      const pipe = running.get(fd);
      running.delete(fd);
      try {
        fs.writeSync(pipe, how);
      } catch (e) {
        // PID 1 is gone: nobody to tell.
      }
      fs.closeSync(pipe);
      fs.closeSync(fd);
    }
    if (!readable.includes(control)) continue;
    const received = receive(control);
    if (received === null) {
      listening = false;
      continue;
    }
    const { req, fds } = received;
    if (req === null || fds.length !== 5) {
      for (const fd of fds) fs.closeSync(fd);
      continue;
    }
    const child = forkInto(fds, ownPidNs);
    if (child === 0) {
      try {
        becomeRuntime(req, fds, filters, bootstrap);
      } catch (e) {
        fs.writeSync(2, `lamina sandbox: a forked runtime failed: ${e && e.stack}\n`);
        z.exit(1);
      }
      // The child's event loop now runs the bootstrap.
      return;
    }
    for (const fd of fds.slice(0, 4)) fs.closeSync(fd);
    if (child > 0) {
      running.set(z.pidfd(child), fds[4]);
    } else {
      fs.closeSync(fds[4]);
    }
  }
  z.exit(0);
}

main().catch((e) => {
  fs.writeSync(2, `lamina zygote failed: ${e && e.stack}\n`);
  z.exit(1);
});
