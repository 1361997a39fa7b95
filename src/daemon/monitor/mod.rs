//! Monitoring: every running task watched from its cgroup and its output.
//!
//! - [`sampler`]: the thread that reads the scopes (every interval, and at
//!   once when the kernel signals `memory.events`/`cgroup.events`);
//! - [`contain`]: processes that leave their scope;
//! - [`output`]: bytes and lines of a task's log;
//! - this file: the actor's side. Each reading goes through the task's
//!   [`TaskWatch`] (pure: stall, memory, history); the events it returns are
//!   logged to the journal at their priority and, at levels `active` and
//!   `protective`, committed to the store, then streamed and handed to the
//!   hooks (commit before act). Samples go to the store's history.

mod contain;
mod output;
mod sampler;

pub use sampler::{Reading, Report, Sampler, Target, Targets};

use super::actor::{now_ms, Actor};
use crate::core::events::EscapedDetail;
use crate::core::{EventDetail, EventKind, TaskWatch, WatchPolicy};
use crate::core::{HistoryPolicy, Level, Observation, Sample, TaskEvent, TaskId, TaskState};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tracing::{error, info, warn};

/// Events kept for a retry while the store refuses them (a full disk).
const MAX_UNSTORED: usize = 10_000;
/// How often the stored history is folded as the in-memory one is.
const COMPACT_EVERY_MS: i64 = 60_000;

/// One watched attempt and what was last read of it.
pub struct Watched {
    pub watch: TaskWatch,
    pub latest: Reading,
}

/// The actor's monitoring state.
pub struct Monitor {
    pub level: Level,
    pub interval_ms: i64,
    pub targets: Targets,
    version: u64,
    /// Set when tasks started or stopped running: the targets are redone.
    pub dirty: bool,
    pub watches: HashMap<TaskId, Watched>,
    /// When this daemon started: a task running since before was watched by
    /// an earlier one (its OOM kills were reported then).
    since_ms: i64,
    /// Samples of this round, written in one transaction.
    samples: Vec<(TaskId, Sample)>,
    /// Events the store refused, oldest first, retried every tick.
    unstored: VecDeque<(u32, TaskEvent)>,
    last_compact_ms: i64,
    /// The store refused samples last time (logged once until it works).
    samples_failing: bool,
}

impl Monitor {
    pub fn new(level: Level, interval_ms: i64) -> Monitor {
        Monitor {
            level,
            interval_ms,
            targets: Arc::new(Mutex::new((0, Vec::new()))),
            version: 0,
            dirty: true,
            watches: HashMap::new(),
            since_ms: now_ms(),
            samples: Vec::new(),
            unstored: VecDeque::new(),
            last_compact_ms: now_ms(),
            samples_failing: false,
        }
    }

    pub fn history_policy(&self) -> HistoryPolicy {
        HistoryPolicy {
            fine_interval_ms: self.interval_ms,
            ..HistoryPolicy::default()
        }
    }
}

impl Actor {
    /// Publish the running attempts to the sampler, if they changed.
    pub fn sync_monitor(&mut self) {
        if !self.monitor.dirty {
            return;
        }
        self.monitor.dirty = false;
        let mut targets: Vec<Target> = self
            .active
            .iter()
            .filter_map(|id| self.tasks.get(id))
            .filter(|t| t.state() == TaskState::Running)
            .filter_map(|t| {
                Some(Target {
                    id: t.id,
                    attempt: t.active()?.attempt,
                    cgroup: format!("/{}/{}", crate::systemd::SLICE, t.unit_name()),
                    log: super::logs::log_path(
                        &self.cfg.logs_dir(),
                        t.id,
                        super::logs::LogStream::Both,
                    ),
                    progress: t
                        .is_claude()
                        .then(|| super::claude::launch::progress_path(&self.cfg.exit_dir(), t.id)),
                })
            })
            .collect();
        targets.sort_by_key(|t| t.id);
        let running: std::collections::HashSet<_> =
            targets.iter().map(|t| (t.id, t.attempt)).collect();
        let logs = self.logs.clone();
        self.monitor.watches.retain(|id, w| {
            let keep = running.contains(&(*id, w.watch.attempt));
            if !keep {
                logs.activity().forget(*id);
            }
            keep
        });
        self.monitor.version += 1;
        *self
            .monitor
            .targets
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = (self.monitor.version, targets);
    }

    pub(super) fn on_report(&mut self, report: Report) {
        match report {
            Report::Round(readings) => {
                for r in readings {
                    self.on_reading(r);
                }
                self.flush_samples();
            }
            Report::Changed {
                id,
                attempt,
                at_ms,
                memory_events,
                cgroup_events,
            } => {
                let Some(w) = self.monitor.watches.get_mut(&id) else {
                    return;
                };
                if w.watch.attempt != attempt {
                    return;
                }
                w.latest.memory_events = memory_events.or(w.latest.memory_events);
                w.latest.cgroup_events = cgroup_events.or(w.latest.cgroup_events);
                let events = memory_events
                    .map(|m| w.watch.memory_events(at_ms, m.oom_kill))
                    .unwrap_or_default();
                self.record(id, events);
            }
        }
    }

    fn on_reading(&mut self, r: Reading) {
        if r.gone {
            return; // the task is ending; its supervisor tells how
        }
        let Some(t) = self.tasks.get(&r.id) else {
            return;
        };
        let Some(active) = t.active().filter(|a| a.attempt == r.attempt) else {
            return;
        };
        if t.state() != TaskState::Running {
            return;
        }
        if !self.monitor.watches.contains_key(&r.id) {
            let policy = WatchPolicy::for_task(
                &t.limits,
                self.cfg.stall_after_ms,
                self.cfg.memory_warn_bytes,
                self.cfg.memory_critical_bytes,
                self.monitor.history_policy(),
            );
            let started = active.started_ms.unwrap_or(r.at_ms);
            let adopted = started < self.monitor.since_ms;
            let oom_seen = if adopted {
                r.memory_events.map_or(0, |m| m.oom_kill)
            } else {
                0
            };
            let restored = if adopted {
                self.store.samples(r.id).unwrap_or_else(|e| {
                    warn!("{e}");
                    Vec::new()
                })
            } else {
                Vec::new()
            };
            let mut watch = TaskWatch::new(r.id, r.attempt, policy, started, oom_seen, restored);
            if adopted {
                watch.resume_from(&self.recorded_events(r.id), r.last_output_ms);
            }
            self.monitor.watches.insert(
                r.id,
                Watched {
                    watch,
                    latest: Reading::default(),
                },
            );
        }
        let mut r = r;
        if let Some(p) = r.claude.take() {
            self.claude_progress(r.id, r.attempt, p, r.at_ms);
        }
        let obs = Observation {
            at_ms: r.at_ms,
            memory_bytes: r.memory_current.unwrap_or(0),
            memory_peak_bytes: r.memory_peak.unwrap_or(0),
            oom_kills: r.memory_events.map_or(0, |m| m.oom_kill),
            cpu_usage_usec: r.cpu.map_or(0, |c| c.usage_usec),
            pids: r.pids.unwrap_or(0),
            output_bytes: r.output.bytes,
            last_output_ms: r.last_output_ms,
        };
        if let Some(bytes) = r.memory_current {
            self.observe_memory(r.id, bytes, r.at_ms);
        }
        let w = self.monitor.watches.get_mut(&r.id).expect("inserted above");
        let mut events = w.watch.observe(obs);
        for e in &r.escaped {
            events.push(TaskEvent::new(
                EventKind::Escaped,
                r.id,
                Some(r.attempt),
                r.at_ms,
                EventDetail::Escaped(EscapedDetail {
                    pid: e.pid,
                    cgroup: e.cgroup.clone(),
                }),
            ));
        }
        if w.watch.is_stalled() {
            self.logs.activity().wake_on_output(r.id);
        }
        if let Some(s) = w.watch.history().latest() {
            self.monitor.samples.push((r.id, *s));
        }
        w.latest = r;
        let id = w.watch.task;
        self.record(id, events);
    }

    /// The events stored for task `id`, oldest first (at adoption only).
    fn recorded_events(&self, id: TaskId) -> Vec<TaskEvent> {
        let mut events = Vec::new();
        let mut after = 0;
        loop {
            match self.store.events_after(after, None, Some(id), 1000) {
                Ok(rows) if !rows.is_empty() => {
                    after = rows.last().map_or(after, |r| r.seq);
                    events.extend(
                        rows.iter()
                            .filter_map(|r| TaskEvent::from_json_line(&r.line).ok()),
                    );
                }
                Ok(_) => return events,
                Err(e) => {
                    warn!("{e}");
                    return events;
                }
            }
        }
    }

    /// The log watcher saw output of a stalled task.
    pub(super) fn on_output(&mut self, id: TaskId, at_ms: i64) {
        let Some(w) = self.monitor.watches.get_mut(&id) else {
            return;
        };
        let event = w.watch.output_seen(at_ms);
        w.latest.last_output_ms = Some(at_ms);
        self.record(id, event.into_iter().collect());
    }

    /// Journal, then (levels active and protective) commit, then stream and
    /// hand to the hooks.
    /// Journal, store and emit events of a task (kept to retry when the
    /// store fails).
    pub(super) fn record(&mut self, id: TaskId, events: Vec<TaskEvent>) {
        if events.is_empty() {
            return;
        }
        let Some(t) = self.tasks.get(&id) else {
            return;
        };
        let (owner, owner_name) = (t.owner_uid, t.owner_name.clone());
        for ev in &events {
            journal(ev, &owner_name);
        }
        if !self.monitor.level.records_events() {
            return;
        }
        match self.store.insert_events(owner, &events) {
            Ok(()) => self.emit(&events),
            Err(e) => {
                error!("cannot record events of task {id} (kept to retry): {e}");
                for ev in events {
                    if self.monitor.unstored.len() >= MAX_UNSTORED {
                        self.monitor.unstored.pop_front();
                    }
                    self.monitor.unstored.push_back((owner, ev));
                }
            }
        }
    }

    /// Retry events the store refused, in order.
    pub(super) fn retry_unstored_events(&mut self) {
        while let Some((owner, ev)) = self.monitor.unstored.front().cloned() {
            if let Err(e) = self.store.insert_events(owner, std::slice::from_ref(&ev)) {
                warn!("still cannot record task events: {e}");
                return;
            }
            self.monitor.unstored.pop_front();
            self.emit(&[ev]);
        }
    }

    fn flush_samples(&mut self) {
        let samples = std::mem::take(&mut self.monitor.samples);
        match self.store.append_samples(&samples) {
            Ok(()) => self.monitor.samples_failing = false,
            Err(e) if !self.monitor.samples_failing => {
                self.monitor.samples_failing = true;
                warn!("cannot store metrics samples (the history has a gap until this works): {e}");
            }
            Err(_) => {}
        }
        let now = now_ms();
        if now - self.monitor.last_compact_ms >= COMPACT_EVERY_MS {
            self.monitor.last_compact_ms = now;
            self.compact_history();
        }
    }

    /// Fold the stored history as the in-memory one is: the coarse points
    /// replace what is older than the fine window.
    fn compact_history(&mut self) {
        for (id, w) in &self.monitor.watches {
            let points = w.watch.history().points();
            let Some(latest) = points.last() else {
                continue;
            };
            let horizon = latest.at_ms - w.watch.history().policy().fine_window_ms;
            let coarse: Vec<Sample> = points
                .iter()
                .copied()
                .take_while(|p| p.at_ms < horizon)
                .collect();
            let before = coarse.last().map_or(horizon, |p| p.at_ms + 1).max(horizon);
            if let Err(e) = self.store.replace_samples_before(*id, before, &coarse) {
                warn!("cannot fold the stored history of task {id}: {e}");
            }
        }
    }
}

impl Actor {
    /// Add what the monitor knows of task `id` to its live figures, and
    /// count its open files (read now, for this one task).
    pub(super) fn monitor_view(&self, id: TaskId, r: &mut crate::proto::Resources) {
        let Some(w) = self.monitor.watches.get(&id) else {
            return;
        };
        let l = &w.latest;
        r.memory_anon_bytes = l.memory_stat.map(|m| m.anon);
        r.memory_file_bytes = l.memory_stat.map(|m| m.file);
        r.memory_events = l.memory_events.map(|m| crate::proto::MemoryEventCounts {
            high: m.high,
            max: m.max,
            oom: m.oom,
            oom_kill: m.oom_kill,
        });
        r.memory_pressure = l.memory_pressure.map(|p| p.some.avg10);
        r.cpu_pressure = l.cpu_pressure.map(|p| p.some.avg10);
        r.cpu_throttled_usec = l.cpu.and_then(|c| c.throttled_usec);
        r.cpu_percent = w.watch.recent_cpu_percent(10_000);
        r.output_bytes = Some(l.output.bytes);
        r.output_lines = Some(l.output.lines);
        r.last_output_ms = l.last_output_ms;
        r.stalled = Some(w.watch.is_stalled());
        r.activity = Some(w.watch.describe_activity());
        let scope = format!("/{}/{}", crate::systemd::SLICE, crate::core::unit_name(id));
        if let Ok(Some(pids)) = self.cgroups.cgroup(&scope).and_then(|c| c.procs()) {
            r.open_files = Some(open_files(std::path::Path::new("/proc"), &pids));
        }
    }
}

/// One journal line per event, at its priority, with structured fields.
fn journal(ev: &TaskEvent, owner: &str) {
    let msg = ev.message();
    let (id, kind, attempt) = (ev.task, ev.kind.name(), ev.attempt.unwrap_or(0));
    match ev.kind.journal_priority() {
        0..=3 => {
            error!(claudine_task_id = id, claudine_event = kind, claudine_attempt = attempt, claudine_user = %owner, "{msg}")
        }
        4 => {
            warn!(claudine_task_id = id, claudine_event = kind, claudine_attempt = attempt, claudine_user = %owner, "{msg}")
        }
        _ => {
            info!(claudine_task_id = id, claudine_event = kind, claudine_attempt = attempt, claudine_user = %owner, "{msg}")
        }
    }
}

/// Open file descriptors of `pids` (entries of `/proc/<pid>/fd`).
pub fn open_files(proc_root: &std::path::Path, pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|p| std::fs::read_dir(proc_root.join(format!("{p}/fd"))).ok())
        .map(|d| d.count() as u64)
        .sum()
}
