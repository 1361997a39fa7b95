//! Checkpoints (`core::checkpoint`), one row per checkpoint, numbered per
//! task, stored with their `task:checkpoint` event in one transaction.

use super::{events, Store, StoreError};
use crate::core::checkpoint::Checkpoint;
use crate::core::{TaskEvent, TaskId};
use rusqlite::params;

impl Store {
    /// Store `cp` (numbered by [`Store::next_checkpoint`] before its
    /// snapshot was taken) with the event `ev`, in one transaction.
    pub fn add_checkpoint(
        &mut self,
        owner_uid: u32,
        cp: &Checkpoint,
        ev: &TaskEvent,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |step: &'static str| {
            let path = path.clone();
            move |source| StoreError::Query { path, step, source }
        };
        let tx = self.conn.transaction().map_err(err("begin checkpoint"))?;
        let n = cp.n;
        let body = serde_json::to_string(cp).expect("a checkpoint serializes");
        tx.execute(
            "INSERT INTO checkpoints (task_id, n, at_ms, body) VALUES (?1, ?2, ?3, ?4)",
            params![cp.task, n, cp.at_ms, body],
        )
        .map_err(err("insert checkpoint"))?;
        let seq = events::insert(&tx, owner_uid, ev).map_err(err("insert task event"))?;
        tx.commit().map_err(err("commit checkpoint"))?;
        self.last_event_seq = seq;
        Ok(())
    }

    /// The number the task's next checkpoint will get.
    pub fn next_checkpoint(&self, id: TaskId) -> Result<u32, StoreError> {
        self.conn
            .query_row(
                "SELECT coalesce(max(n), 0) + 1 FROM checkpoints WHERE task_id = ?1",
                params![id],
                |r| r.get(0),
            )
            .map_err(self.query_err("number the next checkpoint"))
    }

    /// A task's checkpoints, oldest first (rows that no longer parse are
    /// skipped).
    pub fn checkpoints(&self, id: TaskId) -> Result<Vec<Checkpoint>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT body FROM checkpoints WHERE task_id = ?1 ORDER BY n")
            .map_err(self.query_err("read checkpoints"))?;
        let rows = stmt
            .query_map(params![id], |r| r.get::<_, String>(0))
            .map_err(self.query_err("read checkpoints"))?;
        let mut out = Vec::new();
        for body in rows {
            let body = body.map_err(self.query_err("read checkpoints"))?;
            if let Ok(cp) = serde_json::from_str::<Checkpoint>(&body) {
                out.push(cp);
            }
        }
        Ok(out)
    }
}

impl Store {
    /// Record what became of a finished task's worktree (`claudinectl
    /// clean`).
    pub fn set_worktree(
        &mut self,
        id: TaskId,
        w: &crate::core::worktree::Worktree,
    ) -> Result<(), StoreError> {
        let body = serde_json::to_string(w).expect("a worktree serializes");
        self.conn
            .execute(
                "UPDATE tasks SET worktree = ?2 WHERE id = ?1",
                params![id, body],
            )
            .map_err(self.query_err("record the worktree's removal"))?;
        Ok(())
    }
}
