//! The one task that owns the daemon's state.
//!
//! The socket server, the launch tasks and the supervisor watchers only send
//! [`Event`]s; the actor applies them one at a time: compute the new task
//! record with the pure core, commit it to the store, then act (start a
//! launch, stop a scope, answer the client). Nothing else touches the store or
//! the task map, so there is no lock anywhere.

use super::launch;
use super::users::Caller;
use crate::config::Config;
use crate::core::{admit, Admission, ReadyQueue, Task, TaskId, TaskState, Transition};
use crate::host::HostSampler;
use crate::proto::{ErrorCode, ErrorInfo, ListResponse, SubmitRequest, SubmitResponse, TaskView};
use crate::store::Store;
use crate::systemd::Scopes;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{error, info, warn};

pub type Reply<T> = oneshot::Sender<Result<T, ErrorInfo>>;

/// Where a client reads a task's log from.
pub struct LogSource {
    pub path: PathBuf,
    pub is_terminal: bool,
    pub finished: broadcast::Receiver<TaskId>,
}

pub enum Event {
    Submit {
        caller: Caller,
        req: SubmitRequest,
        reply: Reply<SubmitResponse>,
    },
    List {
        caller: Caller,
        all: bool,
        user: Option<String>,
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
    Wait {
        caller: Caller,
        id: TaskId,
        reply: Reply<TaskView>,
    },
    Logs {
        caller: Caller,
        id: TaskId,
        reply: Reply<LogSource>,
    },
    /// A launch task finished creating the scope (and sent `go` on success).
    ScopeReady {
        id: TaskId,
        result: Result<(), String>,
    },
    /// The supervisor of a task exited; its exit record may be on disk.
    SupervisorGone { id: TaskId },
}

pub struct Actor {
    pub(super) cfg: Arc<Config>,
    pub(super) store: Store,
    pub(super) systemd: Arc<dyn Scopes>,
    /// Every task that is not terminal.
    pub(super) tasks: HashMap<TaskId, Task>,
    pub(super) queue: ReadyQueue,
    /// Ids of the tasks Starting or Running (a small set; the queue may be
    /// huge, so nothing on the hot path iterates `tasks`).
    active: std::collections::HashSet<TaskId>,
    waiters: HashMap<TaskId, Vec<Reply<TaskView>>>,
    finished_tx: broadcast::Sender<TaskId>,
    pub(super) events: mpsc::Sender<Event>,
    host: HostSampler,
    sample: Option<crate::core::HostSample>,
    pub(super) wait_reason: Option<String>,
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
    ) -> Actor {
        Actor {
            cfg,
            store,
            systemd,
            tasks: HashMap::new(),
            queue: ReadyQueue::new(),
            active: Default::default(),
            waiters: HashMap::new(),
            finished_tx: broadcast::channel(1024).0,
            events,
            host: HostSampler::new("/proc"),
            sample: None,
            wait_reason: None,
        }
    }

    /// (queued, active) counts.
    pub fn counts(&self) -> (usize, usize) {
        (self.queue.len(), self.active.len())
    }

    /// Record a task found active at start-up.
    pub(super) fn track(&mut self, task: Task) {
        if task.state.is_active() {
            self.active.insert(task.id);
        }
        self.tasks.insert(task.id, task);
    }

    pub fn sample_host(&mut self) {
        match self.host.sample() {
            Ok(s) => self.sample = Some(s),
            Err(e) => warn!("host sampling failed: {e}"),
        }
    }

    pub fn handle(&mut self, ev: Event) {
        match ev {
            Event::Submit { caller, req, reply } => {
                let _ = reply.send(self.submit(&caller, req));
            }
            Event::List {
                caller,
                all,
                user,
                reply,
            } => {
                let _ = reply.send(self.list(&caller, all, user));
            }
            Event::Get { caller, id, reply } => {
                let _ = reply.send(self.visible(&caller, id).map(|t| self.view(&t)));
            }
            Event::Cancel {
                caller,
                id,
                reason,
                reply,
            } => {
                let _ = reply.send(self.cancel(&caller, id, reason));
            }
            Event::Wait { caller, id, reply } => match self.visible(&caller, id) {
                Ok(t) if t.state.is_terminal() => {
                    let _ = reply.send(Ok(self.view(&t)));
                }
                Ok(_) => self.waiters.entry(id).or_default().push(reply),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Event::Logs { caller, id, reply } => {
                let r = self.visible(&caller, id).map(|t| LogSource {
                    path: super::logs::log_path(&self.cfg.logs_dir(), id),
                    is_terminal: t.state.is_terminal(),
                    finished: self.finished_tx.subscribe(),
                });
                let _ = reply.send(r);
            }
            Event::ScopeReady { id, result } => self.scope_ready(id, result),
            Event::SupervisorGone { id } => self.supervisor_gone(id),
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
        let pos = (t.state == TaskState::Queued)
            .then(|| self.queue.position(t.priority, t.id))
            .flatten();
        let why = (t.state == TaskState::Queued)
            .then(|| self.wait_reason.clone())
            .flatten();
        TaskView::from_task(t, pos, why)
    }

    /// Apply, persist, and update memory. The store is written first: if the
    /// commit fails nothing changes and the caller gets the error.
    pub(super) fn transition(
        &mut self,
        before: &Task,
        ev: Transition,
        name: &str,
    ) -> Result<Task, ErrorInfo> {
        let after = before
            .apply(&ev)
            .map_err(|e| ErrorInfo::new(ErrorCode::Conflict, e.to_string()))?;
        self.store
            .save(before, &after, name, now_ms())
            .map_err(|e| {
                error!(
                    claudine_task_id = before.id,
                    "cannot record {name} of task {}: {e}", before.id
                );
                internal(e)
            })?;
        if before.state == TaskState::Queued && after.state != TaskState::Queued {
            self.queue.remove(before.priority, before.id);
        }
        if after.state == TaskState::Queued && before.state != TaskState::Queued {
            self.queue.push(after.priority, after.id);
        }
        if after.state.is_active() {
            self.active.insert(after.id);
        } else {
            self.active.remove(&after.id);
        }
        if after.state.is_terminal() {
            self.tasks.remove(&after.id);
            self.finish(&after);
        } else {
            self.tasks.insert(after.id, after.clone());
        }
        Ok(after)
    }

    fn finish(&mut self, t: &Task) {
        let outcome = match (t.exit_code, t.signal) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(s)) => format!("signal {s}"),
            _ => "no exit status".into(),
        };
        info!(
            claudine_task_id = t.id,
            claudine_user = %t.owner_name,
            claudine_state = %t.state,
            "task {} {} ({}){}",
            t.id,
            t.state,
            outcome,
            t.reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default()
        );
        let view = self.view(t);
        for w in self.waiters.remove(&t.id).unwrap_or_default() {
            let _ = w.send(Ok(view.clone()));
        }
        let _ = self.finished_tx.send(t.id);
        let _ = std::fs::remove_file(crate::supervise::exit_record_path(
            &self.cfg.exit_dir(),
            t.id,
        ));
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

    /// Start queued tasks while admission allows.
    pub fn schedule(&mut self) {
        while let Some(id) = self.queue.peek() {
            let (_, active) = self.counts();
            let starting = self
                .active
                .iter()
                .filter(|id| self.tasks[*id].state == TaskState::Starting)
                .count();
            match admit(
                &self.cfg.admission_policy(),
                self.sample.as_ref(),
                active,
                starting,
            ) {
                Admission::Wait(why) => {
                    self.wait_reason = Some(why);
                    return;
                }
                Admission::Start => {
                    self.wait_reason = None;
                    let task = self.tasks[&id].clone();
                    launch::launch(self, task);
                    if self.queue.peek() == Some(id) {
                        // Nothing could be recorded (the store failed, e.g.
                        // a full disk): try again on the next tick instead
                        // of spinning on the same task.
                        self.wait_reason = Some("could not record the launch; retrying".into());
                        return;
                    }
                }
            }
        }
        self.wait_reason = None;
    }

    fn scope_ready(&mut self, id: TaskId, result: Result<(), String>) {
        let Some(task) = self.tasks.get(&id).cloned() else {
            return;
        };
        if task.state != TaskState::Starting {
            return;
        }
        match result {
            Ok(()) => {
                if let Ok(t) =
                    self.transition(&task, Transition::Started { now_ms: now_ms() }, "started")
                {
                    info!(
                        claudine_task_id = id,
                        claudine_user = %t.owner_name,
                        claudine_state = "running",
                        "task {id} started in {} as {} (uid {})",
                        t.unit_name(),
                        t.owner_name,
                        t.owner_uid
                    );
                    if t.cancel_requested.is_some() {
                        self.stop_scope(&t);
                    }
                }
            }
            Err(reason) => {
                let _ = self.transition(
                    &task,
                    Transition::LaunchFailed {
                        reason,
                        now_ms: now_ms(),
                    },
                    "launch-failed",
                );
            }
        }
    }

    fn supervisor_gone(&mut self, id: TaskId) {
        let Some(task) = self.tasks.get(&id).cloned() else {
            return;
        };
        if !task.state.is_active() {
            return;
        }
        let path = crate::supervise::exit_record_path(&self.cfg.exit_dir(), id);
        let record = match crate::supervise::read_exit_record(&path) {
            Ok(r) => r,
            Err(e) => {
                error!(claudine_task_id = id, "{e}");
                None
            }
        };
        let now = now_ms();
        let (ev, name) = match (record, task.state) {
            (Some(r), _) if r.is_final() => (
                Transition::Exited {
                    exit_code: r.exit_code,
                    signal: r.signal,
                    error: r.error,
                    now_ms: now,
                },
                "exited",
            ),
            (None, TaskState::Starting) => (
                Transition::Requeue {
                    reason: "supervisor exited before the task started; queued again".into(),
                },
                "requeue",
            ),
            _ => (
                Transition::Vanished {
                    reason: format!(
                        "supervisor of {} ended without recording an exit status",
                        task.unit_name()
                    ),
                    now_ms: now,
                },
                "vanished",
            ),
        };
        if self.transition(&task, ev, name).is_ok() {
            // Whatever the command left behind (a double-forked daemon) goes
            // with the scope.
            self.stop_scope(&task);
        }
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
