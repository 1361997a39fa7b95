//! Checkpoints in the actor: taken at every suspend, every
//! `checkpoint_interval` while a task runs, and before a cold suspension
//! (protective mode). The record (`core::checkpoint`) is built on the
//! actor; the git snapshot of the task's working tree is taken off it, as
//! the user (`gitops::snapshot`, bounded in time); the result comes back
//! as [`Event::Checkpointed`] and is committed with its `task:checkpoint`
//! event. One checkpoint per task at a time.
//!
//! A cold suspension stops the scope only once its checkpoint is
//! committed: the attempt ends as relaunched (`Transition::Relaunch`), the
//! scope is thawed and stopped, and the task waits in the queue until
//! admission finds it room (a Claude task then resumes its session).

use super::actor::{now_ms, Actor, Event};
use super::users::Account;
use crate::core::checkpoint::{Checkpoint, CheckpointWhy, GitCheckpoint};
use crate::core::event_detail::CheckpointDetail;
use crate::core::{EventDetail, EventKind, Task, TaskEvent, TaskId, TaskState, Transition};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

/// How long a git snapshot may take.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(120);

/// What follows a committed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum After {
    Nothing,
    /// Stop the scope and queue the task again (protective mode).
    Cold {
        reason: String,
    },
}

#[derive(Default)]
pub struct Checkpoints {
    inflight: HashSet<TaskId>,
    /// When each running task was last checkpointed (or started).
    last_ms: HashMap<TaskId, i64>,
}

impl Actor {
    /// Take a checkpoint of active task `t`.
    pub(super) fn checkpoint(&mut self, t: &Task, why: CheckpointWhy, after: After) {
        let Some(attempt) = t.active().map(|a| a.attempt) else {
            return;
        };
        if !self.checkpoints.inflight.insert(t.id) {
            return; // one at a time; the protector asks again
        }
        let n = match self.store.next_checkpoint(t.id) {
            Ok(n) => n,
            Err(e) => {
                error!(
                    claudine_task_id = t.id,
                    "cannot checkpoint task {}: {e}", t.id
                );
                self.checkpoints.inflight.remove(&t.id);
                return;
            }
        };
        let mut cp = Checkpoint {
            task: t.id,
            n,
            at_ms: now_ms(),
            attempt,
            why,
            argv: match &t.claude {
                Some(c) => c.argv(),
                None => t.argv.clone(),
            },
            // Where it runs: in its own worktree, if it has one.
            cwd: match &t.worktree {
                Some(w) => w.cwd(t.id),
                None => t.cwd.clone(),
            },
            env_names: t.env.iter().map(|(k, _)| k.clone()).collect(),
            session_id: t.claude.as_ref().map(|c| c.session_id.clone()),
            git: None,
            git_note: None,
            took_ms: 0,
        };
        let account = match self.accounts.cached_account(t.owner_uid) {
            Some(Ok(a)) => Some(a),
            _ => None,
        };
        let events = self.events.clone();
        let owner = t.owner_uid;
        tokio::task::spawn_blocking(move || {
            let t0 = Instant::now();
            match account {
                Some(acct) => match snapshot(&acct, &cp) {
                    Ok(Some(g)) => cp.git = Some(g),
                    Ok(None) => cp.git_note = Some("not in a git repository".into()),
                    Err(e) => cp.git_note = Some(e),
                },
                None => {
                    cp.git_note =
                        Some("the owner's account is not known yet: no git snapshot".into())
                }
            }
            cp.took_ms = t0.elapsed().as_millis() as i64;
            let _ = events.blocking_send(Event::Checkpointed {
                cp: Box::new(cp),
                owner,
                after,
            });
        });
    }

    /// A checkpoint's snapshot is done: commit it, then what follows.
    pub(super) fn checkpointed(&mut self, cp: Checkpoint, owner: u32, after: After) {
        let id = cp.task;
        self.checkpoints.inflight.remove(&id);
        self.checkpoints.last_ms.insert(id, now_ms());
        let ev = TaskEvent::new(
            EventKind::Checkpoint,
            id,
            Some(cp.attempt),
            cp.at_ms,
            EventDetail::Checkpoint(CheckpointDetail {
                name: None,
                n: Some(cp.n),
                why: Some(cp.why.name().into()),
                git_ref: cp.git.as_ref().map(|g| g.ref_name.clone()),
            }),
        );
        if let Err(e) = self.store.add_checkpoint(owner, &cp, &ev) {
            error!(
                claudine_task_id = id,
                "cannot record checkpoint {} of task {id}: {e}", cp.n
            );
            return;
        }
        info!(
            claudine_task_id = id,
            "task {id}: checkpoint {} ({}, {} ms){}",
            cp.n,
            cp.why.name(),
            cp.took_ms,
            match (&cp.git, &cp.git_note) {
                (Some(g), _) => format!(
                    ": {} at {}",
                    g.ref_name,
                    &g.commit[..g.commit.len().min(12)]
                ),
                (None, Some(note)) => format!(": {note}"),
                (None, None) => String::new(),
            }
        );
        self.emit(std::slice::from_ref(&ev));
        if let After::Cold { reason } = after {
            self.cold_stop(id, cp.attempt, reason);
        }
    }

    /// `GET /v1/tasks/{id}/checkpoints`.
    pub(super) fn checkpoints_view(
        &self,
        caller: &super::users::Caller,
        id: TaskId,
    ) -> Result<crate::proto::CheckpointsView, crate::proto::ErrorInfo> {
        let task = self.visible(caller, id)?;
        let checkpoints = self.store.checkpoints(id).map_err(super::actor::internal)?;
        Ok(crate::proto::CheckpointsView {
            id,
            state: task.state(),
            checkpoints,
        })
    }

    /// Protective mode: a long freeze becomes a cold suspension.
    pub(super) fn cold_suspend(&mut self, id: TaskId, reason: String) {
        let Some(t) = self.tasks.get(&id).cloned() else {
            return;
        };
        if t.state() == TaskState::Suspended {
            self.checkpoint(&t, CheckpointWhy::Cold, After::Cold { reason });
        }
    }

    fn cold_stop(&mut self, id: TaskId, attempt: u32, reason: String) {
        let Some(t) = self.tasks.get(&id).cloned() else {
            return;
        };
        if t.state() != TaskState::Suspended || t.active().map(|a| a.attempt) != Some(attempt) {
            return; // resumed or ended meanwhile
        }
        warn!(claudine_task_id = id, claudine_user = %t.owner_name, "task {id}: {reason}");
        let ev = Transition::Relaunch {
            attempt,
            reason: format!("cold-suspended: {reason}"),
            session_seen: self.session_seen(&t),
            now_ms: now_ms(),
        };
        // Queued again; the frozen scope is stopped (drained) before the
        // task may start again.
        self.end_attempt(&t, attempt, ev, None);
    }

    /// Each tick: checkpoint the running tasks due for one.
    pub(super) fn checkpoint_due(&mut self) {
        let every = self.cfg.protect.checkpoint_interval_ms;
        let now = now_ms();
        let due: Vec<Task> = self
            .active
            .iter()
            .filter_map(|id| self.tasks.get(id))
            .filter(|t| t.state() == TaskState::Running)
            .filter(|t| {
                let since = self
                    .checkpoints
                    .last_ms
                    .get(&t.id)
                    .copied()
                    .or(t.active().and_then(|a| a.started_ms))
                    .unwrap_or(now);
                now - since >= every
            })
            .cloned()
            .collect();
        for t in due {
            self.checkpoints.last_ms.insert(t.id, now);
            self.checkpoint(&t, CheckpointWhy::Interval, After::Nothing);
        }
        let active = &self.active;
        self.checkpoints.last_ms.retain(|id, _| active.contains(id));
    }
}

/// The git snapshot of `cp.cwd`, as the user (`Ok(None)`: not in a
/// repository).
fn snapshot(acct: &Account, cp: &Checkpoint) -> Result<Option<GitCheckpoint>, String> {
    use crate::gitops;
    let user = super::users::as_git_user(acct);
    let dir = std::path::Path::new(&cp.cwd);
    let Some(info) = gitops::repo_info(&user, dir).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let message = format!(
        "claudine checkpoint {} of task {} ({}, attempt {})",
        cp.n,
        cp.task,
        cp.why.name(),
        cp.attempt
    );
    let s = gitops::snapshot(&user, dir, cp.task as u64, cp.n, &message, SNAPSHOT_TIMEOUT)
        .map_err(|e| e.to_string())?;
    Ok(Some(GitCheckpoint {
        toplevel: info.toplevel.display().to_string(),
        commit: s.commit,
        ref_name: s.ref_name,
        head: s.head,
        branch: s.branch,
        in_progress: (s.state != gitops::RepoState::Normal).then(|| s.state.describe().to_owned()),
        changed: s.changed,
    }))
}
