//! A task's [`Status`] to and from the columns of the `tasks` table.
//!
//! The table stays flat (one column per field, so it can be queried and
//! indexed); which columns mean something depends on the state.

use super::RawTask;
use crate::core::{Active, Outcome, Status, Task, TaskState, Waiting};

/// The state-dependent columns of one task row.
pub(super) struct Columns {
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub reason: Option<String>,
    pub cancel_requested: Option<String>,
    pub supervisor_pid: Option<u32>,
    pub eligible_ms: Option<i64>,
}

pub(super) fn columns(t: &Task) -> Columns {
    let mut c = Columns {
        started_ms: None,
        finished_ms: None,
        exit_code: None,
        signal: None,
        reason: None,
        cancel_requested: None,
        supervisor_pid: None,
        eligible_ms: None,
    };
    match &t.status {
        Status::Queued(w) => {
            c.eligible_ms = w.eligible_ms;
            c.reason = w.note.clone();
        }
        Status::Starting(a) | Status::Running(a) => {
            c.supervisor_pid = Some(a.supervisor_pid);
            c.started_ms = a.started_ms;
            c.cancel_requested = a.cancel_requested.clone();
        }
        Status::Done(o) => {
            c.started_ms = o.started_ms;
            c.finished_ms = Some(o.finished_ms);
            c.exit_code = o.exit_code;
            c.signal = o.signal;
            c.reason = o.reason.clone();
        }
    }
    c
}

/// The status a row describes; on error, the column at fault and why.
pub(super) fn status(state: TaskState, r: &RawTask) -> Result<Status, (&'static str, String)> {
    let active = || -> Result<Active, (&'static str, String)> {
        Ok(Active {
            attempt: r.attempts,
            supervisor_pid: r
                .supervisor_pid
                .ok_or(("supervisor_pid", format!("missing for a {state} task")))?,
            started_ms: r.started_ms,
            cancel_requested: r.cancel_requested.clone(),
        })
    };
    Ok(match state {
        TaskState::Queued => Status::Queued(Waiting {
            eligible_ms: r.eligible_ms,
            note: r.reason.clone(),
        }),
        TaskState::Starting => Status::Starting(active()?),
        TaskState::Running => Status::Running(active()?),
        _ => Status::Done(Outcome {
            state,
            started_ms: r.started_ms,
            finished_ms: r
                .finished_ms
                .ok_or(("finished_ms", format!("missing for a {state} task")))?,
            exit_code: r.exit_code,
            signal: r.signal,
            reason: r.reason.clone(),
        }),
    })
}
