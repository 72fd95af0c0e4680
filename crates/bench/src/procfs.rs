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

/// CPU time (ms) of each process of a tree, by pid, each to the nanosecond ([`cpu_ms`]).
pub fn tree_cpu_each(root: u32) -> std::collections::HashMap<u32, f64> {
    process_tree(root)
        .into_iter()
        .map(|pid| (pid, cpu_ms(pid)))
        .collect()
}

/// CPU time (ms) a tree spent between two [`tree_cpu_each`] readings: what each process
/// living at the second spent since the first (all of it, if it was born since). A process
/// that ended in between is left out rather than taken back, so environments retired
/// meanwhile neither add what they spent before nor subtract it.
pub fn tree_cpu_between(
    before: &std::collections::HashMap<u32, f64>,
    after: &std::collections::HashMap<u32, f64>,
) -> f64 {
    after
        .iter()
        .map(|(pid, ms)| (ms - before.get(pid).copied().unwrap_or(0.0)).max(0.0))
        .sum()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_spends_what_its_living_processes_spent_in_between() {
        let before = [(1, 100.0), (2, 50.0), (3, 70.0)].into_iter().collect();
        // 3 ended (retired), 4 was born; 1 and 2 went on.
        let after = [(1, 130.0), (2, 55.0), (4, 5.0)].into_iter().collect();
        assert!((tree_cpu_between(&before, &after) - 40.0).abs() < 1e-9);
        assert_eq!(tree_cpu_between(&after, &after), 0.0);
        // Our own process, read twice, spent something and nothing less than nothing.
        let me = std::process::id();
        let first = tree_cpu_each(me);
        let spin = (0..std::hint::black_box(2_000_000u64)).fold(0u64, |a, x| a.wrapping_add(x * x));
        assert!(spin > 0);
        assert!(tree_cpu_between(&first, &tree_cpu_each(me)) > 0.0);
    }
}
