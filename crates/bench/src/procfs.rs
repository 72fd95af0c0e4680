//! What the bench reads of the server's processes in /proc: their tree, proportional set
//! size and CPU time.

/// Proportional set size of one process, in KiB (0 when it cannot be read).
pub fn pss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Proportional set size of a process tree, in KiB.
pub fn tree_pss_kib(root: u32) -> u64 {
    process_tree(root).into_iter().map(pss_kib).sum()
}

/// CPU time (ms) of a process and all its descendants, including reaped children.
pub fn tree_cpu_ms(root: u32) -> f64 {
    process_tree(root).into_iter().map(stat_cpu_ms).sum()
}

/// CPU time (ms) of one process's living threads, to the nanosecond (the scheduler's own
/// account in each task's `schedstat`; `stat` counts in 10 ms ticks).
pub fn cpu_ms(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .sum::<f64>()
        / 1e6
}

fn stat_cpu_ms(pid: u32) -> f64 {
    let tick = 100.0; // USER_HZ on Linux
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, r)| r)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime, stime, cutime, cstime are fields 14-17 of stat (11-14 after the name).
    (get(11) + get(12) + get(13) + get(14)) * 1000.0 / tick
}

/// A process and its descendants (at most 4,096), found through each task's `children`
/// list in /proc.
pub fn process_tree(root: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        if out.len() >= 4096 {
            break;
        }
        out.push(pid);
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for task in tasks.flatten() {
                if let Ok(children) = std::fs::read_to_string(task.path().join("children")) {
                    stack.extend(
                        children
                            .split_whitespace()
                            .filter_map(|c| c.parse::<u32>().ok()),
                    );
                }
            }
        }
    }
    out
}
