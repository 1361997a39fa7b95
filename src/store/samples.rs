//! Each task's metrics history as rows: one per point of
//! [`History`](crate::core::History), keyed by (task, time). The monitor
//! appends its fine points as it samples and, when points leave the fine
//! window, replaces them with their folded coarse points, so the table
//! holds what the in-memory history holds and a restart loses nothing.
//!
//! The functions return the step that failed with the error; `mod.rs` turns
//! it into a [`StoreError`](super::StoreError) naming the database.

use crate::core::{Sample, TaskId};
use rusqlite::{params, Connection, Transaction};

/// What failed, and the step it failed in.
pub(super) type Failed = (&'static str, rusqlite::Error);

fn step<T>(name: &'static str, r: rusqlite::Result<T>) -> Result<T, Failed> {
    r.map_err(|e| (name, e))
}

/// Insert `rows` in one transaction; a point of the same task and time
/// replaces the stored one.
pub(super) fn append(conn: &mut Connection, rows: &[(TaskId, Sample)]) -> Result<(), Failed> {
    let tx = step("begin samples", conn.transaction())?;
    for (task, sample) in rows {
        step("insert sample", insert(&tx, *task, sample))?;
    }
    step("commit samples", tx.commit())
}

/// Delete the task's points older than `before_ms` and insert `points`, in
/// one transaction. The caller checked that every point is older.
pub(super) fn replace_before(
    conn: &mut Connection,
    task: TaskId,
    before_ms: i64,
    points: &[Sample],
) -> Result<(), Failed> {
    let tx = step("begin sample folding", conn.transaction())?;
    step(
        "delete folded samples",
        tx.prepare_cached("DELETE FROM samples WHERE task_id = ?1 AND at_ms < ?2")
            .and_then(|mut s| s.execute(params![task, before_ms])),
    )?;
    for sample in points {
        step("insert folded sample", insert(&tx, task, sample))?;
    }
    step("commit sample folding", tx.commit())
}

fn insert(tx: &Transaction<'_>, task: TaskId, s: &Sample) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO samples
             (task_id, at_ms, memory_bytes, cpu_usage_usec, pids, output_bytes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        task,
        s.at_ms,
        s.memory_bytes,
        s.cpu_usage_usec,
        s.pids,
        s.output_bytes
    ])
}

/// The task's points, oldest first.
pub(super) fn of_task(conn: &Connection, task: TaskId) -> rusqlite::Result<Vec<Sample>> {
    let mut stmt = conn.prepare_cached(
        "SELECT at_ms, memory_bytes, cpu_usage_usec, pids, output_bytes FROM samples
         WHERE task_id = ?1 ORDER BY at_ms",
    )?;
    let rows = stmt.query_map(params![task], |r| {
        Ok(Sample {
            at_ms: r.get(0)?,
            memory_bytes: r.get(1)?,
            cpu_usage_usec: r.get(2)?,
            pids: r.get(3)?,
            output_bytes: r.get(4)?,
        })
    })?;
    rows.collect()
}
