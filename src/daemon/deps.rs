//! Dependencies between tasks in the actor (`submit --after 41,42`).
//!
//! The decisions are pure ([`crate::core::deps`]); this file keeps the
//! reverse index and carries them out. A queued task that waits for its
//! dependencies is *held*: it is not in the ready queue (like a task whose
//! previous unit is draining), so admission never considers it and a
//! scheduling decision costs nothing more for it, however many there are.
//! Tasks without dependencies cost one hash lookup when they end.
//!
//! When a task ends, [`Actor::dependency_ended`] (called by
//! `transition_with` on every terminal transition) re-evaluates only the
//! tasks held for it: released into the ready queue once all their
//! dependencies are done, or cancelled through the ordinary
//! `Transition::Cancel` (committed, with its event, journal line, hooks and
//! waiters) with a reason naming the dependency. A cancelled dependent ends
//! in turn: its own dependents are queued on a work list and settled in the
//! same loop, never by recursion, so a long chain cannot exhaust the stack.
//!
//! The index lives only in memory. At start, after reconciliation,
//! [`Actor::hold_dependents_at_start`] rebuilds it from the unfinished
//! tasks, in id order (a dependency always has a smaller id than its
//! dependents, so it is settled first), and settles the dependents whose
//! dependencies ended while the daemon was down.

use super::actor::{internal, now_ms, Actor};
use super::users::Caller;
use crate::core::deps::{self, DepState, Readiness};
use crate::core::{Task, TaskId, TaskState, Transition};
use crate::proto::{DependencyView, ErrorCode, ErrorInfo};
use std::collections::{HashMap, VecDeque};
use tracing::{info, warn};

/// The actor's state for dependencies.
#[derive(Debug, Default)]
pub struct Dependencies {
    /// Held tasks and what each still waits for, both ways.
    pub index: deps::DepIndex,
    /// Tasks that ended and have held dependents, with the state and reason
    /// they ended with, waiting to be settled.
    ended: VecDeque<(TaskId, TaskState, Option<String>)>,
    /// Set while `ended` is being worked through.
    settling: bool,
    /// Held tasks whose cancel could not be committed (a full disk), with
    /// its reason: retried on every tick.
    cancel_due: HashMap<TaskId, String>,
}

/// A dependency's state and reason, as the decisions take it.
type Known = (TaskId, TaskState, Option<String>);

fn dep_states(known: &[Known]) -> Vec<DepState<'_>> {
    known
        .iter()
        .map(|(id, state, reason)| DepState {
            id: *id,
            state: *state,
            reason: reason.as_deref(),
        })
        .collect()
}

impl Actor {
    /// At submit: each dependency must exist and be the caller's to see (an
    /// admin's: anyone's; another user's task answers exactly like an
    /// unknown id), none may have ended without success unless `after_any`.
    /// Returns those that have not ended: the new task waits for them.
    pub(super) fn check_after(
        &self,
        caller: &Caller,
        after: &[TaskId],
        after_any: bool,
    ) -> Result<Vec<TaskId>, ErrorInfo> {
        let invalid = |m: String| ErrorInfo::new(ErrorCode::InvalidRequest, m);
        if after.is_empty() {
            return match after_any {
                true => Err(invalid(
                    "after_any needs the tasks to run after (--after ID)".into(),
                )),
                false => Ok(Vec::new()),
            };
        }
        deps::check_after(after).map_err(invalid)?;
        let mut known = Vec::with_capacity(after.len());
        for id in after {
            let t = self.visible(caller, *id).map_err(|e| match e.code {
                ErrorCode::NotFound => {
                    ErrorInfo::new(ErrorCode::NotFound, format!("--after: task {id} not found"))
                }
                _ => e,
            })?;
            known.push((t.id, t.state(), t.outcome().and_then(|o| o.reason.clone())));
        }
        deps::refuse_at_submit(after_any, &dep_states(&known))
            .map_err(|m| ErrorInfo::new(ErrorCode::Conflict, m))?;
        Ok(known
            .into_iter()
            .filter(|(_, state, _)| !state.is_terminal())
            .map(|(id, ..)| id)
            .collect())
    }

    /// A task just stored: held for `pending`, or in the ready queue.
    pub(super) fn queue_submitted(&mut self, t: &Task, pending: &[TaskId]) {
        if pending.is_empty() {
            self.queue.push(t.queue_key());
        } else {
            self.deps.index.hold(t.id, pending);
        }
    }

    /// Whether a queued task is held for its dependencies (not in the
    /// ready queue).
    pub(super) fn held_for_dependencies(&self, id: TaskId) -> bool {
        self.deps.index.is_held(id)
    }

    /// How many queued tasks are held for their dependencies.
    pub(super) fn held_count(&self) -> usize {
        self.deps.index.len()
    }

    /// `t` reached a terminal state (committed): it waits for nothing any
    /// more, and the tasks held for it are settled.
    pub(super) fn dependency_ended(&mut self, t: &Task) {
        self.deps.index.forget(t.id);
        self.deps.cancel_due.remove(&t.id);
        if !self.deps.index.has_dependents(t.id) {
            return;
        }
        let reason = t.outcome().and_then(|o| o.reason.clone());
        self.deps.ended.push_back((t.id, t.state(), reason));
        if self.deps.settling {
            return; // a cancel below ended it: the loop takes it up
        }
        self.deps.settling = true;
        while let Some((dep, state, reason)) = self.deps.ended.pop_front() {
            for id in self.deps.index.ended(dep) {
                let ended = DepState {
                    id: dep,
                    state,
                    reason: reason.as_deref(),
                };
                self.settle(id, ended);
            }
        }
        self.deps.settling = false;
    }

    /// One dependency of held task `id` ended: release it, cancel it, or
    /// let it wait for the others.
    fn settle(&mut self, id: TaskId, ended: DepState<'_>) {
        let Some(task) = self.tasks.get(&id).cloned() else {
            self.deps.index.forget(id);
            return;
        };
        let pending = self.pending_known(id);
        let mut states = vec![ended];
        states.extend(dep_states(&pending));
        match deps::readiness(task.after_any, &states) {
            Readiness::Waiting { .. } => {}
            Readiness::Ready => self.release(&task),
            Readiness::Cancel { reason, .. } => self.cancel_dependent(&task, reason),
        }
    }

    /// The dependencies a held task still waits for, with their states
    /// (unfinished: in memory).
    fn pending_known(&self, id: TaskId) -> Vec<Known> {
        let ids = self.deps.index.pending(id).unwrap_or_default().to_vec();
        self.known(&ids).unwrap_or_else(|e| {
            warn!(claudine_task_id = id, "dependencies of task {id}: {e}");
            Vec::new()
        })
    }

    /// The states of tasks `ids`: unfinished ones from memory, the others
    /// from the store. A task the store does not have (never the case:
    /// tasks are not deleted) counts as failed.
    fn known(&self, ids: &[TaskId]) -> Result<Vec<Known>, ErrorInfo> {
        ids.iter()
            .map(|id| {
                if let Some(t) = self.tasks.get(id) {
                    return Ok((*id, t.state(), None));
                }
                Ok(match self.store.get(*id).map_err(internal)? {
                    Some(t) => (*id, t.state(), t.outcome().and_then(|o| o.reason.clone())),
                    None => (*id, TaskState::Failed, Some("not in the store".into())),
                })
            })
            .collect()
    }

    /// Every dependency of a held task is done: into the ready queue.
    fn release(&mut self, t: &Task) {
        self.deps.index.forget(t.id);
        info!(
            claudine_task_id = t.id,
            claudine_user = %t.owner_name,
            "task {} may start: the tasks it runs after {}",
            t.id,
            if t.after_any { "have ended" } else { "succeeded" }
        );
        self.enqueue(t);
    }

    /// Cancel a held task whose dependency did not succeed. Its own
    /// dependents are settled in turn ([`Actor::dependency_ended`]); a
    /// cancel that cannot be committed is retried on the next tick.
    fn cancel_dependent(&mut self, t: &Task, reason: String) {
        let ev = Transition::Cancel {
            reason: reason.clone(),
            now_ms: now_ms(),
        };
        if let Err(e) = self.transition(t, ev) {
            warn!(
                claudine_task_id = t.id,
                "cannot cancel task {} ({reason}): {e}; trying again", t.id
            );
            self.deps.cancel_due.insert(t.id, reason);
        }
    }

    /// Cancels of held tasks that could not be committed, again.
    pub(super) fn retry_dependency_cancels(&mut self) {
        if self.deps.cancel_due.is_empty() {
            return;
        }
        let due: Vec<(TaskId, String)> = self.deps.cancel_due.drain().collect();
        for (id, reason) in due {
            let task = self.tasks.get(&id).cloned();
            if let Some(t) = task.filter(|t| t.state() == TaskState::Queued) {
                self.cancel_dependent(&t, reason);
            }
        }
    }

    /// At start, after reconciliation (which queued every queued task):
    /// hold again the tasks still waiting for their dependencies, release
    /// or cancel those whose dependencies ended while the daemon was down.
    /// In id order, so a dependency is settled before its dependents.
    pub(super) fn hold_dependents_at_start(&mut self) -> anyhow::Result<()> {
        let mut ids: Vec<TaskId> = self
            .tasks
            .values()
            .filter(|t| t.waits_for_dependencies())
            .map(|t| t.id)
            .collect();
        ids.sort_unstable();
        let (mut held, mut cancelled) = (0, 0);
        for id in ids {
            // A dependency cancelled just before may have taken it along.
            let Some(t) = self.tasks.get(&id).cloned() else {
                continue;
            };
            let known = self
                .known(&t.after)
                .map_err(|e| anyhow::anyhow!("dependencies of task {id}: {e}"))?;
            match deps::readiness(t.after_any, &dep_states(&known)) {
                Readiness::Ready => {}
                Readiness::Waiting { pending, .. } => {
                    self.queue.remove(t.queue_key());
                    self.deps.index.hold(id, &pending);
                    held += 1;
                }
                Readiness::Cancel { reason, .. } => {
                    self.cancel_dependent(&t, reason);
                    cancelled += 1;
                }
            }
        }
        if held + cancelled > 0 {
            info!("dependencies: {held} tasks wait for others, {cancelled} cancelled");
        }
        Ok(())
    }

    /// `resume` of a task that never ran and has dependencies: it waits for
    /// them again (held from before the reopen, so it never enters the
    /// ready queue early), and one that ended without success refuses the
    /// resume.
    pub(super) fn hold_for_resume(&mut self, t: &Task) -> Result<(), ErrorInfo> {
        if t.attempts != 0 || t.after.is_empty() {
            return Ok(());
        }
        let known = self.known(&t.after)?;
        match deps::readiness(t.after_any, &dep_states(&known)) {
            Readiness::Ready => Ok(()),
            Readiness::Waiting { pending, .. } => {
                self.deps.index.hold(t.id, &pending);
                Ok(())
            }
            Readiness::Cancel { reason, .. } => Err(ErrorInfo::new(
                ErrorCode::Conflict,
                format!(
                    "task {} never ran and cannot now: {reason}; submit it again (--after-any runs it anyway)",
                    t.id
                ),
            )),
        }
    }

    /// The resume could not be committed: it waits for nothing.
    pub(super) fn unhold(&mut self, id: TaskId) {
        self.deps.index.forget(id);
    }

    /// Why a held task waits, in words ("waiting for tasks 41 (running),
    /// 42 (queued)"); `None` if it is not held.
    pub(super) fn dependency_wait(&self, t: &Task) -> Option<String> {
        if let Some(reason) = self.deps.cancel_due.get(&t.id) {
            return Some(format!("being cancelled: {reason}"));
        }
        self.deps.index.pending(t.id)?;
        let known = self.pending_known(t.id);
        match deps::readiness(t.after_any, &dep_states(&known)) {
            Readiness::Waiting { words, .. } => Some(words),
            _ => None,
        }
    }

    /// Each dependency of `t` with its state, for `status`; one the caller
    /// may not see has none.
    pub(super) fn dependency_views(&self, caller: &Caller, t: &Task) -> Vec<DependencyView> {
        t.after
            .iter()
            .map(|id| DependencyView {
                id: *id,
                state: self.visible(caller, *id).ok().map(|d| d.state()),
            })
            .collect()
    }
}
