//! `claudinectl clean ID [--force]`: remove a finished task's git worktree
//! (the branch `claudine/<id>` stays: its commits are the user's work).
//!
//! The actor checks who asks and that the task is finished; the server
//! removes the worktree off the actor, as the user (`gitops`: refused when
//! it holds uncommitted changes, unless forced); the actor then records it.

use super::actor::{internal, now_ms, Actor};
use super::users::Caller;
use crate::core::worktree::Worktree;
use crate::core::TaskId;
use crate::proto::{ErrorCode, ErrorInfo, TaskView};
use tracing::info;

/// What the server needs to remove a worktree.
#[derive(Debug, Clone)]
pub struct Removal {
    pub owner_uid: u32,
    pub path: String,
}

impl Actor {
    /// Whether `caller` may clean task `id`'s worktree now.
    pub(super) fn clean_check(&self, caller: &Caller, id: TaskId) -> Result<Removal, ErrorInfo> {
        let t = self.visible(caller, id)?;
        let conflict = |m: String| ErrorInfo::new(ErrorCode::Conflict, m);
        let Some(w) = &t.worktree else {
            return Err(conflict(format!(
                "task {id} has no worktree (it was not submitted with --worktree)"
            )));
        };
        if w.removed_ms.is_some() {
            return Err(conflict(format!(
                "the worktree of task {id} was already removed"
            )));
        }
        if !t.state().is_terminal() {
            return Err(conflict(format!(
                "task {id} is {}: its worktree is in use; cancel the task or wait for it to end",
                t.state()
            )));
        }
        Ok(Removal {
            owner_uid: t.owner_uid,
            path: w.path(id),
        })
    }

    /// The worktree is gone: record it.
    pub(super) fn worktree_removed(
        &mut self,
        caller: &Caller,
        id: TaskId,
    ) -> Result<TaskView, ErrorInfo> {
        let mut t = self.visible(caller, id)?;
        let Some(w) = t.worktree.as_mut() else {
            return Err(internal(format!("task {id} has no worktree")));
        };
        w.removed_ms = Some(now_ms());
        let w: Worktree = w.clone();
        self.store.set_worktree(id, &w).map_err(internal)?;
        info!(
            claudine_task_id = id,
            claudine_user = %t.owner_name,
            "task {id}: its worktree {} was removed by {} (branch {} kept)",
            w.path(id),
            caller.name,
            Worktree::branch(id)
        );
        Ok(self.view(&t))
    }
}
