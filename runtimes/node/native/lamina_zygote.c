/*
 * lamina-zygote.node: the system calls Lamina's Node.js zygote (zygote.cjs) needs and Node
 * has no API for: receiving descriptors, joining namespaces, forking, reaping through pidfds
 * and dropping privileges. Built by the executor crate's build.rs and embedded in the lamina
 * binary, like the bootstraps.
 *
 * It uses Node-API only, declared here rather than from node_api.h: its functions are a
 * stable C ABI that every Node.js since 10 exports, so the file builds without Node's headers
 * and loads in any Node.js version. Two more symbols come from the node binary: libuv's
 * uv_loop_fork, with which a forked child gets an event loop of its own, and V8's random
 * number generator, which a child reseeds (see reseed()). Where the binary lacks them, the
 * module says so at load and the platform starts Node.js runtimes instead of forking them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <dirent.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

typedef struct napi_env__ *napi_env;
typedef struct napi_value__ *napi_value;
typedef struct napi_callback_info__ *napi_callback_info;
typedef int napi_status;
typedef napi_value (*napi_callback)(napi_env, napi_callback_info);
typedef struct uv_loop_s uv_loop_t;

napi_status napi_create_function(napi_env, const char *, size_t, napi_callback, void *, napi_value *);
napi_status napi_set_named_property(napi_env, napi_value, const char *, napi_value);
napi_status napi_get_cb_info(napi_env, napi_callback_info, size_t *, napi_value *, napi_value *, void **);
napi_status napi_get_value_int32(napi_env, napi_value, int32_t *);
napi_status napi_get_value_int64(napi_env, napi_value, int64_t *);
napi_status napi_create_int32(napi_env, int32_t, napi_value *);
napi_status napi_create_array(napi_env, napi_value *);
napi_status napi_set_element(napi_env, napi_value, uint32_t, napi_value);
napi_status napi_get_element(napi_env, napi_value, uint32_t, napi_value *);
napi_status napi_get_array_length(napi_env, napi_value, uint32_t *);
napi_status napi_create_buffer_copy(napi_env, size_t, const void *, void **, napi_value *);
napi_status napi_get_buffer_info(napi_env, napi_value, void **, size_t *);
napi_status napi_get_null(napi_env, napi_value *);
napi_status napi_create_string_utf8(napi_env, const char *, size_t, napi_value *);
napi_status napi_throw_error(napi_env, const char *, const char *);
napi_status napi_get_uv_event_loop(napi_env, uv_loop_t **);

/* Weak: a node binary without them loads the module, which then refuses to fork. */
extern int uv_loop_fork(uv_loop_t *) __attribute__((weak));
extern void *_ZN2v87Isolate10GetCurrentEv(void) __attribute__((weak));
extern void *_ZN2v88internal7Isolate23random_number_generatorEv(void *) __attribute__((weak));
extern void _ZN2v84base21RandomNumberGenerator7SetSeedEl(void *, int64_t) __attribute__((weak));

#define MAX_ARGS 8
#define MAX_FDS 8
#define MAX_MESSAGE (1 << 20)

/* Throws `what: strerror(errno)` and returns NULL, which the caller returns. */
static napi_value fail(napi_env env, const char *what) {
    char text[256];
    snprintf(text, sizeof text, "%s: %s", what, strerror(errno));
    napi_throw_error(env, NULL, text);
    return NULL;
}

static napi_value int_value(napi_env env, int32_t n) {
    napi_value v;
    napi_create_int32(env, n, &v);
    return v;
}

static napi_value null_value(napi_env env) {
    napi_value v;
    napi_get_null(env, &v);
    return v;
}

/* The call's integer arguments; false (with an exception thrown) if one is missing. */
static int int_args(napi_env env, napi_callback_info info, int32_t *out, size_t n) {
    size_t argc = MAX_ARGS;
    napi_value argv[MAX_ARGS];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        if (i >= argc || napi_get_value_int32(env, argv[i], &out[i]) != 0) {
            napi_throw_error(env, NULL, "expected integer arguments");
            return 0;
        }
    }
    return 1;
}

/* recv(fd): [message, [descriptors]] of one SOCK_SEQPACKET message, or null at its end. */
static napi_value js_recv(napi_env env, napi_callback_info info) {
    int32_t fd;
    if (!int_args(env, info, &fd, 1)) return NULL;
    static char message[MAX_MESSAGE];
    union {
        char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {message, sizeof message};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    ssize_t n;
    do {
        n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return fail(env, "recvmsg");
    napi_value fds;
    napi_create_array(env, &fds);
    uint32_t count = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int *received = (int *)CMSG_DATA(c);
        for (size_t i = 0; i < k; i++) napi_set_element(env, fds, count++, int_value(env, received[i]));
    }
    if (n == 0 && count == 0) return null_value(env);
    napi_value body, pair;
    napi_create_buffer_copy(env, (size_t)n, message, NULL, &body);
    napi_create_array(env, &pair);
    napi_set_element(env, pair, 0, body);
    napi_set_element(env, pair, 1, fds);
    return pair;
}

/* poll([fds]): those of `fds` that are readable (or closed), waiting until one is. */
static napi_value js_poll(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1], list;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    uint32_t n = 0;
    if (argc < 1 || napi_get_array_length(env, argv[0], &n) != 0 || n == 0 || n > 4096) {
        napi_throw_error(env, NULL, "expected an array of descriptors");
        return NULL;
    }
    struct pollfd *fds = calloc(n, sizeof *fds);
    if (!fds) return fail(env, "poll");
    for (uint32_t i = 0; i < n; i++) {
        napi_value v;
        napi_get_element(env, argv[0], i, &v);
        napi_get_value_int32(env, v, &fds[i].fd);
        fds[i].events = POLLIN;
    }
    int rc;
    do {
        rc = poll(fds, n, -1);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        free(fds);
        return fail(env, "poll");
    }
    napi_create_array(env, &list);
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (fds[i].revents) napi_set_element(env, list, k++, int_value(env, fds[i].fd));
    }
    free(fds);
    return list;
}

/* setns(fd, nstype) */
static napi_value js_setns(napi_env env, napi_callback_info info) {
    int32_t a[2];
    if (!int_args(env, info, a, 2)) return NULL;
    if (setns(a[0], a[1]) != 0) return fail(env, "setns");
    return null_value(env);
}

/* V8 marks the memory it maps MADV_DONTFORK, which a fork would leave out of the child: the
 * heap, its code and its tables. Every mapping is made inheritable again before each fork. */
static int keep_on_fork(void) {
    FILE *maps = fopen("/proc/self/maps", "re");
    if (!maps) return -1;
    char line[512];
    while (fgets(line, sizeof line, maps)) {
        unsigned long start, end;
        if (sscanf(line, "%lx-%lx", &start, &end) == 2) {
            /* Refused only for mappings no fork copies anyway (VM_IO, VM_PFNMAP). */
            madvise((void *)start, end - start, MADV_DOFORK);
        }
        if (!strchr(line, '\n')) {
            int c;
            while ((c = fgetc(maps)) != EOF && c != '\n') {
            }
        }
    }
    fclose(maps);
    return 0;
}

/* V8 seeds Math.random, in each context at its first call, from the isolate's generator,
 * whose state a child would share with its zygote and with every other child. */
static int reseed(void) {
    void *isolate = _ZN2v87Isolate10GetCurrentEv();
    if (!isolate) return -1;
    void *rng = _ZN2v88internal7Isolate23random_number_generatorEv(isolate);
    int64_t seed;
    if (!rng || getrandom(&seed, sizeof seed, 0) != sizeof seed) return -1;
    _ZN2v84base21RandomNumberGenerator7SetSeedEl(rng, seed);
    return 0;
}

/* forkable(): whether this node binary has what a forked child needs. */
static napi_value js_forkable(napi_env env, napi_callback_info info) {
    (void)info;
    int ok = uv_loop_fork && _ZN2v87Isolate10GetCurrentEv &&
             _ZN2v88internal7Isolate23random_number_generatorEv &&
             _ZN2v84base21RandomNumberGenerator7SetSeedEl;
    return int_value(env, ok);
}

/* The open descriptors above standard error, each with what it is (device and inode). */
struct open_fd {
    int fd;
    dev_t dev;
    ino_t ino;
};

/* -1 when there are more than `max`: a descriptor left off the list would stay the zygote's
 * in the child. */
static int list_fds(struct open_fd *out, int max) {
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) return -1;
    int n = 0;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        int fd = atoi(entry->d_name);
        struct stat st;
        if (fd <= 2 || fd == dirfd(dir) || fstat(fd, &st) != 0) continue;
        if (n == max) {
            closedir(dir);
            errno = EMFILE;
            return -1;
        }
        out[n++] = (struct open_fd){fd, st.st_dev, st.st_ino};
    }
    closedir(dir);
    return n;
}

#define MAX_OPEN 1024
static struct open_fd before_fork[MAX_OPEN];

/* In a child: every descriptor it inherited from the zygote, but those in `keep`, now opens
 * /dev/null. They are the zygote's (its control socket, pidfds, the pipes of its other
 * children) and those of Node's threads, which the child does not have: their event loops'
 * pipes and eventfds, which the zygote and every other child share. /dev/null rather than
 * closed, since code that still holds such a number (a thread's loop, dead here) would
 * otherwise reach whatever file opens under it next. Those made during the fork (libuv's
 * handlers make its signal lock pipe anew) are not the zygote's and stay. */
static int detach_from_zygote(int count, const int32_t *keep, uint32_t kept) {
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0) return -1;
    /* The zygote's list, not /proc/self/fd: a new process's listing costs an inode per
     * descriptor, a tenth of a forked runtime's start. */
    for (int i = 0; i < count; i++) {
        struct stat st;
        int fd = before_fork[i].fd, kept_fd = fd == null;
        for (uint32_t j = 0; j < kept; j++) {
            if (keep[j] == fd) kept_fd = 1;
        }
        if (kept_fd || fstat(fd, &st) != 0) continue;
        int inherited = 0;
        for (int j = 0; j < count; j++) {
            if (before_fork[j].dev == st.st_dev && before_fork[j].ino == st.st_ino) inherited = 1;
        }
        if (inherited && dup3(null, fd, O_CLOEXEC) < 0) return -1;
    }
    close(null);
    return 0;
}

/* fork([keep]): as fork(2). The child has an event loop of its own (a copy would share the
 * zygote's epoll instance), no descriptor of the zygote's but those in `keep`, and its own
 * random seeds; a child that cannot have them ends. */
static napi_value js_fork(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    int32_t keep[MAX_FDS];
    uint32_t kept = 0;
    if (argc < 1 || napi_get_array_length(env, argv[0], &kept) != 0 || kept > MAX_FDS) {
        napi_throw_error(env, NULL, "fork: expected the descriptors to keep");
        return NULL;
    }
    for (uint32_t i = 0; i < kept; i++) {
        napi_value v;
        napi_get_element(env, argv[0], i, &v);
        if (napi_get_value_int32(env, v, &keep[i]) != 0) {
            napi_throw_error(env, NULL, "fork: expected the descriptors to keep");
            return NULL;
        }
    }
    if (!uv_loop_fork) {
        errno = ENOSYS;
        return fail(env, "fork");
    }
    if (keep_on_fork() != 0) return fail(env, "reading /proc/self/maps");
    int count = list_fds(before_fork, MAX_OPEN);
    if (count < 0) return fail(env, "reading /proc/self/fd");
    pid_t pid = fork();
    if (pid < 0) return fail(env, "fork");
    if (pid == 0) {
        uv_loop_t *loop;
        if (detach_from_zygote(count, keep, kept) != 0 || napi_get_uv_event_loop(env, &loop) != 0 ||
            uv_loop_fork(loop) != 0 || reseed() != 0) {
            static const char why[] = "lamina: a forked Node.js runtime could not set itself up\n";
            (void)!write(2, why, sizeof why - 1);
            _exit(125);
        }
    }
    return int_value(env, pid);
}

/* pidfd(pid) */
static napi_value js_pidfd(napi_env env, napi_callback_info info) {
    int32_t pid;
    if (!int_args(env, info, &pid, 1)) return NULL;
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0) return fail(env, "pidfd_open");
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    return int_value(env, fd);
}

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* reap(pidfd): how the process ended ("e<code>" or "s<signal>"), or null if it runs. */
static napi_value js_reap(napi_env env, napi_callback_info info) {
    int32_t fd;
    if (!int_args(env, info, &fd, 1)) return NULL;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid((idtype_t)P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG) != 0) return fail(env, "waitid");
    if (si.si_pid == 0) return null_value(env);
    char how[32];
    if (si.si_code == CLD_EXITED) {
        snprintf(how, sizeof how, "e%d", si.si_status);
    } else {
        snprintf(how, sizeof how, "s%d", si.si_status);
    }
    napi_value v;
    napi_create_string_utf8(env, how, strlen(how), &v);
    return v;
}

/* dup2(from, to) */
static napi_value js_dup2(napi_env env, napi_callback_info info) {
    int32_t a[2];
    if (!int_args(env, info, a, 2)) return NULL;
    if (dup2(a[0], a[1]) < 0) return fail(env, "dup2");
    return null_value(env);
}

/* closeFrom(fd): closes every descriptor from fd on. */
static napi_value js_close_from(napi_env env, napi_callback_info info) {
    int32_t from;
    if (!int_args(env, info, &from, 1)) return NULL;
    if (syscall(SYS_close_range, (unsigned)from, ~0U, 0) != 0) return fail(env, "close_range");
    return null_value(env);
}

/* exit(code): ends the process at once. A forked runtime cannot end the way Node does: Node
 * then joins its platform's threads, which a fork left behind in the zygote. Standard output
 * and error are pipes or files here, which Node writes synchronously: nothing is lost. */
static napi_value js_exit(napi_env env, napi_callback_info info) {
    int32_t code;
    if (!int_args(env, info, &code, 1)) return NULL;
    _exit(code & 0xff);
}

static int set_limit(int resource, int64_t value) {
    struct rlimit limit = {(rlim_t)value, (rlim_t)value};
    return setrlimit(resource, &limit);
}

/* dropPrivileges(nofile, dataLimit or -1, gid, uid, [seccomp programs]): as a runtime the
 * sandbox starts itself drops them, in the same order: rlimits, an empty bounding set, no
 * ambient capabilities, the sandbox's gid and uid, no capabilities, no_new_privs, seccomp. */
static napi_value js_drop_privileges(napi_env env, napi_callback_info info) {
    size_t argc = 5;
    napi_value argv[5];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    int64_t nofile, data_limit, gid, uid;
    uint32_t programs = 0;
    if (argc < 5 || napi_get_value_int64(env, argv[0], &nofile) != 0 ||
        napi_get_value_int64(env, argv[1], &data_limit) != 0 ||
        napi_get_value_int64(env, argv[2], &gid) != 0 || napi_get_value_int64(env, argv[3], &uid) != 0 ||
        napi_get_array_length(env, argv[4], &programs) != 0) {
        napi_throw_error(env, NULL, "dropPrivileges: bad arguments");
        return NULL;
    }
    if (set_limit(RLIMIT_NOFILE, nofile) != 0) return fail(env, "RLIMIT_NOFILE");
    if (set_limit(RLIMIT_CORE, 0) != 0) return fail(env, "RLIMIT_CORE");
    if (data_limit >= 0 && set_limit(RLIMIT_DATA, data_limit) != 0) return fail(env, "RLIMIT_DATA");
    int last_cap = 40;
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
    if (f) {
        if (fscanf(f, "%d", &last_cap) != 1) last_cap = 40;
        fclose(f);
    }
    for (int cap = 0; cap <= last_cap; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) return fail(env, "dropping the bounding set");
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) return fail(env, "ambient set");
    if (setgroups(0, NULL) != 0) return fail(env, "setgroups");
    if (setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) != 0) return fail(env, "setresgid");
    if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0) return fail(env, "setresuid");
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &header, data) != 0) return fail(env, "capset");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail(env, "no_new_privs");
    for (uint32_t i = 0; i < programs; i++) {
        napi_value v;
        void *bytes;
        size_t len;
        napi_get_element(env, argv[4], i, &v);
        if (napi_get_buffer_info(env, v, &bytes, &len) != 0 || len == 0 ||
            len % sizeof(struct sock_filter) != 0) {
            napi_throw_error(env, NULL, "dropPrivileges: a seccomp program is not a Buffer of filters");
            return NULL;
        }
        struct sock_fprog prog = {(unsigned short)(len / sizeof(struct sock_filter)), bytes};
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) return fail(env, "seccomp");
    }
    return null_value(env);
}

static void export(napi_env env, napi_value exports, const char *name, napi_callback cb) {
    napi_value f;
    napi_create_function(env, name, strlen(name), cb, NULL, &f);
    napi_set_named_property(env, exports, name, f);
}

napi_value napi_register_module_v1(napi_env env, napi_value exports) {
    export(env, exports, "recv", js_recv);
    export(env, exports, "poll", js_poll);
    export(env, exports, "setns", js_setns);
    export(env, exports, "forkable", js_forkable);
    export(env, exports, "fork", js_fork);
    export(env, exports, "pidfd", js_pidfd);
    export(env, exports, "reap", js_reap);
    export(env, exports, "dup2", js_dup2);
    export(env, exports, "closeFrom", js_close_from);
    export(env, exports, "dropPrivileges", js_drop_privileges);
    export(env, exports, "exit", js_exit);
    return exports;
}
