//! The scope's final cgroup figures for the exit record.
//!
//! The supervisor lives in the task's scope, so its own cgroup (the `0::`
//! line of `/proc/self/cgroup`) is the scope. After reaping the command it
//! reads `memory.peak`, `memory.events` and `cpu.stat` there: the scope is
//! stopped right after, and these figures go with it. A file that is not
//! there (a controller not enabled, cgroup v1) leaves its fields `None`.

use super::spec::FinalUsage;
use crate::cgroup::{own_cgroup, CgroupError, CgroupReader, DEFAULT_ROOT};

fn take<T>(read: Result<Option<T>, CgroupError>, problems: &mut Vec<String>) -> Option<T> {
    read.unwrap_or_else(|e| {
        problems.push(e.to_string());
        None
    })
}

/// The figures of the cgroup named in `proc_self_cgroup` (the text of
/// `/proc/self/cgroup`) below `reader`'s root, and what could not be read.
pub fn final_usage(reader: &CgroupReader, proc_self_cgroup: &str) -> (FinalUsage, Vec<String>) {
    let mut usage = FinalUsage::default();
    let mut problems = Vec::new();
    let Some(path) = own_cgroup(proc_self_cgroup) else {
        return (usage, problems);
    };
    let cgroup = match reader.cgroup(&path) {
        Ok(cgroup) => cgroup,
        Err(e) => {
            problems.push(e.to_string());
            return (usage, problems);
        }
    };
    usage.memory_peak = take(cgroup.memory_peak(), &mut problems);
    if let Some(events) = take(cgroup.memory_events(), &mut problems) {
        usage.memory_high = Some(events.high);
        usage.memory_max = Some(events.max);
        usage.memory_oom = Some(events.oom);
        usage.memory_oom_kill = Some(events.oom_kill);
    }
    if let Some(cpu) = take(cgroup.cpu_stat(), &mut problems) {
        usage.cpu_usage_usec = Some(cpu.usage_usec);
        usage.cpu_user_usec = Some(cpu.user_usec);
        usage.cpu_system_usec = Some(cpu.system_usec);
    }
    (usage, problems)
}

/// [`final_usage`] of the calling process under `/sys/fs/cgroup`.
pub fn read_final_usage() -> (FinalUsage, Vec<String>) {
    match std::fs::read_to_string("/proc/self/cgroup") {
        Ok(text) => final_usage(&CgroupReader::new(DEFAULT_ROOT.into()), &text),
        Err(e) => (
            FinalUsage::default(),
            vec![format!("read /proc/self/cgroup: {e}")],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_of_the_own_cgroup() {
        let root = tempfile::tempdir().unwrap();
        let scope = root.path().join("claudine.slice/claudine-task-7.scope");
        std::fs::create_dir_all(&scope).unwrap();
        std::fs::write(scope.join("memory.peak"), "1048576\n").unwrap();
        std::fs::write(
            scope.join("memory.events"),
            "low 0\nhigh 4\nmax 3\noom 2\noom_kill 1\n",
        )
        .unwrap();
        std::fs::write(
            scope.join("cpu.stat"),
            "usage_usec 30\nuser_usec 20\nsystem_usec 10\n",
        )
        .unwrap();
        let reader = CgroupReader::new(root.path().to_owned());
        let text = "1:name=systemd:/x\n0::/claudine.slice/claudine-task-7.scope\n";
        let (usage, problems) = final_usage(&reader, text);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            usage,
            FinalUsage {
                memory_peak: Some(1_048_576),
                memory_high: Some(4),
                memory_max: Some(3),
                memory_oom: Some(2),
                memory_oom_kill: Some(1),
                cpu_usage_usec: Some(30),
                cpu_user_usec: Some(20),
                cpu_system_usec: Some(10),
            }
        );

        // No memory controller, a garbled cpu.stat: what can be read is.
        std::fs::remove_file(scope.join("memory.peak")).unwrap();
        std::fs::remove_file(scope.join("memory.events")).unwrap();
        std::fs::write(scope.join("cpu.stat"), "usage_usec ?\n").unwrap();
        let (usage, problems) = final_usage(&reader, text);
        assert_eq!(usage, FinalUsage::default());
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("cpu.stat"), "{problems:?}");

        // No cgroup v2 line, or one outside the root: nothing.
        let (usage, problems) = final_usage(&reader, "4:memory:/x\n");
        assert_eq!((usage, problems.len()), (FinalUsage::default(), 0));
        let (_, problems) = final_usage(&reader, "0::/../x\n");
        assert_eq!(problems.len(), 1);
    }
}
