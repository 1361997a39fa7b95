//! Containment: noticing a process of a task that leaves its scope.
//!
//! A task's processes stay in its scope whatever they fork, unless something
//! moves one out: a user whose own systemd manager runs can ask it for a
//! scope of its own (`systemd-run --user --scope`), and the system manager
//! moves the process on its behalf. The sampler keeps, per task, the pids
//! it saw in `cgroup.procs` with their start times; a pid that is no longer
//! there but still runs, with the same start time (not a recycled pid), in
//! another cgroup has escaped. A process moved out before any sample saw
//! it in the scope is found too, as long as its parent is still in the
//! scope: each sample also reads the children of the scope's processes
//! (`systemd-run --user --scope CMD` from a task's shell is moved within
//! milliseconds of its fork). One whose parent left or ended between two
//! samples goes unnoticed.

use std::collections::HashMap;
use std::path::Path;

/// A process that left its task's scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escape {
    pub pid: u32,
    /// Its cgroup now, as in `/proc/<pid>/cgroup`.
    pub cgroup: String,
}

/// The processes seen in one scope.
#[derive(Debug, Default)]
pub struct Containment {
    /// pid -> start time (clock ticks after boot, field 22 of `stat`).
    known: HashMap<u32, u64>,
    /// Escapes already reported: pid -> start time.
    reported: HashMap<u32, u64>,
}

impl Containment {
    /// The scope at `scope` (a cgroup path, `/claudine.slice/...`) now holds
    /// `procs`: remember the new ones, and report those gone from it that
    /// still run elsewhere. `proc_root` is `/proc` (a directory in tests).
    ///
    /// A process may also have left before any look saw it in the scope:
    /// the children of the processes in the scope that are not in it are
    /// checked at every look.
    pub fn update(&mut self, proc_root: &Path, scope: &str, procs: &[u32]) -> Vec<Escape> {
        let mut escaped = Vec::new();
        for &pid in procs {
            let path = proc_root.join(format!("{pid}/task/{pid}/children"));
            let Ok(children) = std::fs::read_to_string(path) else {
                continue;
            };
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                if !procs.contains(&child) && !self.known.contains_key(&child) {
                    escaped.extend(self.report(proc_root, scope, child));
                }
            }
        }
        let mut now = HashMap::with_capacity(procs.len());
        for &pid in procs {
            let start = match self.known.remove(&pid) {
                Some(start) => Some(start),
                None => start_time(proc_root, pid),
            };
            if let Some(start) = start {
                now.insert(pid, start);
            }
        }
        for (pid, start) in std::mem::replace(&mut self.known, now) {
            if start_time(proc_root, pid) != Some(start) {
                continue; // ended (or the pid was reused)
            }
            escaped.extend(self.report(proc_root, scope, pid));
        }
        escaped.sort_by_key(|e| e.pid);
        escaped
    }

    /// `pid` as an escape if it runs outside `scope` and was not reported
    /// before (the same pid with the same start time).
    fn report(&mut self, proc_root: &Path, scope: &str, pid: u32) -> Option<Escape> {
        let start = start_time(proc_root, pid)?;
        if self.reported.get(&pid) == Some(&start) {
            return None;
        }
        let e = outside(proc_root, scope, pid)?;
        self.reported.insert(pid, start);
        Some(e)
    }
}

/// Process `pid` as an escape, if it runs outside `scope`.
fn outside(proc_root: &Path, scope: &str, pid: u32) -> Option<Escape> {
    let text = std::fs::read_to_string(proc_root.join(format!("{pid}/cgroup"))).ok()?;
    let cgroup = crate::cgroup::own_cgroup(&text)?;
    (!is_within(&cgroup, scope)).then_some(Escape { pid, cgroup })
}

/// `path` is `scope` or below it.
fn is_within(path: &str, scope: &str) -> bool {
    path == scope
        || path
            .strip_prefix(scope)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Field 22 of `/proc/<pid>/stat`; the command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
fn start_time(proc_root: &Path, pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(proc_root.join(format!("{pid}/stat"))).ok()?;
    parse_start_time(&stat)
}

fn parse_start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: state is field 3, start time field 22.
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(pid: u32, name: &str, start: u64) -> String {
        let mut f = vec!["S".to_string()];
        f.extend((4..22).map(|i| i.to_string()));
        f.push(start.to_string());
        f.extend(["0".into(), "0".into()]);
        format!("{pid} ({name}) {}\n", f.join(" "))
    }

    fn process(root: &Path, pid: u32, start: u64, cgroup: &str) {
        let dir = root.join(pid.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("stat"), stat(pid, "a b) c", start)).unwrap();
        std::fs::write(dir.join("cgroup"), format!("0::{cgroup}\n")).unwrap();
    }

    #[test]
    fn the_start_time_is_counted_after_the_name() {
        assert_eq!(parse_start_time(&stat(9, "x) (y", 4242)), Some(4242));
        assert_eq!(parse_start_time("9 (x) S 1"), None);
    }

    #[test]
    fn a_process_moved_out_is_reported_once_and_ended_or_reused_ones_are_not() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let scope = "/claudine.slice/claudine-task-5.scope";
        process(r, 10, 100, scope);
        process(r, 11, 110, scope);
        process(r, 12, 120, scope);
        process(r, 13, 130, scope);
        let mut c = Containment::default();
        assert!(c.update(r, scope, &[10, 11, 12, 13]).is_empty());
        // 11 moved to the user's manager, 12 ended, 13's pid was reused.
        let user = "/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope";
        process(r, 11, 110, user);
        std::fs::remove_dir_all(r.join("12")).unwrap();
        process(r, 13, 999, user);
        let escaped = c.update(r, scope, &[10]);
        assert_eq!(
            escaped,
            [Escape {
                pid: 11,
                cgroup: user.into()
            }]
        );
        assert!(c.update(r, scope, &[10]).is_empty(), "reported once");
    }

    #[test]
    fn a_child_gone_before_the_first_look_is_found_through_its_parent() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let scope = "/claudine.slice/claudine-task-6.scope";
        process(r, 20, 200, scope);
        process(r, 21, 210, "/elsewhere");
        process(r, 22, 220, scope);
        std::fs::create_dir_all(r.join("20/task/20")).unwrap();
        std::fs::write(r.join("20/task/20/children"), "21 22 ").unwrap();
        let mut c = Containment::default();
        let escaped = c.update(r, scope, &[20, 22]);
        assert_eq!(
            escaped,
            [Escape {
                pid: 21,
                cgroup: "/elsewhere".into()
            }]
        );
        assert!(c.update(r, scope, &[20, 22]).is_empty(), "reported once");
    }

    #[test]
    fn a_child_moved_out_between_two_looks_is_found_through_its_parent() {
        // `systemd-run --user --scope` from the task's shell: forked and
        // moved to the user's manager before any look saw it in the scope.
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let scope = "/claudine.slice/claudine-task-7.scope";
        process(r, 30, 300, scope);
        std::fs::create_dir_all(r.join("30/task/30")).unwrap();
        std::fs::write(r.join("30/task/30/children"), "").unwrap();
        let mut c = Containment::default();
        assert!(c.update(r, scope, &[30]).is_empty());
        let user = "/user.slice/user-1000.slice/user@1000.service/app.slice/run-r2.scope";
        process(r, 31, 310, user);
        std::fs::write(r.join("30/task/30/children"), "31").unwrap();
        assert_eq!(
            c.update(r, scope, &[30]),
            [Escape {
                pid: 31,
                cgroup: user.into()
            }]
        );
        assert!(c.update(r, scope, &[30]).is_empty(), "reported once");
    }

    #[test]
    fn below_the_scope_is_still_inside() {
        let scope = "/claudine.slice/claudine-task-5.scope";
        assert!(is_within(scope, scope));
        assert!(is_within(&format!("{scope}/sub"), scope));
        assert!(!is_within("/claudine.slice/claudine-task-50.scope", scope));
    }
}
