//! The usage governor in the actor (`core::governor` decides): a Claude
//! run's end judged and, when a limit refused it, queued again to resume
//! at the time the governor gives; the holds admission asks about; what the
//! running tasks' streams say while they run (turns and tools as
//! `task:progress`, API retries as an early hold of the account).

use super::ending::{judge, Judged};
use crate::core::claude_stream::Progress;
use crate::core::event_detail::{ProgressDetail, RateLimitDetail};
use crate::core::governor::{Governor, GovernorPolicy, UsageRecord};
use crate::core::{
    ClaudeEnd, ClaudeVerdict, EventDetail, EventKind, Task, TaskEvent, TaskId, Transition,
};
use crate::daemon::actor::Actor;
use crate::supervise::ExitRecord;
use std::collections::HashMap;
use tracing::{info, warn};

/// Usage read back at start (the budgets' longest window).
const USAGE_WINDOW_MS: i64 = 24 * 3_600_000;

/// The Claude side of the actor's state.
pub struct ClaudeState {
    pub governor: Governor,
    /// The latest progress of each running Claude task (the progress file
    /// the supervisor keeps, read by the monitor).
    pub live: HashMap<TaskId, Progress>,
}

impl ClaudeState {
    pub fn new(policy: GovernorPolicy, now_ms: i64) -> ClaudeState {
        ClaudeState {
            governor: Governor::new(policy, now_ms),
            live: HashMap::new(),
        }
    }
}

/// An instant as the daemon's users read it: `14:05` today, else
/// `2026-11-25 14:05` (local time).
pub fn local_time(ms: i64) -> String {
    use chrono::{Local, TimeZone};
    let Some(t) = Local.timestamp_millis_opt(ms).single() else {
        return format!("{ms} ms");
    };
    if t.date_naive() == Local::now().date_naive() {
        t.format("%H:%M").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M").to_string()
    }
}

/// Uniform in [-1, 1], from the kernel's random source.
fn jitter() -> f64 {
    let b = super::submit::random_bytes().unwrap_or([0x80; 16]);
    let n = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
    (n as f64 / u32::MAX as f64) * 2.0 - 1.0
}

impl Actor {
    /// Reads back the last day's usage into the governor (at start).
    pub fn claude_usage_from_store(&mut self, now: i64) {
        match self.store.claude_usage_since(now - USAGE_WINDOW_MS) {
            Ok(rows) => {
                for r in rows {
                    self.claude.governor.record(&r);
                }
            }
            Err(e) => warn!("cannot read back Claude usage: {e}"),
        }
    }

    /// The transition that ends attempt `attempt` of Claude task `task`.
    pub(in crate::daemon) fn claude_ended(
        &mut self,
        task: &Task,
        attempt: u32,
        r: &ExitRecord,
        forced_error: Option<String>,
        now: i64,
    ) -> Transition {
        self.claude.live.remove(&task.id);
        let (judged, session_seen) = judge(task, r, forced_error);
        let uid = task.owner_uid;
        if let Some(res) = r.claude.as_ref().and_then(|p| p.result.as_ref()) {
            self.claude
                .governor
                .record(&UsageRecord::of_result(uid, now, res));
        }
        let verdict = match judged {
            Judged::Succeeded => {
                self.claude.governor.on_success(uid, task.id);
                ClaudeVerdict::Succeeded
            }
            Judged::Failed(reason) => {
                self.claude.governor.on_ended(uid, task.id);
                ClaudeVerdict::Failed(reason)
            }
            Judged::Limited { limit, reason } => {
                let rq = self
                    .claude
                    .governor
                    .on_limited(uid, task.id, &limit, now, jitter());
                ClaudeVerdict::Limited {
                    reason: format!(
                        "{reason}; resumes by itself at {} ({})",
                        local_time(rq.eligible_ms),
                        rq.hold.describe(local_time)
                    ),
                    eligible_ms: rq.eligible_ms,
                }
            }
        };
        Transition::ClaudeEnded {
            attempt,
            exit_code: r.exit_code,
            signal: r.signal,
            end: ClaudeEnd {
                session_seen,
                verdict,
            },
            now_ms: now,
        }
    }

    /// A limited run was queued again: say so (event, journal).
    pub(in crate::daemon) fn claude_requeued(&mut self, t: &Task, attempt: u32) {
        let (until, reason) = match &t.status {
            crate::core::Status::Queued(w) => (w.eligible_ms, w.note.clone()),
            _ => return,
        };
        info!(
            claudine_task_id = t.id,
            claudine_user = %t.owner_name,
            "task {} attempt {attempt} was refused by a limit and waits to resume: {}",
            t.id,
            reason.as_deref().unwrap_or("")
        );
        let ev = TaskEvent::new(
            EventKind::RateLimited,
            t.id,
            Some(attempt),
            crate::daemon::actor::now_ms(),
            EventDetail::RateLimited(RateLimitDetail {
                until_ms: until,
                reason,
            }),
        );
        self.record(t.id, vec![ev]);
    }

    /// Why Claude task `t` may not start now, if it may not.
    pub(in crate::daemon) fn claude_hold(&self, t: &Task, now: i64) -> Option<String> {
        if !t.is_claude() {
            return None;
        }
        let g = &self.claude.governor;
        let hold = match g.may_start_claude(now) {
            Err(h) => h,
            Ok(()) => g.hold(t.owner_uid, t.id, now)?,
        };
        let name = |uid: u32| match self.accounts.cached_account(uid) {
            Some(Ok(a)) => a.name,
            _ => format!("uid {uid}"),
        };
        Some(hold.describe_with(name, local_time))
    }

    /// A Claude task started: the governor counts the start.
    pub(in crate::daemon) fn claude_started(&mut self, t: &Task, now: i64) {
        if t.is_claude() {
            self.claude.governor.on_started(t.owner_uid, t.id, now);
        }
    }

    /// The progress file of running Claude task `id` changed.
    pub(in crate::daemon) fn claude_progress(
        &mut self,
        id: TaskId,
        attempt: u32,
        p: Progress,
        at_ms: i64,
    ) {
        let Some(t) = self.tasks.get(&id) else { return };
        let uid = t.owner_uid;
        let old = self.claude.live.remove(&id).unwrap_or_default();
        let mut events = Vec::new();
        if p.messages > old.messages || p.tool_uses > old.tool_uses {
            events.push(TaskEvent::new(
                EventKind::Progress,
                id,
                Some(attempt),
                at_ms,
                EventDetail::Progress(ProgressDetail {
                    message: Some(p.summary()),
                    percent: None,
                    turn: Some(p.turns()),
                    tool_uses: Some(p.tool_uses),
                    last_tool: p.last_tool.clone(),
                }),
            ));
        }
        match (&old.retrying, &p.retrying) {
            (_, Some(r)) if old.retrying.map(|o| o.at_ms) != Some(r.at_ms) => {
                self.claude.governor.on_retrying(uid, id, r, at_ms);
                if matches!(r.error_status, Some(429 | 529)) {
                    events.push(TaskEvent::new(
                        EventKind::RateLimited,
                        id,
                        Some(attempt),
                        at_ms,
                        EventDetail::RateLimited(RateLimitDetail {
                            until_ms: r.retry_delay_ms.map(|d| r.at_ms + d as i64),
                            reason: Some(format!(
                                "claude is retrying the API ({}); the user's other Claude tasks wait",
                                r.describe()
                            )),
                        }),
                    ));
                }
            }
            (Some(_), None) => self.claude.governor.on_request_through(uid, id),
            _ => {}
        }
        if p.messages > old.messages && p.retrying.is_none() {
            self.claude.governor.on_request_through(uid, id);
        }
        self.claude.live.insert(id, p);
        self.record(id, events);
    }
}
