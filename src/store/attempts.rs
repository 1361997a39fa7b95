//! Launch attempts as rows: one per (task, attempt), inserted when the
//! attempt is launched, marked when its command is told to go, closed when it
//! ends — always in the transaction of the task's transition.

use crate::core::claude_stream::Progress;
use crate::core::{Task, TaskId};
use crate::supervise::{FinalUsage, OutputStats};
use rusqlite::{params, Connection, Transaction};
use serde::{Deserialize, Serialize};

/// What the exit record says about an attempt that ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttemptEnd {
    pub usage: Option<FinalUsage>,
    pub output: Option<OutputStats>,
    /// What a Claude Code run's stream showed; its result's tokens and cost
    /// are also recorded in `claude_usage`.
    pub claude: Option<Progress>,
}

/// One attempt as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRow {
    pub attempt: u32,
    pub launched_ms: i64,
    pub supervisor_pid: Option<u32>,
    pub started_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    /// The event that ended it (`exited`, `requeue`, `vanished`, ...).
    pub ended_by: Option<String>,
    /// The task state it led to.
    pub state: Option<String>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub reason: Option<String>,
    pub usage: Option<FinalUsage>,
    pub output: Option<OutputStats>,
    /// What a Claude Code run's stream showed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claude: Option<Progress>,
}

/// Keep the attempt rows in step with the transition `before` → `after`.
pub(super) fn record(
    tx: &Transaction<'_>,
    before: &Task,
    after: &Task,
    event: &str,
    at_ms: i64,
    end: Option<&AttemptEnd>,
) -> rusqlite::Result<()> {
    let now = after.active();
    let was = before.active();
    if let (Some(a), true) = (now, after.attempts > before.attempts) {
        tx.prepare_cached(
            "INSERT INTO attempts (task_id, attempt, launched_ms, supervisor_pid) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![after.id, a.attempt, at_ms, a.supervisor_pid])?;
    }
    if let (Some(a), Some(b)) = (now, was) {
        if a.started_ms.is_some() && b.started_ms.is_none() {
            tx.prepare_cached(
                "UPDATE attempts SET started_ms = ?3 WHERE task_id = ?1 AND attempt = ?2",
            )?
            .execute(params![after.id, a.attempt, a.started_ms])?;
        }
    }
    if let (Some(b), None) = (was, now) {
        let o = after.outcome();
        let reason = match o {
            Some(o) => o.reason.clone(),
            None => match &after.status {
                crate::core::Status::Queued(w) => w.note.clone(),
                _ => None,
            },
        };
        let usage = end.and_then(|e| e.usage.as_ref()).map(to_json);
        let output = end.and_then(|e| e.output.as_ref()).map(to_json);
        let claude = end.and_then(|e| e.claude.as_ref());
        tx.prepare_cached(
            "UPDATE attempts SET ended_ms = ?3, ended_by = ?4, state = ?5, exit_code = ?6, signal = ?7,
                 reason = ?8, usage = ?9, output = ?10, claude = ?11
             WHERE task_id = ?1 AND attempt = ?2",
        )?
        .execute(params![
            after.id,
            b.attempt,
            at_ms,
            event,
            after.state().as_str(),
            o.and_then(|o| o.exit_code),
            o.and_then(|o| o.signal),
            reason,
            usage,
            output,
            claude.map(to_json),
        ])?;
        if let Some(r) = claude.and_then(|p| p.result.as_ref()) {
            let u = crate::core::governor::UsageRecord::of_result(after.owner_uid, at_ms, r);
            let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            tx.prepare_cached(
                "INSERT OR REPLACE INTO claude_usage (task_id, attempt, owner_uid, at_ms, input_tokens,
                     output_tokens, cache_read_tokens, cache_creation_tokens, cost_usd)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                after.id,
                b.attempt,
                after.owner_uid,
                at_ms,
                n(u.input_tokens),
                n(u.output_tokens),
                n(u.cache_read_tokens),
                n(u.cache_creation_tokens),
                u.cost_usd,
            ])?;
        }
    }
    Ok(())
}

fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data serializes")
}

pub(super) fn of_task(conn: &Connection, id: TaskId) -> rusqlite::Result<Vec<AttemptRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT attempt, launched_ms, supervisor_pid, started_ms, ended_ms, ended_by, state,
                exit_code, signal, reason, usage, output, claude
         FROM attempts WHERE task_id = ?1 ORDER BY attempt",
    )?;
    let rows = stmt.query_map(params![id], |r| {
        let usage: Option<String> = r.get(10)?;
        let output: Option<String> = r.get(11)?;
        let claude: Option<String> = r.get(12)?;
        Ok(AttemptRow {
            attempt: r.get(0)?,
            launched_ms: r.get(1)?,
            supervisor_pid: r.get(2)?,
            started_ms: r.get(3)?,
            ended_ms: r.get(4)?,
            ended_by: r.get(5)?,
            state: r.get(6)?,
            exit_code: r.get(7)?,
            signal: r.get(8)?,
            reason: r.get(9)?,
            // Figures that do not parse (a newer writer) are left out, not fatal.
            usage: usage.and_then(|s| serde_json::from_str(&s).ok()),
            output: output.and_then(|s| serde_json::from_str(&s).ok()),
            claude: claude.and_then(|s| serde_json::from_str(&s).ok()),
        })
    })?;
    rows.collect()
}

/// An ended attempt, for what the scheduler learns (`core::learn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRow {
    pub owner_uid: u32,
    pub cwd: String,
    pub argv: Vec<String>,
    pub memory_peak: Option<u64>,
    /// From the command's start to its end; `None` if it never started.
    pub run_ms: Option<i64>,
}

/// The `limit` most recently ended attempts, oldest first.
pub(super) fn recent_runs(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<RunRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.owner_uid, t.cwd, t.argv, a.usage, a.started_ms, a.ended_ms
         FROM attempts a JOIN tasks t ON t.id = a.task_id
         WHERE a.ended_ms IS NOT NULL
         ORDER BY a.ended_ms DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map(params![limit as i64], |r| {
        let argv: String = r.get(2)?;
        let usage: Option<String> = r.get(3)?;
        let started: Option<i64> = r.get(4)?;
        let ended: i64 = r.get(5)?;
        Ok(RunRow {
            owner_uid: r.get(0)?,
            cwd: r.get(1)?,
            argv: serde_json::from_str(&argv).unwrap_or_default(),
            memory_peak: usage
                .and_then(|s| serde_json::from_str::<FinalUsage>(&s).ok())
                .and_then(|u| u.memory_peak),
            run_ms: started.map(|s| ended - s),
        })
    })?;
    let mut out: Vec<RunRow> = rows.collect::<rusqlite::Result<_>>()?;
    out.reverse();
    Ok(out)
}

/// Claude Code runs' tokens and cost since `since_ms`, oldest first.
pub(super) fn claude_usage_since(
    conn: &Connection,
    since_ms: i64,
    owner: Option<u32>,
) -> rusqlite::Result<Vec<crate::core::governor::UsageRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT owner_uid, at_ms, input_tokens, output_tokens, cache_read_tokens,
                cache_creation_tokens, cost_usd
         FROM claude_usage WHERE at_ms >= ?1 AND (?2 IS NULL OR owner_uid = ?2)
         ORDER BY at_ms",
    )?;
    let rows = stmt.query_map(params![since_ms, owner], |r| {
        let n = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
        Ok(crate::core::governor::UsageRecord {
            account: r.get(0)?,
            at_ms: r.get(1)?,
            input_tokens: n(2)?,
            output_tokens: n(3)?,
            cache_read_tokens: n(4)?,
            cache_creation_tokens: n(5)?,
            cost_usd: r.get(6)?,
        })
    })?;
    rows.collect()
}
