//! Looking at tasks: `task_status`, `list_tasks`, `task_logs`.

use super::reply::{self, Answer, Detail};
use super::ClaudineMcp;
use crate::cli::conversation::{LineRenderWriter, Renderer};
use crate::core::TaskState;
use crate::proto::{ListFilter, LogStream};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// Most lines `task_logs` returns.
pub const MAX_TAIL: u32 = 2000;
/// Lines `task_logs` returns by default.
pub const DEFAULT_TAIL: u32 = 100;
/// Most bytes of log `task_logs` returns (the last ones).
pub const MAX_LOG_BYTES: usize = 64 << 10;
/// Most tasks `list_tasks` returns, and by default.
pub const MAX_LIST: u32 = 500;
pub const DEFAULT_LIST: u32 = 50;

/// One task.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskArgs {
    /// The task's id (as delegate_task or list_tasks gave it).
    pub id: u64,
}

/// A task's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[schemars(inline)]
#[serde(rename_all = "lowercase")]
pub enum StateArg {
    Queued,
    Starting,
    Running,
    Suspended,
    Succeeded,
    Failed,
    Cancelled,
    Interrupted,
}

impl From<StateArg> for TaskState {
    fn from(s: StateArg) -> Self {
        match s {
            StateArg::Queued => TaskState::Queued,
            StateArg::Starting => TaskState::Starting,
            StateArg::Running => TaskState::Running,
            StateArg::Suspended => TaskState::Suspended,
            StateArg::Succeeded => TaskState::Succeeded,
            StateArg::Failed => TaskState::Failed,
            StateArg::Cancelled => TaskState::Cancelled,
            StateArg::Interrupted => TaskState::Interrupted,
        }
    }
}

/// Which tasks to list.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Only tasks in one of these states (default: any).
    #[serde(default)]
    pub state: Vec<StateArg>,
    /// At most this many tasks, the newest ones (default 50, at most 500).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Every finished task too; without it, finished tasks are only the 20
    /// most recent.
    #[serde(default)]
    pub all: bool,
}

/// Which output of a task to show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[schemars(inline)]
#[serde(rename_all = "lowercase")]
pub enum StreamArg {
    /// stdout and stderr interleaved as they came (the default).
    #[default]
    Both,
    Stdout,
    Stderr,
}

/// A task's output.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogsArgs {
    /// The task's id.
    pub id: u64,
    /// The last this many lines (default 100, at most 2000).
    #[serde(default)]
    pub tail: Option<u32>,
    /// Which output: "both" (default), "stdout" or "stderr".
    #[serde(default)]
    pub stream: StreamArg,
    /// A Claude Code task's output as its stream-json lines instead of a
    /// readable conversation.
    #[serde(default)]
    pub raw: bool,
}

/// `n`, or `default` when absent, if it lies in `1..=max`.
fn bounded(field: &str, n: Option<u32>, default: u32, max: u32) -> Result<u32, String> {
    match n.unwrap_or(default) {
        n if (1..=max).contains(&n) => Ok(n),
        n => Err(format!("{field} {n} is out of range: 1 to {max}")),
    }
}

#[tool_router(router = tasks_router, vis = "pub(super)")]
impl ClaudineMcp {
    /// Everything about one task: its state, what it runs, how it ended
    /// (exit code, reason) or why it still waits, its worktree, and for a
    /// Claude Code task its session, turns, cost and result.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    pub async fn task_status(&self, Parameters(args): Parameters<TaskArgs>) -> Answer {
        let id = reply::task_id(args.id)?;
        let t = self
            .client
            .task(id)
            .await
            .map_err(|e| reply::daemon_error(e, ""))?;
        Ok(reply::json_text(&reply::task(
            &t.value,
            Detail::Full,
            reply::now_ms(),
        )))
    }

    /// Your tasks: every queued and running one and the 20 most recently
    /// finished (`all` for every finished one), oldest first, with the
    /// numbers queued and running.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    pub async fn list_tasks(&self, Parameters(args): Parameters<ListArgs>) -> Answer {
        let limit = bounded("limit", args.limit, DEFAULT_LIST, MAX_LIST)? as usize;
        let filter = ListFilter {
            states: (!args.state.is_empty())
                .then(|| args.state.iter().map(|s| TaskState::from(*s)).collect()),
            priorities: None,
            limit: None,
        };
        let list = self
            .client
            .list(args.all, None, &filter)
            .await
            .map_err(|e| reply::daemon_error(e, ""))?
            .value;
        let now = reply::now_ms();
        let skip = list.tasks.len().saturating_sub(limit);
        let tasks: Vec<_> = list.tasks[skip..]
            .iter()
            .map(|t| reply::task(t, Detail::Row, now))
            .collect();
        let mut answer = json!({
            "tasks": tasks,
            "queued": list.queued,
            "running": list.running,
        });
        if skip > 0 {
            answer["older_left_out"] = json!(skip);
        }
        Ok(reply::json_text(&answer))
    }

    /// The end of a task's output (stdout and stderr as they came, or one
    /// of them): the last `tail` lines, at most 64 KiB. A Claude Code task's
    /// output is shown as its conversation unless `raw`.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    pub async fn task_logs(&self, Parameters(args): Parameters<LogsArgs>) -> Answer {
        let id = reply::task_id(args.id)?;
        let tail = bounded("tail", args.tail, DEFAULT_TAIL, MAX_TAIL)?;
        let stream = match args.stream {
            StreamArg::Both => LogStream::Both,
            StreamArg::Stdout => LogStream::Stdout,
            StreamArg::Stderr => LogStream::Stderr,
        };
        let is_claude = !args.raw
            && stream != LogStream::Stderr
            && self
                .client
                .task(id)
                .await
                .map_err(|e| reply::daemon_error(e, ""))?
                .value
                .claude
                .is_some();
        let mut log = Vec::new();
        let fetch = if is_claude {
            let mut lines = LineRenderWriter::new(
                &mut log,
                Renderer::with_offset(*chrono::Local::now().offset()),
            );
            let copied = self
                .client
                .logs(id, Some(tail.into()), false, stream, &mut lines)
                .await;
            let _ = lines.finish();
            copied
        } else {
            self.client
                .logs(id, Some(tail.into()), false, stream, &mut log)
                .await
        };
        fetch.map_err(|e| reply::daemon_error(e, ""))?;
        Ok(last_bytes(&log, MAX_LOG_BYTES))
    }
}

/// The log as text: its last `max` bytes (from a line start when one is
/// near), with a first line saying what was left out.
pub fn last_bytes(log: &[u8], max: usize) -> String {
    if log.is_empty() {
        return "(no output)".into();
    }
    if log.len() <= max {
        return String::from_utf8_lossy(log).into_owned();
    }
    let mut start = log.len() - max;
    if let Some(nl) = log[start..].iter().position(|b| *b == b'\n') {
        if nl < 1024 {
            start += nl + 1;
        }
    }
    format!(
        "[first {start} bytes left out: at most {} KiB are shown]\n{}",
        max >> 10,
        String::from_utf8_lossy(&log[start..])
    )
}
