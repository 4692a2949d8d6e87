//! Which CPUs a stack's loops are pinned to when `--cores` is not given.
//!
//! Every loop busy-polls its CPU, so two stacks on one host (say `load` on one
//! end of a veth and `serve` on the other) must not share one: with the old
//! default (loop *i* on CPU *i*) both put loop 0 on CPU 0 and request/response
//! fell by half. By default a stack now takes the CPUs no other running stack's
//! loops are pinned to, and refuses to start when none is left.
//!
//! The running stacks are known from their control sockets
//! ([`crate::control::CONTROL_DIR`], every network namespace): each answers
//! `cpus` with the CPUs of its loops. A lock file in the same directory is held
//! from the choice until the new stack's control socket answers, so stacks
//! started at the same moment see each other. A stack without a control socket
//! is not seen by the others.

use std::fs::File;
use std::path::Path;

/// How a stack's CPUs were chosen (shown in the `ready` line as `pin=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpuChoice {
    /// Given explicitly (`--cores`, [`crate::StackConfig::cores`]).
    Given,
    /// Picked from the CPUs no other running stack uses; `busy` are the CPUs
    /// the other stacks' loops were found on (sorted, deduplicated).
    Free {
        /// CPUs of the other running stacks.
        busy: Vec<usize>,
    },
}

impl CpuChoice {
    /// `cores` (given) or `free` (picked), the `pin=` value of the `ready` line.
    pub fn as_str(&self) -> &'static str {
        match self {
            CpuChoice::Given => "cores",
            CpuChoice::Free { .. } => "free",
        }
    }

    /// The CPUs other stacks were found on (empty when the CPUs were given).
    pub fn busy(&self) -> &[usize] {
        match self {
            CpuChoice::Given => &[],
            CpuChoice::Free { busy } => busy,
        }
    }
}

/// The CPUs for `loops` loops, picked from `online` (the CPUs this process may
/// run on, in order) minus `busy` (those of other stacks): loop *i* on the
/// *i*-th free CPU, cycling when there are more loops than free CPUs. `None`
/// when no CPU is free. An empty `online` (the affinity could not be read)
/// counts as CPU 0 only.
pub fn pick_free(online: &[usize], busy: &[usize], loops: usize) -> Option<Vec<usize>> {
    let online: &[usize] = if online.is_empty() { &[0] } else { online };
    let free: Vec<usize> = online.iter().copied().filter(|c| !busy.contains(c)).collect();
    if free.is_empty() {
        return None;
    }
    Some((0..loops).map(|i| free[i % free.len()]).collect())
}

/// The one line a stack that finds no free CPU fails with.
pub fn no_free_cpu_message(online: &[usize], busy: &[usize]) -> String {
    let list = |v: &[usize]| v.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
    format!(
        "no free CPU: other running stacks pin their loops to CPUs {} (this process may use {}); pass --cores LIST to share CPUs explicitly",
        list(busy),
        list(online)
    )
}

/// The CPU lock: an exclusive `flock` on `<dir>/cpus.lock`, released on drop.
#[derive(Debug)]
pub struct CpuLock {
    _file: File,
}

impl CpuLock {
    /// Take the lock in `dir` (created if missing), waiting for a stack that is
    /// choosing its CPUs. `None` when the directory or file cannot be made (not
    /// root): the choice is then made without the lock.
    pub fn take(dir: &Path) -> Option<CpuLock> {
        std::fs::create_dir_all(dir).ok()?;
        let file = File::options().create(true).truncate(false).write(true).open(dir.join("cpus.lock")).ok()?;
        file.lock().ok()?;
        Some(CpuLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_cpus_others_leave() {
        // Nothing else runs: the old default, loop i on CPU i.
        assert_eq!(pick_free(&[0, 1, 2, 3], &[], 2), Some(vec![0, 1]));
        // One stack on CPU 0: the next goes to 1 (the load/serve pair).
        assert_eq!(pick_free(&[0, 1], &[0], 1), Some(vec![1]));
        // More loops than free CPUs: they cycle over the free ones only.
        assert_eq!(pick_free(&[0, 1, 2, 3], &[0, 2], 3), Some(vec![1, 3, 1]));
        // Affinity restricted to 4,5 with 4 busy.
        assert_eq!(pick_free(&[4, 5], &[4, 9], 2), Some(vec![5, 5]));
        // Everything taken: refuse.
        assert_eq!(pick_free(&[0, 1], &[1, 0], 1), None);
        assert_eq!(pick_free(&[], &[], 2), Some(vec![0, 0]));
        assert_eq!(pick_free(&[], &[0], 1), None);
    }

    #[test]
    fn refusal_names_cores() {
        let m = no_free_cpu_message(&[0, 1], &[0, 1]);
        assert!(m.contains("--cores") && m.contains("CPUs 0,1") && !m.contains('\n'), "{m}");
    }

    #[test]
    fn choice_names() {
        assert_eq!(CpuChoice::Given.as_str(), "cores");
        assert_eq!(CpuChoice::Free { busy: vec![0] }.as_str(), "free");
        assert_eq!(CpuChoice::Free { busy: vec![0] }.busy(), &[0]);
    }
}
