//! `claudinectl suspend` and, for a suspended task, `claudinectl resume`:
//! the task's scope frozen and thawed whole (`FreezeUnit`/`ThawUnit`: the
//! kernel's cgroup freezer stops every process of the scope, a child in
//! its own session or process group included, which signals to a process
//! group would miss).
//!
//! Success is reported only once the scope's `cgroup.events` says
//! `frozen 1` (or `frozen 0`); then the new state is committed and the
//! client answered. If the freeze fails or cannot be confirmed, the scope
//! is thawed again, so nothing is left half-frozen, and the client gets the
//! error. A frozen task keeps its memory (charged to its scope, counted by
//! admission) and its state survives a daemon restart: on start, a task
//! the store knows as suspended is frozen again if its scope is not.

use super::actor::{internal, now_ms, Actor, Event, Reply};
use super::checkpoint::After;
use super::users::Caller;
use crate::cgroup::CgroupReader;
use crate::core::checkpoint::CheckpointWhy;
use crate::core::{TaskId, TaskState, Transition};
use crate::proto::{ErrorCode, ErrorInfo, TaskView};
use crate::systemd::Scopes;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// How long `cgroup.events` may take to say `frozen 1` after FreezeUnit.
const CONFIRM: Duration = Duration::from_secs(10);

/// What the client of a suspend or resume waits for.
pub struct FreezeRequest {
    pub by: String,
    pub reply: Option<Reply<TaskView>>,
}

impl Actor {
    /// `POST /v1/tasks/{id}/suspend`.
    pub(super) fn suspend(&mut self, caller: &Caller, id: TaskId, reply: Reply<TaskView>) {
        let conflict = |m: String| ErrorInfo::new(ErrorCode::Conflict, m);
        let check = self.visible(caller, id).and_then(|t| match t.state() {
            TaskState::Running if t.active().is_some_and(|a| a.cancel_requested.is_some()) => {
                Err(conflict(format!("task {id} is being cancelled")))
            }
            TaskState::Running => Ok(t),
            TaskState::Suspended => Err(conflict(format!("task {id} is already suspended"))),
            s => Err(conflict(format!(
                "task {id} is {s}: only a running task can be suspended"
            ))),
        });
        match check {
            Ok(t) => self.set_frozen(&t, true, caller.name.clone(), Some(reply)),
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// `POST /v1/tasks/{id}/resume` of a suspended task.
    pub(super) fn thaw(&mut self, caller: &Caller, id: TaskId, reply: Reply<TaskView>) {
        match self.visible(caller, id) {
            Ok(t) if t.state() == TaskState::Suspended => {
                self.set_frozen(&t, false, caller.name.clone(), Some(reply))
            }
            Ok(t) => {
                let _ = reply.send(Err(ErrorInfo::new(
                    ErrorCode::Conflict,
                    format!("task {id} is {}, not suspended", t.state()),
                )));
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Freeze (or thaw) `t`'s scope off the actor; the result comes back as
    /// [`Event::Frozen`].
    pub(super) fn set_frozen(
        &mut self,
        t: &crate::core::Task,
        freeze: bool,
        by: String,
        reply: Option<Reply<TaskView>>,
    ) {
        let Some(attempt) = t.active().map(|a| a.attempt) else {
            return;
        };
        if !self.freezing.insert(t.id) {
            if let Some(reply) = reply {
                let _ = reply.send(Err(ErrorInfo::new(
                    ErrorCode::Conflict,
                    format!("a suspend or resume of task {} is in progress", t.id),
                )));
            }
            return;
        }
        let (systemd, events, cgroups) = (
            self.systemd.clone(),
            self.events.clone(),
            self.cgroups.clone(),
        );
        let (id, unit) = (t.id, t.unit_name());
        tokio::spawn(async move {
            let result = freeze_and_confirm(systemd, cgroups, &unit, freeze).await;
            let _ = events
                .send(Event::Frozen {
                    id,
                    attempt,
                    freeze,
                    result,
                    req: FreezeRequest { by, reply },
                })
                .await;
        });
    }

    /// The scope of task `id` is frozen (or thawed), or could not be.
    pub(super) fn frozen(
        &mut self,
        id: TaskId,
        attempt: u32,
        freeze: bool,
        result: Result<i64, String>,
        req: FreezeRequest,
    ) {
        self.freezing.remove(&id);
        let answer = |r: Result<TaskView, ErrorInfo>| {
            if let Some(reply) = req.reply {
                let _ = reply.send(r);
            }
        };
        let task = self
            .tasks
            .get(&id)
            .filter(|t| t.active().is_some_and(|a| a.attempt == attempt))
            .cloned();
        let Some(task) = task else {
            return answer(Err(ErrorInfo::new(
                ErrorCode::Conflict,
                format!("task {id} ended meanwhile"),
            )));
        };
        let what = if freeze { "suspend" } else { "resume" };
        let ms = match result {
            Ok(ms) => ms,
            Err(e) => {
                warn!(claudine_task_id = id, "cannot {what} task {id}: {e}");
                if freeze {
                    // Nothing is left half-frozen.
                    self.set_frozen(&task, false, "claudined".into(), None);
                }
                return answer(Err(internal(format!("cannot {what} task {id}: {e}"))));
            }
        };
        let already = (task.state() == TaskState::Suspended) == freeze;
        if already {
            // A re-freeze at start-up, or a race with another request.
            return answer(Ok(self.view(&task)));
        }
        let ev = if freeze {
            Transition::Suspend {
                attempt,
                reason: format!("suspended by {}", req.by),
                now_ms: now_ms(),
            }
        } else {
            Transition::Thaw {
                attempt,
                now_ms: now_ms(),
            }
        };
        match self.transition(&task, ev) {
            Ok(t) => {
                info!(
                    claudine_task_id = id,
                    claudine_user = %t.owner_name,
                    claudine_state = %t.state(),
                    "task {id} {}: {} by {} ({ms} ms until cgroup.events said frozen {})",
                    if freeze { "suspended" } else { "resumed" },
                    t.unit_name(),
                    req.by,
                    u8::from(freeze)
                );
                // The monitor follows running tasks only.
                self.monitor.dirty = true;
                if freeze {
                    // What it holds now, files at rest.
                    self.checkpoint(&t, CheckpointWhy::Suspend, After::Nothing);
                }
                answer(Ok(self.view(&t)))
            }
            Err(e) => {
                // Not recorded: undo, so the state and the scope agree.
                self.set_frozen(&task, !freeze, "claudined".into(), None);
                answer(Err(e))
            }
        }
    }

    /// At start: every task the store knows as suspended is frozen.
    pub fn refreeze_suspended(&mut self) {
        let suspended: Vec<_> = self
            .tasks
            .values()
            .filter(|t| t.state() == TaskState::Suspended)
            .cloned()
            .collect();
        for t in suspended {
            self.set_frozen(&t, true, "claudined".into(), None);
        }
    }
}

/// FreezeUnit (ThawUnit), then wait until the scope's `cgroup.events`
/// says `frozen 1` (`0`); the time that took, in ms.
async fn freeze_and_confirm(
    systemd: Arc<dyn Scopes>,
    cgroups: CgroupReader,
    unit: &str,
    freeze: bool,
) -> Result<i64, String> {
    let t0 = Instant::now();
    let call = if freeze { "FreezeUnit" } else { "ThawUnit" };
    let done = if freeze {
        systemd.freeze(unit).await
    } else {
        systemd.thaw(unit).await
    };
    done.map_err(|e| format!("{call} {unit}: {e}"))?;
    let path = format!("/{}/{unit}", crate::systemd::SLICE);
    let cg = cgroups.cgroup(&path).map_err(|e| format!("{path}: {e}"))?;
    loop {
        match cg.events() {
            Ok(Some(ev)) if ev.frozen == freeze => {
                return Ok(t0.elapsed().as_millis() as i64);
            }
            Ok(None) => return Err(format!("{path}/cgroup.events: no such file")),
            Err(e) => return Err(format!("{path}/cgroup.events: {e}")),
            Ok(Some(_)) if t0.elapsed() >= CONFIRM => {
                return Err(format!(
                    "{call} {unit} returned, but cgroup.events did not say frozen {} within {} s",
                    u8::from(freeze),
                    CONFIRM.as_secs()
                ))
            }
            Ok(Some(_)) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}
