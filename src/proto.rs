//! The wire protocol between `claudinectl` and `claudined`.
//!
//! HTTP/1.1 with JSON bodies over the Unix socket
//! [`DEFAULT_SOCKET`](crate::proto::DEFAULT_SOCKET), so `curl --unix-socket`
//! works as well as the CLI. Every path starts with `/v1`; a breaking change
//! gets a new prefix. Clients send `Claudine-Protocol: 1`; the daemon refuses
//! a different value with 400 `unsupported_protocol` (a missing header is
//! accepted so plain curl works).
//!
//! | method | path                       | body            | answer                       |
//! |--------|----------------------------|-----------------|------------------------------|
//! | GET    | /v1/version                |                 | [`VersionResponse`]          |
//! | POST   | /v1/tasks                  | [`SubmitRequest`] | 201 [`SubmitResponse`]     |
//! | GET    | /v1/tasks?all=1&user=NAME&state=S,S&priority=P,P&limit=N | | [`ListResponse`] (filters in [`list`]) |
//! | GET    | /v1/tasks/{id}             |                 | [`TaskView`]                 |
//! | POST   | /v1/tasks/{id}/cancel      | [`CancelRequest`] | [`TaskView`]               |
//! | POST   | /v1/tasks/{id}/resume      | [`ResumeRequest`] | [`TaskView`] (a Claude task, queued again) |
//! | GET    | /v1/usage?user=NAME        |                 | [`UsageView`] (Claude tokens and cost) |
//! | GET    | /v1/tasks/{id}/wait        |                 | [`TaskView`] once terminal   |
//! | GET    | /v1/tasks/{id}/logs?tail=N&follow=1 |        | `text/plain` stream of the log |
//! | GET    | /v1/tasks/{id}/metrics     |                 | [`MetricsView`] (JSON form in [`metrics`]) |
//! | GET    | /v1/status                 |                 | [`DaemonStatus`]             |
//! | GET    | /v1/events?task=N&after=SEQ&follow=1 |       | NDJSON: one task event per line (`core::events`) |
//! | GET    | /v1/top                    |                 | [`TopView`] (JSON form in [`top`]) |
//!
//! `GET /v1/tasks` lists the tasks the caller may see: without `all`, every
//! queued/starting/running task plus the 20 most recently finished; with
//! `all=1`, every finished task too. Root and members of the admin group see
//! every user's tasks, others only their own; `user=NAME` narrows the list to
//! one owner (others than yourself need admin rights); `state`, `priority` and
//! `limit` narrow it further (see [`list`]). Query values are percent-decoded
//! (`user=j%C3%BCrgen`).
//!
//! Errors are a non-2xx status with an [`ErrorBody`]. A request body larger
//! than [`MAX_REQUEST_BYTES`] is refused with 413 before it is read, and the
//! connection is closed. Another user's task answers exactly like a task that
//! does not exist (404 `not_found`), so ids cannot be probed.

pub mod checkpoint;
pub mod claude;
pub mod list;
pub mod metrics;
pub mod top;
pub mod usage;

pub use checkpoint::CheckpointsView;
pub use claude::{ClaudeRequest, ClaudeView, ResumeRequest, PROMPT_PREVIEW_CHARS};
pub use list::{ListFilter, ListResponse};
pub use metrics::{MetricsPoint, MetricsView};
pub use top::TopView;
pub use usage::UsageView;

use crate::core::{Limits, Priority, Task, TaskId, TaskState};
use crate::store::AttemptRow;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const PROTOCOL_VERSION: u32 = 1;
pub const PROTOCOL_HEADER: &str = "claudine-protocol";
pub const DEFAULT_SOCKET: &str = "/run/claudine/claudine.sock";
/// Largest request body the daemon reads (3 MiB: a prompt of the largest
/// size allowed, 1 MiB, with room for its JSON escapes).
pub const MAX_REQUEST_BYTES: usize = 3 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// The command and its arguments, executed without a shell; empty for
    /// a Claude Code task (`claude`).
    #[serde(default)]
    pub argv: Vec<String>,
    /// Absolute working directory, entered as the submitting user.
    pub cwd: String,
    #[serde(default)]
    pub priority: Priority,
    /// Extra environment variables (`--env KEY=VALUE`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// When true, `env` is the caller's whole environment and replaces the
    /// login-like base instead of adding to it.
    #[serde(default)]
    pub inherit_env: bool,
    /// The command's umask (0..=0o777); 0o022 when absent. `claudinectl`
    /// sends the caller's own.
    #[serde(default)]
    pub umask: Option<u32>,
    /// Hard and soft limits (`--memory-max`, `--max-pids`, ...).
    #[serde(default)]
    pub limits: Limits,
    /// Set for a Claude Code task (then `argv` is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claude: Option<ClaudeRequest>,
    /// The command may run again from the start if its run is interrupted
    /// (a host reboot).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restartable: bool,
    /// Run in a git worktree of its own, on a new branch `claudine/<id>`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub worktree: bool,
    /// Start only after these tasks (at most 64, existing, the caller's
    /// own unless admin) have succeeded; if one does not, the task is
    /// cancelled with its reason (`--after`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<TaskId>,
    /// Start once all of `after` have ended, whatever their outcome
    /// (`--after-any`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after_any: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitResponse {
    pub id: TaskId,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /v1/tasks/{id}/clean`: remove a finished task's worktree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanRequest {
    /// Remove it even with uncommitted changes (they are lost).
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionResponse {
    pub protocol: u32,
    pub version: String,
}

/// What a client sees of a task. Environment values are never sent back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskView {
    pub id: TaskId,
    pub owner_uid: u32,
    pub owner: String,
    pub priority: Priority,
    pub state: TaskState,
    pub argv: Vec<String>,
    pub cwd: String,
    /// Names of the extra environment variables (values are withheld).
    pub env_keys: Vec<String>,
    /// The task was given the submitter's whole environment.
    #[serde(default)]
    pub inherit_env: bool,
    pub created_ms: i64,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub reason: Option<String>,
    pub cancel_requested: Option<String>,
    /// The scope while the task is Starting or Running.
    pub unit: Option<String>,
    /// 1-based place in start order while Queued.
    pub queue_position: Option<usize>,
    /// Why a queued task has not started yet.
    pub waiting_reason: Option<String>,
    /// When a queued task may start, from recent run times (a guess).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_start_ms: Option<i64>,
    /// The memory admission expects a queued task to use, and where that
    /// figure comes from (`request`, `learned`, `default`, `memory-max`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_memory_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_memory_source: Option<String>,
    /// Launch attempts made so far (the current or last attempt's number).
    pub attempts: u32,
    /// The command's umask.
    #[serde(default)]
    pub umask: u32,
    /// The limits it was submitted with.
    #[serde(default)]
    pub limits: Limits,
    /// A queued task does not start before this time (ms).
    #[serde(default)]
    pub eligible_ms: Option<i64>,
    /// Every launch attempt; only in the answer for one task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_history: Option<Vec<AttemptRow>>,
    /// How many checkpoints it has and the last one; only in the answer
    /// for one task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoints: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checkpoint: Option<crate::core::checkpoint::Checkpoint>,
    /// What a running task uses now, read from its scope's cgroup; only in
    /// the answer for one task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Set for a Claude Code task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claude: Option<ClaudeView>,
    /// Submitted `--restartable`.
    #[serde(default)]
    pub restartable: bool,
    /// Its own git worktree: where, on which branch, removed or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<WorktreeView>,
    /// The tasks it starts after (`--after`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<TaskId>,
    /// Submitted `--after-any`: it starts once they all ended, whatever
    /// their outcome.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after_any: bool,
    /// Each of `after` with its state now; only in the answer for one task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependencies: Option<Vec<DependencyView>>,
}

/// One of a task's dependencies, as status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DependencyView {
    pub id: TaskId,
    /// Its state; `None` when the caller may not see it (a task of another
    /// user, named by an admin).
    pub state: Option<TaskState>,
}

/// A task's git worktree, as status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorktreeView {
    pub path: String,
    pub branch: String,
    /// The repository it was made from.
    pub repo: String,
    /// Removed by `claudinectl clean` (then `path` is gone; the branch stays).
    #[serde(default)]
    pub removed: bool,
}

/// A running task's use, from its cgroup (`None` where a file is absent),
/// and what the monitor knows of it (absent until its first sample).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    pub memory_bytes: Option<u64>,
    pub memory_peak_bytes: Option<u64>,
    pub pids: Option<u64>,
    pub cpu_usage_usec: Option<u64>,
    /// `anon` and `file` of `memory.stat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_anon_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_file_bytes: Option<u64>,
    /// `memory.events`: times over `memory.high`, at `memory.max`, OOM
    /// events and OOM kills.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_events: Option<MemoryEventCounts>,
    /// `some avg10` of the scope's `memory.pressure` and `cpu.pressure` (%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_pressure: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_pressure: Option<f64>,
    /// CPU share over the last 10 s, 100 = one core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<f64>,
    /// Time throttled by a CPU quota (`throttled_usec` of `cpu.stat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_throttled_usec: Option<u64>,
    /// Open file descriptors of the scope's processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_files: Option<u64>,
    /// Bytes and lines of output so far (stdout and stderr together).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_lines: Option<u64>,
    /// The last output (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_output_ms: Option<i64>,
    /// Stalled (no output for its threshold) or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stalled: Option<bool>,
    /// In words: `active: last output 12 s ago`, `busy: 98% CPU, no output
    /// for 6 min`, `idle: no CPU, no output for 6 min`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<String>,
}

/// Counts of `memory.events`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryEventCounts {
    pub high: u64,
    pub max: u64,
    pub oom: u64,
    pub oom_kill: u64,
}

impl TaskView {
    pub fn from_task(
        t: &Task,
        queue_position: Option<usize>,
        waiting_reason: Option<String>,
    ) -> Self {
        let f = t.status.fields();
        TaskView {
            id: t.id,
            owner_uid: t.owner_uid,
            owner: t.owner_name.clone(),
            priority: t.priority,
            state: t.state(),
            argv: t.argv.clone(),
            cwd: t.cwd.clone(),
            env_keys: t.env.iter().map(|(k, _)| k.clone()).collect(),
            inherit_env: t.inherit_env,
            created_ms: t.created_ms,
            started_ms: f.started_ms,
            finished_ms: f.finished_ms,
            exit_code: f.exit_code,
            signal: f.signal,
            reason: f.reason,
            cancel_requested: f.cancel_requested,
            unit: t.state().is_active().then(|| t.unit_name()),
            queue_position,
            waiting_reason,
            estimated_start_ms: None,
            expected_memory_bytes: None,
            expected_memory_source: None,
            attempts: t.attempts,
            umask: t.umask,
            limits: t.limits.clone(),
            eligible_ms: f.eligible_ms,
            attempt_history: None,
            checkpoints: None,
            last_checkpoint: None,
            resources: None,
            claude: t.claude.as_ref().map(ClaudeView::of),
            restartable: t.restartable,
            worktree: t.worktree.as_ref().map(|w| WorktreeView {
                path: w.path(t.id),
                branch: crate::core::worktree::Worktree::branch(t.id),
                repo: w.repo.clone(),
                removed: w.removed_ms.is_some(),
            }),
            after: t.after.clone(),
            after_any: t.after_any,
            dependencies: None,
        }
    }

    /// Exit code for `claudinectl wait`; see [`crate::core::wait_code`].
    pub fn wait_code(&self) -> i32 {
        crate::core::wait_code(self.state, self.exit_code, self.signal)
    }
}

/// The daemon's own figures (`GET /v1/status`), for any member of the
/// socket group: counts only, nothing about other users' tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonStatus {
    pub version: String,
    pub queued: usize,
    pub running: usize,
    /// Clients blocked in `wait`.
    pub waiters: usize,
    /// Clients following a log.
    pub log_followers: usize,
}

/// Machine-readable error kinds; `claudinectl` maps them to exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Unknown id, or a task of another user (deliberately the same answer).
    NotFound,
    /// The request was understood but its content is invalid.
    InvalidRequest,
    /// The request could not be parsed (bad JSON, wrong types, unknown field).
    MalformedRequest,
    PayloadTooLarge,
    UnsupportedProtocol,
    /// The caller may not do this (e.g. `--user` filter by a non-admin).
    PermissionDenied,
    /// The task is in a state where the action is impossible.
    Conflict,
    /// A per-user quota refuses the request.
    QuotaExceeded,
    /// The state filesystem is below its free-space reserve.
    InsufficientStorage,
    /// The daemon is shutting down or restarting: retry shortly.
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::NotFound => 404,
            ErrorCode::InvalidRequest
            | ErrorCode::MalformedRequest
            | ErrorCode::UnsupportedProtocol => 400,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::PermissionDenied => 403,
            ErrorCode::Conflict => 409,
            ErrorCode::QuotaExceeded => 429,
            ErrorCode::InsufficientStorage => 507,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ErrorInfo {
    pub code: ErrorCode,
    pub message: String,
}

impl ErrorInfo {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorInfo {
            code,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorInfo,
}

/// Which of a task's outputs `GET /v1/tasks/{id}/logs` sends: the query
/// parameter `stream=stdout|stderr` (`both`, the default, may be omitted).
/// Both is the combined log, stdout and stderr in the order they arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    #[default]
    Both,
    Stdout,
    Stderr,
}

impl LogStream {
    /// The query parameter's value (`both`, `stdout`, `stderr`).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "both" => Ok(LogStream::Both),
            "stdout" => Ok(LogStream::Stdout),
            "stderr" => Ok(LogStream::Stderr),
            _ => Err(format!("stream must be stdout, stderr or both, got {s:?}")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Both => "both",
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }
}

#[cfg(test)]
mod log_stream_tests {
    use super::LogStream;

    #[test]
    fn log_stream_names_round_trip() {
        for s in [LogStream::Both, LogStream::Stdout, LogStream::Stderr] {
            assert_eq!(LogStream::parse(s.as_str()), Ok(s));
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        assert_eq!(LogStream::default(), LogStream::Both);
        assert!(LogStream::parse("out").unwrap_err().contains("\"out\""));
    }
}
