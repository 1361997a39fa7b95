//! A task's [`Status`] to and from the columns of the `tasks` table.
//!
//! The table stays flat (one column per field, so it can be queried and
//! indexed); which columns mean something depends on the state. Writing uses
//! [`Status::fields`]; reading is here.

use super::RawTask;
use crate::core::{Active, Outcome, Status, TaskState, Waiting};

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
            suspended: None,
        })
    };
    Ok(match state {
        TaskState::Queued => Status::Queued(Waiting {
            eligible_ms: r.eligible_ms,
            note: r.reason.clone(),
        }),
        TaskState::Starting => Status::Starting(active()?),
        TaskState::Running => Status::Running(active()?),
        TaskState::Suspended => Status::Running(Active {
            suspended: Some(crate::core::Suspension {
                since_ms: r
                    .suspended_ms
                    .ok_or(("suspended_ms", format!("missing for a {state} task")))?,
                reason: r.reason.clone(),
            }),
            ..active()?
        }),
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
