//! The task record and its state machine.
//!
//! ```text
//!            submit           launch            scope ready (go)
//!   (new) ──────────▶ Queued ────────▶ Starting ─────────────────▶ Running
//!                       │  ▲              │  │                        │
//!                cancel │  └─ requeue ────┘  │ launch failed          │ supervisor reports
//!                       ▼   (never ran)      ▼                        ▼ / scope vanished
//!                   Cancelled            Failed          Succeeded | Failed | Cancelled | Interrupted
//! ```
//!
//! A transition is a pure function of the current record and an event; the
//! daemon persists the new record before it acts on it or acknowledges it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A task id: positive, assigned by the store, never reused.
pub type TaskId = i64;

/// Scheduling priority. P0 runs before P1, P1 before P2; FIFO within one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub enum Priority {
    P0,
    #[default]
    P1,
    P2,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P0 => "P0",
            Priority::P1 => "P1",
            Priority::P2 => "P2",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "P0" | "0" => Ok(Priority::P0),
            "P1" | "1" => Ok(Priority::P1),
            "P2" | "2" => Ok(Priority::P2),
            _ => Err(format!("invalid priority {s:?}: expected P0, P1 or P2")),
        }
    }
}

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Waiting for admission.
    Queued,
    /// Supervisor forked, scope being created; the command has not run yet.
    Starting,
    /// The command runs inside its scope.
    Running,
    /// Exited with status 0.
    Succeeded,
    /// Exited non-zero, was killed by a signal, or could not be started.
    Failed,
    /// Stopped on request (before or while running).
    Cancelled,
    /// Its scope vanished without an exit status (host reboot, scope killed
    /// from outside while the daemon was down).
    Interrupted,
}

impl TaskState {
    pub const ALL: [TaskState; 7] = [
        TaskState::Queued,
        TaskState::Starting,
        TaskState::Running,
        TaskState::Succeeded,
        TaskState::Failed,
        TaskState::Cancelled,
        TaskState::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Starting => "starting",
            TaskState::Running => "running",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
            TaskState::Interrupted => "interrupted",
        }
    }

    /// True once the task can never change again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Succeeded
                | TaskState::Failed
                | TaskState::Cancelled
                | TaskState::Interrupted
        )
    }

    /// True while the task holds (or is acquiring) a scope.
    pub fn is_active(self) -> bool {
        matches!(self, TaskState::Starting | TaskState::Running)
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown task state {s:?}"))
    }
}

/// Everything the daemon knows about one task. Environment values live only
/// here and in the root-only store; they are never logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: TaskId,
    pub owner_uid: u32,
    pub owner_name: String,
    pub priority: Priority,
    pub state: TaskState,
    pub argv: Vec<String>,
    pub cwd: String,
    /// Extra environment on top of the login-like base (KEY, VALUE).
    pub env: Vec<(String, String)>,
    /// When true the extra environment replaces the base entirely.
    pub inherit_env: bool,
    /// Unix time in milliseconds.
    pub created_ms: i64,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// Why the task is in its state (cancel reason, launch error, ...).
    pub reason: Option<String>,
    /// Set when a cancel was asked for while the task was active.
    pub cancel_requested: Option<String>,
    /// Pid of the per-task supervisor while Starting/Running.
    pub supervisor_pid: Option<u32>,
    /// How many times the task entered Starting.
    pub attempts: u32,
}

/// A task as submitted, before the store gives it an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    pub owner_uid: u32,
    pub owner_name: String,
    pub priority: Priority,
    pub argv: Vec<String>,
    pub cwd: String,
    pub env: Vec<(String, String)>,
    pub inherit_env: bool,
    pub created_ms: i64,
}

impl Task {
    /// A just-submitted task: Queued, never launched.
    pub fn queued(id: TaskId, new: NewTask) -> Task {
        Task {
            id,
            owner_uid: new.owner_uid,
            owner_name: new.owner_name,
            priority: new.priority,
            state: TaskState::Queued,
            argv: new.argv,
            cwd: new.cwd,
            env: new.env,
            inherit_env: new.inherit_env,
            created_ms: new.created_ms,
            started_ms: None,
            finished_ms: None,
            exit_code: None,
            signal: None,
            reason: None,
            cancel_requested: None,
            supervisor_pid: None,
            attempts: 0,
        }
    }

    /// The systemd unit that holds this task's processes.
    pub fn unit_name(&self) -> String {
        unit_name(self.id)
    }
}

/// `claudine-task-<id>.scope`: names are generated from the numeric id only,
/// never from user text.
pub fn unit_name(id: TaskId) -> String {
    format!("claudine-task-{id}.scope")
}

/// Parse a unit name produced by [`unit_name`].
pub fn parse_unit_name(unit: &str) -> Option<TaskId> {
    let id = unit
        .strip_prefix("claudine-task-")?
        .strip_suffix(".scope")?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) || id.starts_with('0') {
        return None;
    }
    id.parse().ok().filter(|id: &TaskId| *id > 0)
}

/// An event that moves a task. Every variant carries what the new record
/// needs, including the time, so [`Task::apply`] stays pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Admission chose it; a supervisor with this pid now waits for its scope.
    Launch { supervisor_pid: u32, now_ms: i64 },
    /// The scope exists and the supervisor was told to go.
    Started { now_ms: i64 },
    /// The launch failed before the command could run.
    LaunchFailed { reason: String, now_ms: i64 },
    /// A Starting task whose supervisor never got the go (daemon died first).
    Requeue { reason: String },
    /// A cancel request. Queued tasks end at once; active ones are marked and
    /// end when their supervisor reports.
    Cancel { reason: String, now_ms: i64 },
    /// The supervisor reported how the command ended.
    Exited {
        exit_code: Option<i32>,
        signal: Option<i32>,
        error: Option<String>,
        now_ms: i64,
    },
    /// The scope is gone and nobody recorded an exit status.
    Vanished { reason: String, now_ms: i64 },
}

impl Transition {
    fn name(&self) -> &'static str {
        match self {
            Transition::Launch { .. } => "launch",
            Transition::Started { .. } => "started",
            Transition::LaunchFailed { .. } => "launch-failed",
            Transition::Requeue { .. } => "requeue",
            Transition::Cancel { .. } => "cancel",
            Transition::Exited { .. } => "exited",
            Transition::Vanished { .. } => "vanished",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("task {id}: cannot apply {event} in state {state}")]
pub struct TransitionError {
    pub id: TaskId,
    pub state: TaskState,
    pub event: &'static str,
}

impl Task {
    /// The record after `event`, or an error if the event makes no sense in
    /// the current state. Does not modify `self`.
    pub fn apply(&self, event: &Transition) -> Result<Task, TransitionError> {
        use TaskState::*;
        let mut t = self.clone();
        let bad = || TransitionError {
            id: self.id,
            state: self.state,
            event: event.name(),
        };
        match (self.state, event) {
            (Queued, Transition::Launch { supervisor_pid, .. }) => {
                t.state = Starting;
                t.supervisor_pid = Some(*supervisor_pid);
                t.attempts += 1;
            }
            (Starting, Transition::Started { now_ms }) => {
                t.state = Running;
                t.started_ms = Some(*now_ms);
            }
            (Queued | Starting, Transition::LaunchFailed { reason, now_ms }) => {
                t.finish(Failed, reason.clone(), *now_ms);
            }
            (Starting, Transition::Requeue { reason }) => {
                t.state = Queued;
                t.supervisor_pid = None;
                t.reason = Some(reason.clone());
            }
            (Queued, Transition::Cancel { reason, now_ms }) => {
                t.finish(Cancelled, reason.clone(), *now_ms);
            }
            (Starting | Running, Transition::Cancel { reason, .. }) => {
                if t.cancel_requested.is_none() {
                    t.cancel_requested = Some(reason.clone());
                }
            }
            (
                Starting | Running,
                Transition::Exited {
                    exit_code,
                    signal,
                    error,
                    now_ms,
                },
            ) => {
                t.exit_code = *exit_code;
                t.signal = *signal;
                let (state, reason) = if let Some(reason) = &t.cancel_requested {
                    (Cancelled, reason.clone())
                } else if let Some(err) = error {
                    (Failed, err.clone())
                } else if *exit_code == Some(0) {
                    (Succeeded, String::new())
                } else if let Some(sig) = signal {
                    (Failed, format!("killed by signal {sig}"))
                } else {
                    (
                        Failed,
                        format!("exited with status {}", exit_code.unwrap_or(-1)),
                    )
                };
                t.finish(state, reason, *now_ms);
            }
            (Starting | Running, Transition::Vanished { reason, now_ms }) => {
                let state = if t.cancel_requested.is_some() {
                    Cancelled
                } else {
                    Interrupted
                };
                let reason = t.cancel_requested.clone().unwrap_or_else(|| reason.clone());
                t.finish(state, reason, *now_ms);
            }
            _ => return Err(bad()),
        }
        Ok(t)
    }

    fn finish(&mut self, state: TaskState, reason: String, now_ms: i64) {
        self.state = state;
        self.finished_ms = Some(now_ms);
        self.supervisor_pid = None;
        self.reason = if reason.is_empty() {
            None
        } else {
            Some(reason)
        };
        // Environment values are needed only to launch; drop them once the
        // task can never launch again (the names stay, for `status`).
        for (_, value) in self.env.iter_mut() {
            value.clear();
        }
    }

    /// The exit code `claudinectl wait` reports; see [`wait_code`].
    pub fn wait_code(&self) -> i32 {
        wait_code(self.state, self.exit_code, self.signal)
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
#[path = "task_tests.rs"]
mod tests;
