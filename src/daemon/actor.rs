//! The one task that owns the daemon's state.
//!
//! The socket server, the launch tasks, the supervisor watchers and the unit
//! drainers only send [`Event`]s; the actor applies them one at a time:
//! compute the new task record with the pure core, commit it to the store,
//! then act (start a launch, stop a scope, answer the client). Nothing else
//! touches the store or the task map, so there is no lock around state.
//!
//! The work is split by capability: `requests.rs` (what clients ask),
//! `schedule.rs` (admission and launching), `endings.rs` (how attempts end:
//! scope ready, supervisor gone, requeue and drain), `deps.rs` (tasks held
//! for their dependencies), `reconcile.rs` (start-up).

use super::accounts::Accounts;
use super::logs::{LogFollow, LogHub};
use super::users::Caller;
use crate::config::Config;
use crate::core::{ReadyQueue, Task, TaskId, TaskState, Transition};
use crate::host::HostSampler;
use crate::proto::{
    DaemonStatus, ErrorCode, ErrorInfo, ListFilter, ListResponse, LogStream, MetricsView,
    SubmitRequest, SubmitResponse, TaskView, TopView, UsageView,
};
use crate::store::{AttemptEnd, Store};
use crate::systemd::Scopes;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

pub type Reply<T> = oneshot::Sender<Result<T, ErrorInfo>>;

/// Where a client reads a task's log from.
pub struct LogSource {
    pub path: PathBuf,
    /// Set when the client follows a task that is not terminal yet.
    pub follow: Option<LogFollow>,
}

/// One page of task events, and how to hear of the next ones.
pub struct EventsPage {
    /// JSON lines, oldest first.
    pub lines: Vec<String>,
    /// The seq to ask after next time.
    pub last_seq: i64,
    /// Changes when new events are stored (holds the newest seq).
    pub newest: tokio::sync::watch::Receiver<i64>,
}

/// Events per page of `GET /v1/events`.
pub const EVENTS_PAGE: usize = 1000;

/// Why a launch did not get to `go`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchError {
    pub message: String,
    /// A unit of the task's name already existed (a previous attempt's).
    pub unit_exists: bool,
    /// The launch was aborted because the task was cancelled.
    pub cancelled: bool,
    /// The supervisor was gone before it could be told to go.
    pub supervisor_gone: bool,
}

impl LaunchError {
    pub fn new(message: String) -> LaunchError {
        LaunchError {
            message,
            unit_exists: false,
            cancelled: false,
            supervisor_gone: false,
        }
    }

    /// The attempt never ran its command and may simply be tried again.
    pub fn retryable(&self) -> bool {
        !self.cancelled && (self.unit_exists || self.supervisor_gone)
    }
}

pub enum Event {
    Submit {
        caller: Caller,
        req: Box<SubmitRequest>,
        /// For a Claude task: the `claude` found and checked by the server.
        binary: Option<super::claude::binary::Binary>,
        /// For a `--worktree` task: its repository, checked by the server.
        worktree: Option<crate::core::worktree::Worktree>,
        reply: Reply<SubmitResponse>,
    },
    List {
        caller: Caller,
        all: bool,
        /// `list --user NAME`, resolved by the server (off the actor).
        owner: Option<(String, Option<u32>)>,
        /// `state`, `priority` and `limit`.
        filter: ListFilter,
        reply: Reply<ListResponse>,
    },
    Get {
        caller: Caller,
        id: TaskId,
        reply: Reply<TaskView>,
    },
    Cancel {
        caller: Caller,
        id: TaskId,
        reason: Option<String>,
        reply: Reply<TaskView>,
    },
    /// Freeze a running task's scope.
    Suspend {
        caller: Caller,
        id: TaskId,
        reply: Reply<TaskView>,
    },
    /// A freeze or thaw of a task's scope was confirmed (the time it took,
    /// ms) or failed.
    Frozen {
        id: TaskId,
        attempt: u32,
        freeze: bool,
        result: Result<i64, String>,
        req: super::suspend::FreezeRequest,
    },
    /// A checkpoint's git snapshot is done (or failed).
    Checkpointed {
        cp: Box<crate::core::checkpoint::Checkpoint>,
        owner: u32,
        after: super::checkpoint::After,
    },
    /// Thaw a suspended task, or continue an ended Claude task's session.
    Resume {
        caller: Caller,
        id: TaskId,
        req: crate::proto::ResumeRequest,
        reply: Reply<TaskView>,
    },
    Wait {
        caller: Caller,
        id: TaskId,
        reply: Reply<TaskView>,
    },
    Logs {
        caller: Caller,
        id: TaskId,
        stream: LogStream,
        follow: bool,
        reply: Reply<LogSource>,
    },
    Status {
        reply: Reply<DaemonStatus>,
    },
    /// Task events after a seq (the caller's own, or all for admins).
    Events {
        caller: Caller,
        task: Option<TaskId>,
        after_seq: i64,
        reply: Reply<EventsPage>,
    },
    /// May this finished task's worktree be removed (`worktree.rs`)?
    CleanCheck {
        caller: Caller,
        id: TaskId,
        reply: Reply<super::worktree::Removal>,
    },
    /// It was removed.
    WorktreeRemoved {
        caller: Caller,
        id: TaskId,
        reply: Reply<TaskView>,
    },
    /// A task's checkpoints (`checkpoint.rs`).
    Checkpoints {
        caller: Caller,
        id: TaskId,
        reply: Reply<crate::proto::CheckpointsView>,
    },
    /// A task's metrics history (`history_requests.rs`).
    Metrics {
        caller: Caller,
        id: TaskId,
        reply: Reply<MetricsView>,
    },
    /// One frame of `top` (`top.rs`).
    Top {
        caller: Caller,
        reply: Reply<TopView>,
    },
    /// Claude Code usage and cooldowns (`claude/usage.rs`).
    Usage {
        caller: Caller,
        /// `usage --user NAME`, resolved by the server (off the actor).
        owner: Option<(String, Option<u32>)>,
        reply: Reply<UsageView>,
    },
    /// A launch task finished creating the scope (and sent `go` on success).
    ScopeReady {
        id: TaskId,
        attempt: u32,
        result: Result<(), LaunchError>,
    },
    /// The supervisor of an attempt exited; its record may be on disk.
    SupervisorGone {
        id: TaskId,
        attempt: u32,
    },
    /// The unit of a requeued task's previous attempt is gone (or could not
    /// be made to go).
    UnitGone {
        id: TaskId,
        result: Result<(), String>,
    },
    /// The sampler read the running tasks' scopes.
    Sampled(super::monitor::Report),
    /// The log watcher saw output of a task the monitor asked about.
    Output {
        id: TaskId,
        at_ms: i64,
    },
}

pub struct Actor {
    pub(super) cfg: Arc<Config>,
    pub(super) store: Store,
    pub(super) systemd: Arc<dyn Scopes>,
    /// Tasks whose scope is being frozen or thawed.
    pub(super) freezing: HashSet<TaskId>,
    /// Every task that is not terminal.
    pub(super) tasks: HashMap<TaskId, Task>,
    pub(super) queue: ReadyQueue,
    /// Queued tasks per priority, counted as they change (for `top`).
    pub(super) queued_counts: super::top::QueuedCounts,
    /// Ids of the tasks Starting or Running (a small set; the queue may be
    /// huge, so nothing on the hot path iterates `tasks`).
    pub(super) active: HashSet<TaskId>,
    /// Queued tasks held out of the ready queue until the unit of their
    /// previous attempt is gone.
    pub(super) draining: HashSet<TaskId>,
    /// Launches that can still be aborted before `go` (a cancel while Starting).
    pub(super) aborts: HashMap<TaskId, oneshot::Sender<()>>,
    /// Attempts whose end could not be committed (e.g. a full disk): retried
    /// on every tick; the exit record stays on disk meanwhile.
    pub(super) unrecorded_ends: HashSet<(TaskId, u32)>,
    /// Per owner: (unfinished tasks, bytes they hold), for the quotas.
    pub(super) per_user: HashMap<u32, (usize, usize)>,
    waiters: HashMap<TaskId, Vec<Reply<TaskView>>>,
    /// Wakes log followers; told when a task ends.
    pub(super) logs: Arc<LogHub>,
    /// Account lookups, never blocking the actor.
    pub(super) accounts: Arc<Accounts>,
    /// Reads the scopes' cgroup files (never writes them).
    pub(super) cgroups: crate::cgroup::CgroupReader,
    /// The daemon's own rlimits at start: the base a login starts from.
    pub(super) base_limits: Vec<crate::supervise::RlimitSpec>,
    pub(super) events: mpsc::Sender<Event>,
    pub(super) host: HostSampler,
    pub(super) sample: Option<crate::core::HostSample>,
    /// The host's PSI as of the last host sample.
    pub(super) pressure: crate::host::HostPressure,
    /// When the last task was started (admission waits for fresh samples).
    pub(super) last_start_ms: Option<i64>,
    /// A host sample the admission asked for, not before this time.
    pub(super) sample_due_ms: Option<i64>,
    pub(super) wait_reason: Option<String>,
    /// Environment values were cleared since the last WAL truncation.
    purge_due: bool,
    /// The newest stored event's seq, for `events --follow`.
    event_seq: tokio::sync::watch::Sender<i64>,
    /// Notification hooks, fired after an event is committed.
    pub(super) hooks: super::hooks::Hooks,
    /// Counters for the metrics endpoint.
    pub(super) counters: super::metrics::Counters,
    /// The rendered metrics, when the endpoint is on.
    pub(super) metrics: Option<tokio::sync::watch::Sender<String>>,
    /// Every running task watched (stall, memory, history, containment).
    pub(super) monitor: super::monitor::Monitor,
    /// Reservations, learned peaks, the slice, why tasks wait.
    pub(super) sched: super::schedule::SchedState,
    /// Claude Code tasks: the usage governor and the running ones' progress.
    pub(super) claude: super::claude::govern::ClaudeState,
    /// Protective mode (level `protective`).
    pub(super) protection: super::protect::ProtectState,
    /// Checkpoints in flight and when each running task had its last.
    pub(super) checkpoints: super::checkpoint::Checkpoints,
    /// Queued tasks held for their dependencies (`--after`).
    pub(super) deps: super::deps::Dependencies,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(super) fn not_found(id: TaskId) -> ErrorInfo {
    ErrorInfo::new(ErrorCode::NotFound, format!("task {id} not found"))
}

pub(super) fn internal(e: impl std::fmt::Display) -> ErrorInfo {
    ErrorInfo::new(ErrorCode::Internal, e.to_string())
}

impl Actor {
    pub fn new(
        cfg: Arc<Config>,
        store: Store,
        systemd: Arc<dyn Scopes>,
        events: mpsc::Sender<Event>,
        logs: Arc<LogHub>,
        accounts: Arc<Accounts>,
    ) -> Actor {
        let claude = super::claude::govern::ClaudeState::new(cfg.claude.policy(), now_ms());
        Actor {
            monitor: super::monitor::Monitor::new(cfg.level, cfg.sample_interval_ms),
            cfg,
            store,
            systemd,
            freezing: HashSet::new(),
            tasks: HashMap::new(),
            queue: ReadyQueue::new(),
            queued_counts: Default::default(),
            active: HashSet::new(),
            draining: HashSet::new(),
            aborts: HashMap::new(),
            unrecorded_ends: HashSet::new(),
            per_user: HashMap::new(),
            waiters: HashMap::new(),
            logs,
            accounts,
            base_limits: super::rlimits::own_limits(),
            cgroups: crate::cgroup::CgroupReader::new(crate::cgroup::DEFAULT_ROOT.into()),
            events,
            host: HostSampler::new("/proc"),
            sample: None,
            pressure: Default::default(),
            last_start_ms: None,
            sample_due_ms: None,
            wait_reason: None,
            purge_due: false,
            event_seq: tokio::sync::watch::channel(0).0,
            hooks: super::hooks::Hooks::start(&[]).expect("no hooks is valid"),
            counters: Default::default(),
            metrics: None,
            sched: super::schedule::SchedState::new(),
            claude,
            protection: Default::default(),
            checkpoints: Default::default(),
            deps: Default::default(),
        }
    }

    /// After a commit: count the events and hand them to the hooks.
    pub(super) fn emit(&mut self, events: &[crate::core::TaskEvent]) {
        for ev in events {
            self.counters.event(ev.kind.name());
            if !self.hooks.is_empty() {
                self.hooks.fire(ev.kind.name(), ev.to_json_line());
            }
        }
    }

    /// Tell event followers when new events were stored.
    pub fn publish_events(&self) {
        let seq = self.store.last_event_seq();
        self.event_seq.send_if_modified(|v| {
            let changed = *v != seq;
            *v = seq;
            changed
        });
    }

    /// (queued, active) counts.
    pub fn counts(&self) -> (usize, usize) {
        (
            self.queue.len() + self.draining.len() + self.held_count(),
            self.active.len(),
        )
    }

    /// Keep an unfinished task in memory (submit, start-up).
    pub(super) fn track(&mut self, task: Task) {
        if task.state().is_active() {
            self.active.insert(task.id);
        }
        self.queued_counts.change(None, Some(&task));
        let e = self.per_user.entry(task.owner_uid).or_default();
        e.0 += 1;
        e.1 += task.footprint();
        self.tasks.insert(task.id, task);
    }

    fn untrack(&mut self, t: &Task) {
        self.tasks.remove(&t.id);
        self.active.remove(&t.id);
        self.draining.remove(&t.id);
        self.aborts.remove(&t.id);
        if let Some(e) = self.per_user.get_mut(&t.owner_uid) {
            e.0 = e.0.saturating_sub(1);
            e.1 = e.1.saturating_sub(t.footprint());
            if e.0 == 0 {
                self.per_user.remove(&t.owner_uid);
            }
        }
    }

    /// The periodic work of the loop: a host sample, retries, housekeeping.
    pub fn tick(&mut self) {
        self.sample_host();
        self.protect();
        self.checkpoint_due();
        self.publish_metrics();
        self.retry_unrecorded_ends();
        self.retry_dependency_cancels();
        // Lapsed holds, old usage and quiet accounts leave the governor.
        self.claude.governor.expire(now_ms());
        self.retry_unstored_events();
        self.waiters.retain(|_, v| {
            v.retain(|w| !w.is_closed());
            !v.is_empty()
        });
        if self.purge_due {
            match self.store.purge_freed() {
                Ok(()) => self.purge_due = false,
                Err(e) => warn!("{e}"),
            }
        }
    }

    pub fn sample_host(&mut self) {
        match self.host.sample(now_ms()) {
            Ok(s) => {
                self.after_host_sample(&s);
                self.sample = Some(s);
            }
            Err(e) => warn!("host sampling failed: {e}"),
        }
        match self.host.pressure() {
            Ok(p) => self.pressure = p,
            Err(e) => warn!("host pressure: {e}"),
        }
    }

    pub fn handle(&mut self, ev: Event) {
        match ev {
            Event::Submit {
                caller,
                req,
                binary,
                worktree,
                reply,
            } => {
                let _ = reply.send(self.submit(&caller, *req, binary, worktree));
            }
            Event::List {
                caller,
                all,
                owner,
                filter,
                reply,
            } => {
                let _ = reply.send(self.list(&caller, all, owner, &filter));
            }
            Event::Get { caller, id, reply } => {
                let _ = reply.send(self.visible(&caller, id).and_then(|t| {
                    let mut v = self.view(&t);
                    let attempts = self.store.attempts(id).map_err(internal)?;
                    if let Some(c) = v.claude.as_mut().filter(|c| c.progress.is_none()) {
                        // The last run that showed anything.
                        c.progress = attempts.iter().rev().find_map(|a| a.claude.clone());
                    }
                    v.attempt_history = Some(attempts);
                    let cps = self.store.checkpoints(id).map_err(internal)?;
                    v.checkpoints = Some(cps.len() as u32);
                    v.last_checkpoint = cps.into_iter().last();
                    if !t.after.is_empty() {
                        v.dependencies = Some(self.dependency_views(&caller, &t));
                    }
                    if matches!(t.state(), TaskState::Running | TaskState::Suspended) {
                        v.resources =
                            super::resources::read(&self.cgroups, &t.unit_name()).map(|mut r| {
                                self.monitor_view(id, &mut r);
                                r
                            });
                    }
                    Ok(v)
                }));
            }
            Event::Resume {
                caller,
                id,
                req,
                reply,
            } => {
                let suspended = self
                    .tasks
                    .get(&id)
                    .is_some_and(|t| t.state() == TaskState::Suspended);
                if suspended {
                    self.thaw(&caller, id, reply);
                } else {
                    let _ = reply.send(self.resume(&caller, id, req));
                }
            }
            Event::Suspend { caller, id, reply } => self.suspend(&caller, id, reply),
            Event::Frozen {
                id,
                attempt,
                freeze,
                result,
                req,
            } => self.frozen(id, attempt, freeze, result, req),
            Event::Checkpointed { cp, owner, after } => self.checkpointed(*cp, owner, after),
            Event::Cancel {
                caller,
                id,
                reason,
                reply,
            } => {
                let _ = reply.send(self.cancel(&caller, id, reason));
            }
            Event::Wait { caller, id, reply } => match self.visible(&caller, id) {
                Ok(t) if t.state().is_terminal() => {
                    let _ = reply.send(Ok(self.view(&t)));
                }
                Ok(_) => self.waiters.entry(id).or_default().push(reply),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Event::Logs {
                caller,
                id,
                stream,
                follow,
                reply,
            } => {
                let r = self.visible(&caller, id).map(|t| LogSource {
                    path: super::logs::log_path(&self.cfg.logs_dir(), id, stream),
                    follow: (follow && !t.state().is_terminal()).then(|| self.logs.follow(id)),
                });
                let _ = reply.send(r);
            }
            Event::Status { reply } => {
                let (queued, running) = self.counts();
                let _ = reply.send(Ok(DaemonStatus {
                    version: env!("CARGO_PKG_VERSION").into(),
                    queued,
                    running,
                    waiters: self.waiters.values().map(Vec::len).sum(),
                    log_followers: self.logs.followers(),
                }));
            }
            Event::Events {
                caller,
                task,
                after_seq,
                reply,
            } => {
                let page = task
                    .map(|id| self.visible(&caller, id).map(|_| ()))
                    .unwrap_or(Ok(()))
                    .and_then(|()| {
                        let owner = (!caller.admin).then_some(caller.uid);
                        let rows = self
                            .store
                            .events_after(after_seq, owner, task, EVENTS_PAGE)
                            .map_err(internal)?;
                        Ok(EventsPage {
                            last_seq: rows.last().map_or(after_seq, |r| r.seq),
                            lines: rows.into_iter().map(|r| r.line).collect(),
                            newest: self.event_seq.subscribe(),
                        })
                    });
                let _ = reply.send(page);
            }
            Event::CleanCheck { caller, id, reply } => {
                let _ = reply.send(self.clean_check(&caller, id));
            }
            Event::WorktreeRemoved { caller, id, reply } => {
                let _ = reply.send(self.worktree_removed(&caller, id));
            }
            Event::Checkpoints { caller, id, reply } => {
                let _ = reply.send(self.checkpoints_view(&caller, id));
            }
            Event::Metrics { caller, id, reply } => {
                let _ = reply.send(self.metrics(&caller, id));
            }
            Event::Top { caller, reply } => {
                let _ = reply.send(Ok(self.top_view(&caller)));
            }
            Event::Usage {
                caller,
                owner,
                reply,
            } => {
                let _ = reply.send(self.usage(&caller, owner));
            }
            Event::ScopeReady {
                id,
                attempt,
                result,
            } => self.scope_ready(id, attempt, result),
            Event::SupervisorGone { id, attempt } => self.supervisor_gone(id, attempt),
            Event::UnitGone { id, result } => self.unit_gone(id, result),
            Event::Sampled(report) => self.on_report(report),
            Event::Output { id, at_ms } => self.on_output(id, at_ms),
        }
    }

    /// The task if `caller` may see it; another user's task is "not found".
    pub(super) fn visible(&self, caller: &Caller, id: TaskId) -> Result<Task, ErrorInfo> {
        let task = match self.tasks.get(&id) {
            Some(t) => t.clone(),
            None => self
                .store
                .get(id)
                .map_err(internal)?
                .ok_or_else(|| not_found(id))?,
        };
        if !caller.may_see(task.owner_uid) {
            return Err(not_found(id));
        }
        Ok(task)
    }

    pub(super) fn view(&self, t: &Task) -> TaskView {
        let queued = t.state() == TaskState::Queued;
        let pos = queued
            .then(|| self.queue.position(t.priority, t.id))
            .flatten();
        let mut v = TaskView::from_task(t, pos, queued.then(|| self.why_waiting(t)).flatten());
        v.estimated_start_ms = pos.and_then(|p| self.estimated_start(p));
        if queued {
            let (bytes, why) = self.expected_memory_why(t);
            v.expected_memory_bytes = Some(bytes);
            v.expected_memory_source = Some(why.into());
        }
        if let Some(c) = v.claude.as_mut() {
            c.progress = self.claude.live.get(&t.id).cloned();
            if queued {
                c.held = self.claude_hold(t, now_ms());
            }
        }
        v
    }

    /// Why a queued task has not started, in words.
    pub(super) fn why_waiting(&self, t: &Task) -> Option<String> {
        if self.draining.contains(&t.id) {
            return Some(format!(
                "waiting for {} of the previous attempt to be gone",
                t.unit_name()
            ));
        }
        if let Some(words) = self.dependency_wait(t) {
            return Some(words);
        }
        if let Some(held) = self.claude_hold(t, now_ms()) {
            return Some(held);
        }
        if let crate::core::Status::Queued(w) = &t.status {
            if let Some(at) = w.eligible_ms.filter(|at| *at > now_ms()) {
                return Some(format!(
                    "not eligible before {}",
                    crate::cli::format::time(at, &chrono::Local)
                ));
            }
        }
        self.sched_reason(t)
    }

    /// Apply, persist, and update memory. The store is written first: if the
    /// commit fails nothing changes and the caller gets the error.
    pub(super) fn transition(&mut self, before: &Task, ev: Transition) -> Result<Task, ErrorInfo> {
        self.transition_with(before, ev, None)
    }

    pub(super) fn transition_with(
        &mut self,
        before: &Task,
        ev: Transition,
        end: Option<&AttemptEnd>,
    ) -> Result<Task, ErrorInfo> {
        let name = ev.name();
        let after = before
            .apply(&ev)
            .map_err(|e| ErrorInfo::new(ErrorCode::Conflict, e.to_string()))?;
        let at = now_ms();
        self.store
            .save_with(before, &after, name, at, end)
            .map_err(|e| {
                error!(
                    claudine_task_id = before.id,
                    "cannot record {name} of task {}: {e}", before.id
                );
                internal(e)
            })?;
        self.emit(&crate::core::lifecycle::events(before, &after, at));
        self.queued_counts.change(Some(before), Some(&after));
        let (was, is) = (before.state(), after.state());
        if was == TaskState::Queued && is != TaskState::Queued {
            self.queue.remove(before.queue_key());
        }
        if is == TaskState::Queued && was != TaskState::Queued {
            self.enqueue(&after);
        }
        if (was == TaskState::Running) != (is == TaskState::Running) {
            self.monitor.dirty = true;
        }
        if was.is_active() && !is.is_active() {
            self.attempt_ended(before, end, at);
        }
        if is.is_active() {
            self.active.insert(after.id);
        } else {
            self.active.remove(&after.id);
        }
        if is.is_terminal() {
            self.untrack(&after);
            self.finish(&after);
            // Last: the tasks held for it may be cancelled in turn.
            self.dependency_ended(&after);
        } else {
            self.tasks.insert(after.id, after.clone());
        }
        Ok(after)
    }

    /// An attempt left Starting/Running: learn what it used (the exit
    /// record's `memory.peak`, else the monitor's last reading) and how long
    /// its command ran; its reservation is released.
    fn attempt_ended(&mut self, before: &Task, end: Option<&AttemptEnd>, at_ms: i64) {
        let started = before.active().and_then(|a| a.started_ms);
        let peak = end
            .and_then(|e| e.usage.as_ref())
            .and_then(|u| u.memory_peak)
            .or_else(|| {
                self.monitor
                    .watches
                    .get(&before.id)
                    .and_then(|w| w.latest.memory_peak)
            })
            .filter(|_| started.is_some());
        self.learn_from_end(before, peak, started.map(|s| at_ms - s));
    }

    /// Put a queued task in the ready queue, or in the waiting set until its
    /// eligibility time; not while its previous unit drains or it is held
    /// for its dependencies (`deps.rs` releases it).
    pub(super) fn enqueue(&mut self, t: &Task) {
        if self.draining.contains(&t.id) || self.held_for_dependencies(t.id) {
            return;
        }
        match &t.status {
            crate::core::Status::Queued(w) if w.eligible_ms.is_some_and(|at| at > now_ms()) => self
                .queue
                .push_at(t.queue_key(), w.eligible_ms.unwrap_or_default()),
            _ => self.queue.push(t.queue_key()),
        }
    }

    fn finish(&mut self, t: &Task) {
        let o = t.outcome();
        let outcome = match o.map(|o| (o.exit_code, o.signal)) {
            Some((Some(c), _)) => format!("exit status {c}"),
            Some((None, Some(s))) => format!("signal {s}"),
            _ => "no exit status".into(),
        };
        info!(
            claudine_task_id = t.id,
            claudine_user = %t.owner_name,
            claudine_state = %t.state(),
            "task {} {} ({}){}",
            t.id,
            t.state(),
            outcome,
            o.and_then(|o| o.reason.as_ref())
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
        let view = self.view(t);
        for w in self.waiters.remove(&t.id).unwrap_or_default() {
            let _ = w.send(Ok(view.clone()));
        }
        self.logs.finish(t.id);
        if !t.env.is_empty() {
            self.purge_due = true;
        }
        let _ = std::fs::remove_file(crate::supervise::exit_record_path(
            &self.cfg.exit_dir(),
            t.id,
        ));
        if t.is_claude() {
            super::claude::launch::clean(&self.cfg.exit_dir(), t.id);
        }
    }

    pub(super) fn stop_scope(&self, t: &Task) {
        let systemd = self.systemd.clone();
        let unit = t.unit_name();
        let id = t.id;
        tokio::spawn(async move {
            if let Err(e) = systemd.stop_unit(&unit).await {
                if !e.is_no_such_unit() {
                    warn!(claudine_task_id = id, "cannot stop {unit}: {e}");
                }
            }
        });
    }

    pub fn status_line(&self) -> String {
        let (queued, active) = self.counts();
        format!("{queued} queued, {active} running")
    }
}

/// The command as a user would type it, for log lines.
pub fn command_line(argv: &[String]) -> String {
    let mut s = argv.join(" ");
    if s.len() > 200 {
        let mut cut = 200;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}
