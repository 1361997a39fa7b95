//! Task events as rows: one JSON line each ([`TaskEvent::to_json_line`]),
//! written in the transaction of the transition that caused it, so an event
//! is stored exactly when its state change is.

use crate::core::{TaskEvent, TaskId};
use rusqlite::{params, Connection, Transaction};

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLine {
    /// Increasing, never reused: a follower asks for what came after it.
    pub seq: i64,
    pub task_id: TaskId,
    pub owner_uid: u32,
    /// The event as one JSON object.
    pub line: String,
}

pub(super) fn insert(
    tx: &Transaction<'_>,
    owner_uid: u32,
    ev: &TaskEvent,
) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO events (task_id, owner_uid, at_ms, kind, line) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        ev.task,
        owner_uid,
        ev.at_ms,
        ev.kind.name(),
        ev.to_json_line()
    ])?;
    Ok(tx.last_insert_rowid())
}

/// Events after `after_seq`, oldest first, of one owner and/or one task,
/// at most `limit`.
pub(super) fn after(
    conn: &Connection,
    after_seq: i64,
    owner: Option<u32>,
    task: Option<TaskId>,
    limit: usize,
) -> rusqlite::Result<Vec<EventLine>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, task_id, owner_uid, line FROM events
         WHERE seq > ?1 AND (?2 IS NULL OR owner_uid = ?2) AND (?3 IS NULL OR task_id = ?3)
         ORDER BY seq LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![after_seq, owner, task, limit as i64], |r| {
        Ok(EventLine {
            seq: r.get(0)?,
            task_id: r.get(1)?,
            owner_uid: r.get(2)?,
            line: r.get(3)?,
        })
    })?;
    rows.collect()
}

pub(super) fn last_seq(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))
}
