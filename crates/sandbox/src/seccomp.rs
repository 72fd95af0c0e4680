//! The seccomp filters every runtime runs under: a deny list of the calls a function has no
//! business making (namespaces, mounts, tracing, kernel modules, BPF, keyrings, io_uring,
//! userfaultfd, clock and host settings, ...), each failing with EPERM; `clone3` failing with
//! ENOSYS so that libc falls back to `clone`, whose namespace flags can be checked; and a
//! guard against x32 system call numbers, which would otherwise bypass a filter written for
//! x86-64 on kernels that have the x32 ABI.
//!
//! The three are chained into one program ([`filter`]): each one's "allow" goes on to the
//! next, and the first to refuse decides. The kernel runs every attached filter on every
//! system call and compiles each one as it is attached, so one program rather than three
//! costs a runtime's calls and each sandbox's start less. The outcome is the same: the three
//! never refuse the same call.

use std::collections::BTreeMap;
use std::io;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch, sock_filter,
};

/// Calls refused whatever their arguments.
const DENIED: &[i64] = &[
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_open_tree,
    libc::SYS_move_mount,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_process_madvise,
    libc::SYS_pidfd_getfd,
    libc::SYS_kcmp,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_userfaultfd,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_settimeofday,
    libc::SYS_adjtimex,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_reboot,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_syslog,
    libc::SYS_vhangup,
    libc::SYS_iopl,
    libc::SYS_ioperm,
    libc::SYS_uselib,
    libc::SYS_ustat,
    libc::SYS_sysfs,
    libc::SYS_lookup_dcookie,
    libc::SYS_fanotify_init,
];

/// Namespace flags `clone` may not carry.
const NAMESPACE_FLAGS: &[libc::c_int] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWCGROUP,
];

fn cond(
    arg: u8,
    len: SeccompCmpArgLen,
    op: SeccompCmpOp,
    value: u64,
) -> Result<SeccompCondition, seccompiler::BackendError> {
    SeccompCondition::new(arg, len, op, value)
}

fn deny_list() -> Result<SeccompFilter, seccompiler::BackendError> {
    use SeccompCmpArgLen::{Dword, Qword};
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED.iter().map(|&nr| (nr, Vec::new())).collect();
    let clone_rules = NAMESPACE_FLAGS
        .iter()
        .map(|&flag| {
            SeccompRule::new(vec![cond(
                0,
                Qword,
                SeccompCmpOp::MaskedEq(flag as u64),
                flag as u64,
            )?])
        })
        .collect::<Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_clone, clone_rules);
    rules.insert(
        libc::SYS_socket,
        vec![SeccompRule::new(vec![cond(
            0,
            Dword,
            SeccompCmpOp::Eq,
            libc::AF_PACKET as u64,
        )?])?],
    );
    rules.insert(
        libc::SYS_ioctl,
        vec![
            SeccompRule::new(vec![cond(1, Dword, SeccompCmpOp::Eq, libc::TIOCSTI)?])?,
            SeccompRule::new(vec![cond(1, Dword, SeccompCmpOp::Eq, libc::TIOCLINUX)?])?,
        ],
    );
    // personality(0) and the query personality(0xffffffff) are what runtimes use.
    rules.insert(
        libc::SYS_personality,
        vec![SeccompRule::new(vec![
            cond(0, Dword, SeccompCmpOp::Ne, 0)?,
            cond(0, Dword, SeccompCmpOp::Ne, 0xffff_ffff)?,
        ])?],
    );
    SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        TargetArch::x86_64,
    )
}

fn clone3_unavailable() -> Result<SeccompFilter, seccompiler::BackendError> {
    let rules = BTreeMap::from([(libc::SYS_clone3, Vec::new())]);
    SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        TargetArch::x86_64,
    )
}

/// `if nr >= 0x40000000 { EPERM } else { ALLOW }`: the x32 bit set on a system call number.
fn no_x32() -> BpfProgram {
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    let ret = |k: u32| sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k,
    };
    vec![
        // Load seccomp_data.nr (offset 0).
        sock_filter {
            code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
            jt: 0,
            jf: 0,
            k: 0,
        },
        sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: X32_SYSCALL_BIT,
        },
        ret(libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        ret(libc::SECCOMP_RET_ALLOW),
    ]
}

/// Joins `programs` into one that refuses what any of them refuses: each one's "allow"
/// becomes a jump past its end, to the next one's start; the last one's stays.
fn chain(programs: Vec<BpfProgram>) -> BpfProgram {
    let allow = sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: libc::SECCOMP_RET_ALLOW,
    };
    let last = programs.len().saturating_sub(1);
    let mut out = Vec::with_capacity(programs.iter().map(Vec::len).sum());
    for (n, program) in programs.into_iter().enumerate() {
        let len = program.len();
        out.extend(program.into_iter().enumerate().map(|(i, f)| {
            let is_allow = (f.code, f.k) == (allow.code, allow.k);
            if n == last || !is_allow {
                return f;
            }
            sock_filter {
                code: (libc::BPF_JMP | libc::BPF_JA) as u16,
                jt: 0,
                jf: 0,
                // Relative to the next instruction: to the first one after this program.
                k: (len - i - 1) as u32,
            }
        }));
    }
    out
}

/// The compiled filter, the three checks chained: x32 numbers first, then the deny list,
/// then `clone3`.
pub fn filter() -> io::Result<BpfProgram> {
    let compile =
        |f: SeccompFilter| BpfProgram::try_from(f).map_err(|e| io::Error::other(e.to_string()));
    let deny = deny_list().map_err(|e| io::Error::other(e.to_string()))?;
    let clone3 = clone3_unavailable().map_err(|e| io::Error::other(e.to_string()))?;
    Ok(chain(vec![no_x32(), compile(deny)?, compile(clone3)?]))
}

/// Installs the filter on the calling thread; `no_new_privs` must be set already.
pub fn install() -> io::Result<()> {
    seccompiler::apply_filter(&filter()?).map_err(|e| io::Error::other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chained_filter_refuses_what_each_check_refuses_and_nothing_else() {
        let program = filter().unwrap();
        assert!(
            program.len() > DENIED.len() + 4,
            "one jump at least per denied call, and the x32 guard"
        );
        // Installed in a child: a filter cannot be taken off this test process.
        // SAFETY: the child only makes system calls and leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            let errno = |nr: i64| -> i32 {
                // SAFETY: each call is given no pointer; a refused one fails before it runs.
                let rc = unsafe { libc::syscall(nr, 0, 0, 0) };
                if rc == -1 {
                    io::Error::last_os_error().raw_os_error().unwrap_or(-1)
                } else {
                    0
                }
            };
            let installed = nix::sys::prctl::set_no_new_privs().is_ok()
                && seccompiler::apply_filter(&program).is_ok();
            let outcome = [
                installed,
                // The deny list, the first program past the x32 guard.
                errno(libc::SYS_unshare) == libc::EPERM,
                errno(libc::SYS_ptrace) == libc::EPERM,
                // The last program, reached through the others' jumps.
                errno(libc::SYS_clone3) == libc::ENOSYS,
                // The x32 guard, first.
                errno(0x4000_0000 | libc::SYS_getpid) == libc::EPERM,
                // What none refuses runs.
                errno(libc::SYS_getppid) == 0,
            ];
            let code = outcome
                .iter()
                .position(|ok| !ok)
                .map_or(0, |i| 10 + i as i32);
            // SAFETY: leaves the forked child at once, running nothing of the test harness.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for the child forked above.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(
            libc::WIFEXITED(status),
            "the child ended by a signal: {status}"
        );
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "0 when every check held; 10 + the index of the first that did not"
        );
    }

    #[test]
    fn only_allows_become_jumps_and_the_last_program_keeps_its_own() {
        let ret = |k| sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k,
        };
        let deny = || ret(libc::SECCOMP_RET_ERRNO | libc::EPERM as u32);
        let allow = || ret(libc::SECCOMP_RET_ALLOW);
        let chained = chain(vec![vec![allow(), deny(), allow()], vec![deny(), allow()]]);
        let ja = (libc::BPF_JMP | libc::BPF_JA) as u16;
        let (r, denied, allowed) = (deny().code, deny().k, allow().k);
        let got: Vec<(u16, u32)> = chained.iter().map(|f| (f.code, f.k)).collect();
        assert_eq!(
            got,
            [
                (ja, 2), // past the first program's end
                (r, denied),
                (ja, 0), // its last one, to the next program
                (r, denied),
                (r, allowed), // the last program keeps its own
            ]
        );
    }
}
