//! The sampler: a thread of its own that reads the running tasks' scopes.
//!
//! File reads block, and there may be hundreds of scopes, so they are not
//! done on the actor's thread. The actor publishes the set of [`Target`]s
//! (the running attempts); the sampler reads each one every interval into
//! a [`Reading`] and sends the round as one [`Report`]. `memory.events` and
//! `cgroup.events` are not polled: the sampler keeps an inotify watch on
//! each (the kernel signals them as modified) and sends a
//! [`Report::Changed`] as soon as one changes, so an OOM kill is known at
//! once. Without inotify (no instance left) they are read every round.
//!
//! A scope that disappears mid-round is a [`Reading`] with `gone` set, not
//! an error; a file that cannot be parsed is logged once per task.

use super::contain::{Containment, Escape};
use super::output::{Output, OutputCounter};
use crate::cgroup::{
    CgroupEvents, CgroupReader, CpuStat, MemoryEvents, MemoryStat, Pressure, ScopeFiles,
};
use crate::core::TaskId;
use crate::daemon::logs::Activity;
use inotify::{Inotify, WatchDescriptor, WatchMask};
use std::collections::{HashMap, HashSet};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::warn;

/// A running attempt to sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: TaskId,
    pub attempt: u32,
    /// Its scope, as a cgroup path (`/claudine.slice/claudine-task-<id>.scope`).
    pub cgroup: String,
    /// Its combined log.
    pub log: PathBuf,
    /// A Claude Code task's progress file (kept by its supervisor).
    pub progress: Option<PathBuf>,
}

/// The targets, with a version bumped at each change.
pub type Targets = Arc<Mutex<(u64, Vec<Target>)>>;

/// What one scope and log looked like at `at_ms`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    pub id: TaskId,
    pub attempt: u32,
    pub at_ms: i64,
    /// The scope's cgroup is gone (the task is ending).
    pub gone: bool,
    pub memory_current: Option<u64>,
    pub memory_peak: Option<u64>,
    pub memory_events: Option<MemoryEvents>,
    pub memory_stat: Option<MemoryStat>,
    pub memory_pressure: Option<Pressure>,
    pub cpu: Option<CpuStat>,
    pub cpu_pressure: Option<Pressure>,
    pub pids: Option<u64>,
    pub cgroup_events: Option<CgroupEvents>,
    pub output: Output,
    /// The last write the log watcher saw (else the log's mtime).
    pub last_output_ms: Option<i64>,
    /// Processes that left the scope since the last round.
    pub escaped: Vec<Escape>,
    /// A Claude Code task's progress, when its file changed since the last
    /// round.
    pub claude: Option<crate::core::claude_stream::Progress>,
}

#[derive(Debug)]
pub enum Report {
    Round(Vec<Reading>),
    /// `memory.events` or `cgroup.events` of a scope changed.
    Changed {
        id: TaskId,
        attempt: u32,
        at_ms: i64,
        memory_events: Option<MemoryEvents>,
        cgroup_events: Option<CgroupEvents>,
    },
}

struct Watched {
    target: Target,
    /// The scope's files, kept open.
    files: ScopeFiles,
    memory_events: Option<MemoryEvents>,
    cgroup_events: Option<CgroupEvents>,
    output: OutputCounter,
    contain: Containment,
    wds: Vec<WatchDescriptor>,
    complained: bool,
    /// The progress file's (mtime ns, size) when last read.
    progress_stamp: Option<(i128, u64)>,
}

pub struct Sampler {
    reader: CgroupReader,
    proc_root: PathBuf,
    interval: Duration,
    targets: Targets,
    version: u64,
    activity: Arc<Activity>,
    inotify: Option<Inotify>,
    by_wd: HashMap<WatchDescriptor, TaskId>,
    watched: HashMap<TaskId, Watched>,
}

impl Sampler {
    pub fn new(
        reader: CgroupReader,
        proc_root: PathBuf,
        interval: Duration,
        targets: Targets,
        activity: Arc<Activity>,
    ) -> Sampler {
        let inotify = Inotify::init()
            .map_err(|e| {
                warn!("no inotify instance for memory.events and cgroup.events ({e}): they are read at each sample instead")
            })
            .ok();
        Sampler {
            reader,
            proc_root,
            interval,
            targets,
            version: u64::MAX,
            activity,
            inotify,
            by_wd: HashMap::new(),
            watched: HashMap::new(),
        }
    }

    /// Run until `send` says the receiver is gone.
    pub fn run(mut self, send: impl Fn(Report) -> bool) {
        let mut next = Instant::now() + self.interval;
        loop {
            self.sync_targets();
            let now = Instant::now();
            if now >= next {
                if !send(Report::Round(self.round())) {
                    return;
                }
                next += self.interval;
                if next < now {
                    next = now + self.interval;
                }
                continue;
            }
            for report in self.wait_for_changes(next - now) {
                if !send(report) {
                    return;
                }
            }
        }
    }

    /// Read every target once.
    pub fn round(&mut self) -> Vec<Reading> {
        let at_ms = crate::daemon::actor::now_ms();
        let ids: Vec<TaskId> = self.watched.keys().copied().collect();
        let poll_events = self.inotify.is_none();
        ids.into_iter()
            .filter_map(|id| self.read(id, at_ms, poll_events))
            .collect()
    }

    fn read(&mut self, id: TaskId, at_ms: i64, poll_events: bool) -> Option<Reading> {
        let w = self.watched.get_mut(&id)?;
        let t = &w.target;
        let mut r = Reading {
            id,
            attempt: t.attempt,
            at_ms,
            ..Reading::default()
        };
        let cg = &mut w.files;
        let mut errors = Vec::new();
        let mut ok = Keep(&mut errors);
        if poll_events {
            w.memory_events = ok.keep(cg.memory_events());
            w.cgroup_events = ok.keep(cg.events());
        }
        let procs = ok.keep(cg.procs());
        r.gone = procs.is_none() && !cg.dir().is_dir();
        if r.gone {
            return Some(r);
        }
        r.memory_current = ok.keep(cg.memory_current());
        r.memory_peak = ok.keep(cg.memory_peak());
        r.memory_stat = ok.keep(cg.memory_stat());
        r.memory_pressure = ok.keep(cg.memory_pressure());
        r.cpu = ok.keep(cg.cpu_stat());
        r.cpu_pressure = ok.keep(cg.cpu_pressure());
        r.pids = ok.keep(cg.pids_current());
        r.memory_events = w.memory_events;
        r.cgroup_events = w.cgroup_events;
        if let Some(procs) = procs {
            r.escaped = w.contain.update(&self.proc_root, &t.cgroup, &procs);
        }
        match w.output.update(&t.log) {
            Ok(o) => r.output = o.unwrap_or_default(),
            Err(e) => errors.push(format!("read {}: {e}", t.log.display())),
        }
        if let Some(path) = &t.progress {
            r.claude = read_progress(path, &mut w.progress_stamp);
        }
        let modified = (r.output.modified_ms > 0).then_some(r.output.modified_ms);
        r.last_output_ms = self.activity.last_write(id).or(modified);
        if !errors.is_empty() && !w.complained {
            w.complained = true;
            warn!(
                claudine_task_id = id,
                "sampling task {id}: {} (further errors of this task are not logged)",
                errors.join("; ")
            );
        }
        Some(r)
    }

    /// Follow the actor's targets: watch the new ones, forget the gone ones.
    pub fn sync_targets(&mut self) {
        let (version, targets) = {
            let g = self.targets.lock().unwrap_or_else(|e| e.into_inner());
            if g.0 == self.version {
                return;
            }
            (g.0, g.1.clone())
        };
        self.version = version;
        let keep: HashSet<(TaskId, u32)> = targets.iter().map(|t| (t.id, t.attempt)).collect();
        let gone: Vec<TaskId> = self
            .watched
            .values()
            .filter(|w| !keep.contains(&(w.target.id, w.target.attempt)))
            .map(|w| w.target.id)
            .collect();
        for id in gone {
            if let Some(w) = self.watched.remove(&id) {
                for wd in w.wds {
                    self.by_wd.remove(&wd);
                    if let Some(i) = &mut self.inotify {
                        let _ = i.watches().remove(wd);
                    }
                }
            }
        }
        for t in targets {
            if self.watched.contains_key(&t.id) {
                continue;
            }
            let Ok(cg) = self.reader.cgroup(&t.cgroup) else {
                warn!(
                    "task {}: cgroup path {:?} is not below the root",
                    t.id, t.cgroup
                );
                continue;
            };
            let mut w = Watched {
                files: ScopeFiles::new(cg.path()),
                target: t.clone(),
                memory_events: None,
                cgroup_events: None,
                output: OutputCounter::default(),
                contain: Containment::default(),
                wds: Vec::new(),
                complained: false,
                progress_stamp: None,
            };
            if let Some(i) = &mut self.inotify {
                for file in ["memory.events", "cgroup.events"] {
                    if let Ok(wd) = i.watches().add(cg.path().join(file), WatchMask::MODIFY) {
                        self.by_wd.insert(wd.clone(), t.id);
                        w.wds.push(wd);
                    }
                }
                w.memory_events = w.files.memory_events().ok().flatten();
                w.cgroup_events = w.files.events().ok().flatten();
            }
            self.watched.insert(t.id, w);
        }
    }

    /// Wait up to `timeout` for an events file to change; report each
    /// changed scope once.
    fn wait_for_changes(&mut self, timeout: Duration) -> Vec<Report> {
        let Some(inotify) = &mut self.inotify else {
            std::thread::sleep(timeout);
            return Vec::new();
        };
        let ms = timeout.as_millis().clamp(1, 60_000) as u16;
        let mut fds = [nix::poll::PollFd::new(
            inotify.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
            Ok(n) if n > 0 => {}
            _ => return Vec::new(),
        }
        let mut buf = [0u8; 4096];
        let mut changed = HashSet::new();
        if let Ok(events) = inotify.read_events(&mut buf) {
            for ev in events {
                if let Some(id) = self.by_wd.get(&ev.wd) {
                    changed.insert(*id);
                }
            }
        }
        let at_ms = crate::daemon::actor::now_ms();
        let mut reports = Vec::new();
        for id in changed {
            let Some(w) = self.watched.get_mut(&id) else {
                continue;
            };
            w.memory_events = w.files.memory_events().ok().flatten().or(w.memory_events);
            w.cgroup_events = w.files.events().ok().flatten().or(w.cgroup_events);
            reports.push(Report::Changed {
                id,
                attempt: w.target.attempt,
                at_ms,
                memory_events: w.memory_events,
                cgroup_events: w.cgroup_events,
            });
        }
        reports
    }
}

/// Keeps a figure, or its error for the one warning per task.
struct Keep<'a>(&'a mut Vec<String>);

impl Keep<'_> {
    fn keep<T>(&mut self, v: Result<Option<T>, crate::cgroup::CgroupError>) -> Option<T> {
        v.unwrap_or_else(|e| {
            self.0.push(e.to_string());
            None
        })
    }
}

#[cfg(test)]
#[path = "sampler_tests.rs"]
mod tests;

/// The progress in `path` if the file changed since `stamp` (which is
/// updated); `None` when unchanged, absent or unreadable (the supervisor
/// replaces it by rename, so a read never sees half a file).
fn read_progress(
    path: &std::path::Path,
    stamp: &mut Option<(i128, u64)>,
) -> Option<crate::core::claude_stream::Progress> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).ok()?;
    let now = (
        i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        meta.size(),
    );
    if !meta.is_file() || *stamp == Some(now) || meta.size() > 4 << 20 {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    let p = serde_json::from_slice(&bytes).ok()?;
    *stamp = Some(now);
    Some(p)
}
