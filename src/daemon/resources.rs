//! What a running task uses now, from its scope's cgroup files.
//!
//! The scope is `claudine-task-<id>.scope` in `claudine.slice`, which sits at
//! the root of the hierarchy (the unit file says so), so its path is known
//! without asking systemd. A file that is missing or unreadable (the scope
//! just ended, a controller is off) leaves its figure out; nothing here is an
//! error for the caller.

use crate::cgroup::CgroupReader;
use crate::proto::Resources;
use crate::systemd::SLICE;

/// The figures of `unit`, `None` if its cgroup cannot be read at all.
pub fn read(reader: &CgroupReader, unit: &str) -> Option<Resources> {
    let cg = reader.cgroup(&format!("/{SLICE}/{unit}")).ok()?;
    let r = Resources {
        memory_bytes: cg.memory_current().ok().flatten(),
        memory_peak_bytes: cg.memory_peak().ok().flatten(),
        pids: cg.pids_current().ok().flatten(),
        cpu_usage_usec: cg.cpu_stat().ok().flatten().map(|c| c.usage_usec),
        ..Resources::default()
    };
    (r != Resources::default()).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_scope_files_under_the_root() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("claudine.slice/claudine-task-3.scope");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("memory.current"), "4096\n").unwrap();
        std::fs::write(dir.join("pids.current"), "2\n").unwrap();
        std::fs::write(
            dir.join("cpu.stat"),
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
        )
        .unwrap();
        let reader = CgroupReader::new(root.path().into());
        let r = read(&reader, "claudine-task-3.scope").unwrap();
        assert_eq!(
            r,
            Resources {
                memory_bytes: Some(4096),
                memory_peak_bytes: None,
                pids: Some(2),
                cpu_usage_usec: Some(1500),
                ..Resources::default()
            }
        );
        assert_eq!(read(&reader, "claudine-task-4.scope"), None);
    }
}
