//! The task record and its state machine.
//!
//! ```text
//!            submit           launch (attempt n)     scope ready (go)
//!   (new) ──────────▶ Queued ──────────────────▶ Starting ─────────────▶ Running
//!                     │  ▲ ▲                      │  │                    │
//!              cancel │  │ └──── requeue ─────────┘  │ launch failed      │ exited / vanished
//!                     ▼  │   (attempt n never ran)    ▼                    ▼
//!                 Cancelled   (eligible_ms: waits   Failed | Cancelled   Succeeded | Failed |
//!                              until a time)                             Cancelled | Interrupted
//! ```
//!
//! State-specific data lives with its state ([`Status`]): a queued task may
//! carry the time it becomes eligible again; an active one its attempt, its
//! supervisor and a pending cancel; a finished one its outcome. Every event
//! about an active task names the attempt it is about, and an event for
//! another attempt is refused, so a late report can never finish the wrong
//! launch. The transitions themselves are in [`super::transition`].

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

/// The name of a task's state, as stored and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Waiting for admission (or for its eligibility time).
    Queued,
    /// Supervisor forked, scope being created; the command has not run yet.
    Starting,
    /// The command runs inside its scope.
    Running,
    /// Its scope is frozen (`claudinectl suspend`): every process stopped,
    /// its memory still held; `resume` thaws it.
    Suspended,
    /// Exited with status 0.
    Succeeded,
    /// Exited non-zero, was killed by a signal, or could not be started.
    Failed,
    /// Stopped on request (before or while running).
    Cancelled,
    /// Its attempt ran (or may have run) and no exit status survived (host
    /// reboot, scope killed from outside while the daemon was down).
    Interrupted,
}

impl TaskState {
    pub const ALL: [TaskState; 8] = [
        TaskState::Queued,
        TaskState::Starting,
        TaskState::Running,
        TaskState::Suspended,
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
            TaskState::Suspended => "suspended",
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
        matches!(
            self,
            TaskState::Starting | TaskState::Running | TaskState::Suspended
        )
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

/// Where a task is, with the data that belongs to that state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Queued(Waiting),
    Starting(Active),
    Running(Active),
    Done(Outcome),
}

/// A queued task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    /// Not to be started before this time (a cooldown); `None`: at once.
    pub eligible_ms: Option<i64>,
    /// Why it is back in the queue, if it is.
    pub note: Option<String>,
}

/// A task that holds a scope (Starting or Running).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Active {
    /// The launch attempt, 1 for the first.
    pub attempt: u32,
    /// The per-task supervisor of this attempt.
    pub supervisor_pid: u32,
    /// When the scope was ready and the command told to go.
    pub started_ms: Option<i64>,
    /// A cancel asked for while active; the task ends Cancelled.
    pub cancel_requested: Option<String>,
    /// Set while its scope is frozen (state Suspended).
    #[serde(default)]
    pub suspended: Option<Suspension>,
}

/// A running task's frozen spell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspension {
    pub since_ms: i64,
    /// Who or what froze it (`suspended by alice`).
    pub reason: Option<String>,
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Succeeded, Failed, Cancelled or Interrupted.
    pub state: TaskState,
    pub started_ms: Option<i64>,
    pub finished_ms: i64,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub reason: Option<String>,
}

impl Status {
    pub fn state(&self) -> TaskState {
        match self {
            Status::Queued(_) => TaskState::Queued,
            Status::Starting(_) => TaskState::Starting,
            Status::Running(a) if a.suspended.is_some() => TaskState::Suspended,
            Status::Running(_) => TaskState::Running,
            Status::Done(o) => o.state,
        }
    }
}

/// A status as flat, optional fields (for tables and wire views): which are
/// set depends on the state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusFields {
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// Why it is queued again (Queued) or why it ended (Done).
    pub reason: Option<String>,
    pub cancel_requested: Option<String>,
    pub supervisor_pid: Option<u32>,
    pub eligible_ms: Option<i64>,
    /// Since when a suspended task is frozen.
    pub suspended_ms: Option<i64>,
}

impl Status {
    pub fn fields(&self) -> StatusFields {
        let mut f = StatusFields::default();
        match self {
            Status::Queued(w) => {
                f.eligible_ms = w.eligible_ms;
                f.reason = w.note.clone();
            }
            Status::Starting(a) | Status::Running(a) => {
                f.supervisor_pid = Some(a.supervisor_pid);
                f.started_ms = a.started_ms;
                f.cancel_requested = a.cancel_requested.clone();
                if let Some(s) = &a.suspended {
                    f.suspended_ms = Some(s.since_ms);
                    f.reason = s.reason.clone();
                }
            }
            Status::Done(o) => {
                f.started_ms = o.started_ms;
                f.finished_ms = Some(o.finished_ms);
                f.exit_code = o.exit_code;
                f.signal = o.signal;
                f.reason = o.reason.clone();
            }
        }
        f
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
    pub argv: Vec<String>,
    pub cwd: String,
    /// Extra environment on top of the login-like base (KEY, VALUE).
    pub env: Vec<(String, String)>,
    /// When true the extra environment replaces the base entirely.
    pub inherit_env: bool,
    /// The command's umask.
    pub umask: u32,
    /// What it may use (hard limits are the scope's properties).
    pub limits: super::Limits,
    /// Unix time in milliseconds.
    pub created_ms: i64,
    /// Launch attempts made so far (the number of the current or last one).
    pub attempts: u32,
    pub status: Status,
    /// Set for a Claude Code task: its prompt, session and options (the
    /// command line of each run is built from them).
    pub claude: Option<super::claude::ClaudeTask>,
    /// May run again from the start when its run was interrupted (host
    /// reboot): `--restartable`.
    pub restartable: bool,
    /// Its own git worktree (`--worktree`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<super::worktree::Worktree>,
    /// The tasks it starts after (`--after`): it waits until all of them
    /// succeeded ([`super::deps`]). Fixed at submit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<TaskId>,
    /// `--after-any`: it starts once all of `after` ended, whatever their
    /// outcome.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after_any: bool,
}

/// The umask a task gets when the submitter does not say.
pub const DEFAULT_UMASK: u32 = 0o022;

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
    pub umask: u32,
    pub limits: super::Limits,
    pub created_ms: i64,
    pub claude: Option<super::claude::ClaudeTask>,
    pub restartable: bool,
    /// Its own git worktree (`--worktree`).
    pub worktree: Option<super::worktree::Worktree>,
    /// `--after` and `--after-any` (see [`Task::after`]).
    pub after: Vec<TaskId>,
    pub after_any: bool,
}

impl NewTask {
    /// Bytes of user data the task holds in memory (for per-user quotas).
    pub fn footprint(&self) -> usize {
        footprint(&self.argv, &self.env, &self.cwd, self.claude.as_ref())
    }
}

fn footprint(
    argv: &[String],
    env: &[(String, String)],
    cwd: &str,
    claude: Option<&super::claude::ClaudeTask>,
) -> usize {
    argv.iter().map(|a| a.len() + 1).sum::<usize>()
        + env
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum::<usize>()
        + cwd.len()
        + claude.map_or(0, |c| c.footprint())
}

impl Task {
    /// A just-submitted task: Queued, never launched.
    pub fn queued(id: TaskId, new: NewTask) -> Task {
        Task {
            id,
            owner_uid: new.owner_uid,
            owner_name: new.owner_name,
            priority: new.priority,
            argv: new.argv,
            cwd: new.cwd,
            env: new.env,
            inherit_env: new.inherit_env,
            umask: new.umask,
            limits: new.limits,
            created_ms: new.created_ms,
            attempts: 0,
            status: Status::Queued(Waiting::default()),
            claude: new.claude,
            restartable: new.restartable,
            worktree: new.worktree,
            after: new.after,
            after_any: new.after_any,
        }
    }

    pub fn state(&self) -> TaskState {
        self.status.state()
    }

    /// The attempt in progress, while Starting or Running.
    pub fn active(&self) -> Option<&Active> {
        match &self.status {
            Status::Starting(a) | Status::Running(a) => Some(a),
            _ => None,
        }
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.status {
            Status::Done(o) => Some(o),
            _ => None,
        }
    }

    /// Bytes of user data the task holds in memory.
    pub fn footprint(&self) -> usize {
        footprint(&self.argv, &self.env, &self.cwd, self.claude.as_ref())
    }

    /// Whether it runs Claude Code.
    pub fn is_claude(&self) -> bool {
        self.claude.is_some()
    }

    /// Its place in the ready queue: (priority, owner, id).
    pub fn queue_key(&self) -> super::queue::Key {
        (self.priority, self.owner_uid, self.id)
    }

    /// Queued and never launched, with dependencies: they decide when it
    /// may start ([`super::deps`]).
    pub fn waits_for_dependencies(&self) -> bool {
        self.attempts == 0 && !self.after.is_empty() && self.state() == TaskState::Queued
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
