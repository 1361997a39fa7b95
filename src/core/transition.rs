//! Transitions: a pure function of the current task record and an event.
//!
//! The daemon persists the new record before it acts on it or acknowledges
//! it. Every event about an active task names the attempt it is about; an
//! event for another attempt is refused ([`TransitionError::StaleAttempt`]).

use super::task::{Active, Outcome, Status, Task, TaskId, TaskState, Waiting};

/// An event that moves a task. Every variant carries what the new record
/// needs, including the time, so [`Task::apply`] stays pure. Events about an
/// active task carry the attempt they are about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Admission chose it; a supervisor with this pid now waits for its scope.
    Launch { supervisor_pid: u32, now_ms: i64 },
    /// The scope exists and the supervisor was told to go.
    Started { attempt: u32, now_ms: i64 },
    /// The launch failed before the command could run (from Queued: before
    /// any attempt was made).
    LaunchFailed {
        attempt: u32,
        reason: String,
        now_ms: i64,
    },
    /// The attempt never ran its command: back to the queue (or Cancelled if
    /// a cancel is pending), eligible again at `eligible_ms`.
    Requeue {
        attempt: u32,
        reason: String,
        eligible_ms: Option<i64>,
        now_ms: i64,
    },
    /// A cancel request. Queued tasks end at once; active ones are marked and
    /// end when their supervisor reports.
    Cancel { reason: String, now_ms: i64 },
    /// The supervisor reported how the command ended.
    Exited {
        attempt: u32,
        exit_code: Option<i32>,
        signal: Option<i32>,
        error: Option<String>,
        now_ms: i64,
    },
    /// The attempt ran (or may have) and no exit status survived.
    Vanished {
        attempt: u32,
        reason: String,
        now_ms: i64,
    },
    /// A Claude Code run ended; its stream was judged ([`ClaudeEnd`]).
    ClaudeEnded {
        attempt: u32,
        exit_code: Option<i32>,
        signal: Option<i32>,
        end: ClaudeEnd,
        now_ms: i64,
    },
    /// An interrupted attempt of a task that may be relaunched
    /// ([`crate::core::Recovery::Relaunch`]): queued again.
    Relaunch {
        attempt: u32,
        reason: String,
        session_seen: bool,
        now_ms: i64,
    },
    /// The running attempt's scope was frozen (`cgroup.events` says
    /// `frozen 1`).
    Suspend {
        attempt: u32,
        reason: String,
        now_ms: i64,
    },
    /// The suspended attempt's scope was thawed (`frozen 0`).
    Thaw { attempt: u32, now_ms: i64 },
    /// A finished Claude Code task is queued again to continue its session
    /// (`claudinectl resume`), with `prompt` as the next run's prompt and
    /// `env` as its extra environment.
    Reopen {
        prompt: Option<String>,
        env: Vec<(String, String)>,
        reason: String,
        now_ms: i64,
    },
}

/// How a Claude Code run ended, judged from its stream
/// (`claude_stream::outcome`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaudeEnd {
    /// The run's stream showed the task's session: later runs resume it.
    pub session_seen: bool,
    pub verdict: ClaudeVerdict,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaudeVerdict {
    /// Exit 0 and a result without error.
    Succeeded,
    Failed(String),
    /// Held back by a rate, overload or usage limit: queued again, to
    /// resume its session at `eligible_ms` (a documented retry policy).
    Limited {
        reason: String,
        eligible_ms: i64,
    },
}

impl Transition {
    pub fn name(&self) -> &'static str {
        match self {
            Transition::Launch { .. } => "launch",
            Transition::Started { .. } => "started",
            Transition::LaunchFailed { .. } => "launch-failed",
            Transition::Requeue { .. } => "requeue",
            Transition::Cancel { .. } => "cancel",
            Transition::Exited { .. } => "exited",
            Transition::Vanished { .. } => "vanished",
            Transition::ClaudeEnded { .. } => "exited",
            Transition::Reopen { .. } => "reopen",
            Transition::Suspend { .. } => "suspend",
            Transition::Relaunch { .. } => "relaunch",
            Transition::Thaw { .. } => "thaw",
        }
    }

    /// The attempt an event about an active task refers to.
    fn attempt(&self) -> Option<u32> {
        match self {
            Transition::Started { attempt, .. }
            | Transition::LaunchFailed { attempt, .. }
            | Transition::Requeue { attempt, .. }
            | Transition::Exited { attempt, .. }
            | Transition::Vanished { attempt, .. }
            | Transition::ClaudeEnded { attempt, .. }
            | Transition::Suspend { attempt, .. }
            | Transition::Relaunch { attempt, .. }
            | Transition::Thaw { attempt, .. } => Some(*attempt),
            Transition::Launch { .. } | Transition::Cancel { .. } | Transition::Reopen { .. } => {
                None
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("task {id}: cannot apply {event} in state {state}")]
    Invalid {
        id: TaskId,
        state: TaskState,
        event: &'static str,
    },
    #[error("task {id}: {event} is about attempt {got}, but attempt {current} is the current one")]
    StaleAttempt {
        id: TaskId,
        event: &'static str,
        got: u32,
        current: u32,
    },
}

impl Task {
    /// The record after `event`, or an error if the event makes no sense in
    /// the current state (or names another attempt). Does not modify `self`.
    pub fn apply(&self, event: &Transition) -> Result<Task, TransitionError> {
        let bad = || TransitionError::Invalid {
            id: self.id,
            state: self.state(),
            event: event.name(),
        };
        if let (Some(active), Some(got)) = (self.active(), event.attempt()) {
            if active.attempt != got {
                return Err(TransitionError::StaleAttempt {
                    id: self.id,
                    event: event.name(),
                    got,
                    current: active.attempt,
                });
            }
        }
        let mut t = self.clone();
        t.status = match (&self.status, event) {
            (Status::Queued(_), Transition::Launch { supervisor_pid, .. }) => {
                t.attempts += 1;
                Status::Starting(Active {
                    attempt: t.attempts,
                    supervisor_pid: *supervisor_pid,
                    started_ms: None,
                    cancel_requested: None,
                    suspended: None,
                })
            }
            (Status::Starting(a), Transition::Started { now_ms, .. }) => Status::Running(Active {
                started_ms: Some(*now_ms),
                ..a.clone()
            }),
            (Status::Queued(_), Transition::LaunchFailed { reason, now_ms, .. }) => {
                t.done(TaskState::Failed, None, reason.clone(), *now_ms)
            }
            (Status::Starting(a), Transition::LaunchFailed { reason, now_ms, .. }) => {
                match &a.cancel_requested {
                    Some(why) => t.done(TaskState::Cancelled, a, why.clone(), *now_ms),
                    None => t.done(TaskState::Failed, a, reason.clone(), *now_ms),
                }
            }
            (
                Status::Starting(a) | Status::Running(a),
                Transition::Requeue {
                    reason,
                    eligible_ms,
                    now_ms,
                    ..
                },
            ) => match &a.cancel_requested {
                // A committed cancel is never forgotten by a requeue.
                Some(why) => t.done(TaskState::Cancelled, a, why.clone(), *now_ms),
                None => Status::Queued(Waiting {
                    eligible_ms: *eligible_ms,
                    note: Some(reason.clone()),
                }),
            },
            (Status::Queued(_), Transition::Cancel { reason, now_ms }) => {
                t.done(TaskState::Cancelled, None, reason.clone(), *now_ms)
            }
            (Status::Starting(a) | Status::Running(a), Transition::Cancel { reason, .. }) => {
                let mut a = a.clone();
                a.cancel_requested.get_or_insert_with(|| reason.clone());
                match &self.status {
                    Status::Starting(_) => Status::Starting(a),
                    _ => Status::Running(a),
                }
            }
            (
                Status::Starting(a) | Status::Running(a),
                Transition::Exited {
                    exit_code,
                    signal,
                    error,
                    now_ms,
                    ..
                },
            ) => {
                let (state, reason) = if let Some(reason) = &a.cancel_requested {
                    (TaskState::Cancelled, reason.clone())
                } else if let Some(err) = error {
                    (TaskState::Failed, err.clone())
                } else if *exit_code == Some(0) {
                    (TaskState::Succeeded, String::new())
                } else if let Some(sig) = signal {
                    (TaskState::Failed, format!("killed by signal {sig}"))
                } else {
                    (
                        TaskState::Failed,
                        format!("exited with status {}", exit_code.unwrap_or(-1)),
                    )
                };
                t.exited(state, a, reason, *now_ms, *exit_code, *signal)
            }
            (
                Status::Starting(a) | Status::Running(a),
                Transition::ClaudeEnded {
                    exit_code,
                    signal,
                    end,
                    now_ms,
                    ..
                },
            ) => {
                let Some(c) = t.claude.as_mut() else {
                    return Err(bad());
                };
                c.session_started |= end.session_seen;
                if a.started_ms.is_some() && c.session_started {
                    // The run read its prompt: the next one continues.
                    c.next_prompt = None;
                }
                let state = match (&a.cancel_requested, &end.verdict) {
                    (Some(why), _) => Err((TaskState::Cancelled, why.clone())),
                    (None, ClaudeVerdict::Succeeded) => Err((TaskState::Succeeded, String::new())),
                    (None, ClaudeVerdict::Failed(r)) => Err((TaskState::Failed, r.clone())),
                    (
                        None,
                        ClaudeVerdict::Limited {
                            reason,
                            eligible_ms,
                        },
                    ) => Ok(Waiting {
                        eligible_ms: Some(*eligible_ms),
                        note: Some(reason.clone()),
                    }),
                };
                match state {
                    Ok(waiting) => Status::Queued(waiting),
                    Err((state, reason)) => {
                        t.exited(state, a, reason, *now_ms, *exit_code, *signal)
                    }
                }
            }
            (
                Status::Starting(a) | Status::Running(a),
                Transition::Relaunch {
                    reason,
                    session_seen,
                    now_ms,
                    ..
                },
            ) => match &a.cancel_requested {
                Some(why) => t.done(TaskState::Cancelled, a, why.clone(), *now_ms),
                None => {
                    if let Some(c) = t.claude.as_mut() {
                        c.session_started |= *session_seen;
                    }
                    Status::Queued(Waiting {
                        eligible_ms: None,
                        note: Some(reason.clone()),
                    })
                }
            },
            (Status::Running(a), Transition::Suspend { reason, now_ms, .. })
                if a.suspended.is_none() =>
            {
                Status::Running(Active {
                    suspended: Some(super::task::Suspension {
                        since_ms: *now_ms,
                        reason: Some(reason.clone()),
                    }),
                    ..a.clone()
                })
            }
            (Status::Running(a), Transition::Thaw { .. }) if a.suspended.is_some() => {
                Status::Running(Active {
                    suspended: None,
                    ..a.clone()
                })
            }
            (
                Status::Done(o),
                Transition::Reopen {
                    prompt,
                    env,
                    reason,
                    ..
                },
            ) => {
                match t.claude.as_mut() {
                    Some(c) => c.next_prompt.clone_from(prompt),
                    // A command runs again only after an interruption.
                    None if o.state == TaskState::Interrupted && prompt.is_none() => {}
                    None => return Err(bad()),
                }
                t.env.clone_from(env);
                Status::Queued(Waiting {
                    eligible_ms: None,
                    note: Some(reason.clone()),
                })
            }
            (
                Status::Starting(a) | Status::Running(a),
                Transition::Vanished { reason, now_ms, .. },
            ) => match &a.cancel_requested {
                Some(why) => t.done(TaskState::Cancelled, a, why.clone(), *now_ms),
                None => t.done(TaskState::Interrupted, a, reason.clone(), *now_ms),
            },
            _ => return Err(bad()),
        };
        Ok(t)
    }

    /// [`Task::done`] for an attempt whose command ended, with how it ended.
    fn exited(
        &mut self,
        state: TaskState,
        active: &Active,
        reason: String,
        now_ms: i64,
        exit_code: Option<i32>,
        signal: Option<i32>,
    ) -> Status {
        let mut status = self.done(state, active, reason, now_ms);
        if let Status::Done(o) = &mut status {
            o.exit_code = exit_code;
            o.signal = signal;
        }
        status
    }

    /// The final status; the environment values are dropped, since the task
    /// can never launch again (the names stay, for `status`).
    fn done<'a>(
        &mut self,
        state: TaskState,
        active: impl Into<Option<&'a Active>>,
        reason: String,
        now_ms: i64,
    ) -> Status {
        for (_, value) in self.env.iter_mut() {
            value.clear();
        }
        Status::Done(Outcome {
            state,
            started_ms: active.into().and_then(|a| a.started_ms),
            finished_ms: now_ms,
            exit_code: None,
            signal: None,
            reason: (!reason.is_empty()).then_some(reason),
        })
    }

    /// The exit code `claudinectl wait` reports; see [`wait_code`].
    pub fn wait_code(&self) -> i32 {
        match self.outcome() {
            Some(o) => wait_code(o.state, o.exit_code, o.signal),
            None => 1,
        }
    }
}

/// The exit code `claudinectl wait` reports: the command's own code, or
/// 128+signal like a shell; never 0 for a task that did not succeed (a
/// cancelled task whose command trapped SIGTERM and exited 0 gives 1).
pub fn wait_code(state: TaskState, exit_code: Option<i32>, signal: Option<i32>) -> i32 {
    let code = match (exit_code, signal) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        _ => 1,
    };
    if code == 0 && state != TaskState::Succeeded {
        1
    } else {
        code
    }
}

#[cfg(test)]
#[path = "transition_tests.rs"]
mod tests;
