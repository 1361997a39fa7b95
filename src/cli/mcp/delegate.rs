//! `delegate_task`: queue a Claude Code prompt or a command, as
//! `claudinectl submit` does.

use super::reply::{self, Answer, Detail};
use super::ClaudineMcp;
use crate::cli::cmd::submit::{own_umask, resolve_cwd};
use crate::cli::cmd::submit_claude::find_claude;
use crate::core::claude::ClaudeOptions;
use crate::core::{Limits, TaskId};
use crate::proto::{ClaudeRequest, SubmitRequest};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

/// A task's priority.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[schemars(inline)]
pub enum PriorityArg {
    /// Urgent: runs before every P1 and P2 task.
    P0,
    /// Normal (the default).
    #[default]
    P1,
    /// Background: runs when no P0 or P1 task waits.
    P2,
}

impl From<PriorityArg> for crate::core::Priority {
    fn from(p: PriorityArg) -> Self {
        match p {
            PriorityArg::P0 => crate::core::Priority::P0,
            PriorityArg::P1 => crate::core::Priority::P1,
            PriorityArg::P2 => crate::core::Priority::P2,
        }
    }
}

/// What to run: exactly one of `prompt` (a new Claude Code session) or
/// `command` (a program and its arguments).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DelegateArgs {
    /// The task for a new headless Claude Code session (claude -p) that
    /// runs as you in `cwd`; up to 1 MiB. Say everything it needs: it does
    /// not see this conversation.
    #[serde(default)]
    pub prompt: Option<String>,
    /// A command and its arguments, run without a shell, e.g. ["cargo",
    /// "test", "--release"]; use ["sh", "-c", "..."] for pipes and
    /// redirections.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Working directory, absolute or relative to this server's (the
    /// default: the directory this MCP server was started in, usually the
    /// project's).
    #[serde(default)]
    pub cwd: Option<String>,
    /// P0 runs before P1, P1 before P2; first come first served within one
    /// (default P1).
    #[serde(default)]
    pub priority: Option<PriorityArg>,
    /// The memory the task is expected to need, e.g. "4G" or "512M": held
    /// for it when it starts (default: what similar tasks used).
    #[serde(default)]
    pub memory: Option<String>,
    /// Hard memory limit, e.g. "8G": the task is killed if it uses more.
    #[serde(default)]
    pub memory_max: Option<String>,
    /// Run in a git worktree of its own (of the repository of `cwd`), on a
    /// new branch claudine/<id>, so it can edit files alongside other
    /// tasks; the worktree's path is in task_status.
    #[serde(default)]
    pub worktree: bool,
    /// Start only after these tasks (ids) have succeeded; if one fails or
    /// is cancelled, this task is cancelled too (at most 64).
    #[serde(default)]
    pub after: Vec<u64>,
    /// With `after`: start once they have all ended, whatever the outcome.
    #[serde(default)]
    pub after_any: bool,
    /// Claude tasks only: the model, e.g. "sonnet" or "opus".
    #[serde(default)]
    pub model: Option<String>,
    /// Claude tasks only: the permission mode ("acceptEdits",
    /// "bypassPermissions", "plan", "default"). Without one, tool calls that
    /// need approval are denied (nobody is there to approve them).
    #[serde(default)]
    pub permission_mode: Option<String>,
    /// Claude tasks only: tools allowed without asking, e.g. "Edit",
    /// "Bash(cargo test:*)".
    #[serde(default)]
    pub allowed_tools: Vec<String>,
}

impl DelegateArgs {
    /// The submit request, or what is wrong with the arguments.
    pub fn request(self) -> Result<SubmitRequest, String> {
        let claude_options = ClaudeOptions {
            model: self.model,
            permission_mode: self.permission_mode,
            allowed_tools: self.allowed_tools,
            ..ClaudeOptions::default()
        };
        let (argv, claude) = match (self.prompt, self.command) {
            (Some(_), Some(_)) => {
                return Err(
                    "give either `prompt` (a Claude Code task) or `command`, not both".into(),
                )
            }
            (None, None) => {
                return Err(
                    "nothing to run: give `prompt` (a task for a new Claude Code session) \
                     or `command` (a program and its arguments, e.g. [\"make\", \"test\"])"
                        .into(),
                )
            }
            (Some(p), None) if p.trim().is_empty() => {
                return Err("`prompt` is empty: say what Claude should do".into())
            }
            (Some(prompt), None) => {
                let path = std::env::var("PATH").ok();
                let claude = ClaudeRequest {
                    prompt,
                    binary: find_claude(path.as_deref()),
                    options: claude_options,
                    continue_from: None,
                };
                (Vec::new(), Some(claude))
            }
            (None, Some(argv)) => {
                if argv.first().is_none_or(|p| p.is_empty()) {
                    return Err("`command` is empty: give the program and its arguments, \
                         e.g. [\"make\", \"test\"]"
                        .into());
                }
                if claude_options != ClaudeOptions::default() {
                    return Err("`model`, `permission_mode` and `allowed_tools` go with a \
                         `prompt`, not with a `command`"
                        .into());
                }
                (argv, None)
            }
        };
        if self.after_any && self.after.is_empty() {
            return Err("`after_any` needs `after`: the tasks to wait for".into());
        }
        let after = self
            .after
            .into_iter()
            .map(reply::task_id)
            .collect::<Result<Vec<TaskId>, _>>()
            .map_err(|e| format!("after: {e}"))?;
        let size = |field: &str, v: Option<String>| {
            v.map(|s| crate::core::units::parse_positive_size(&s))
                .transpose()
                .map_err(|e| format!("{field}: {e}"))
        };
        let limits = Limits {
            memory_request: size("memory", self.memory)?,
            memory_max: size("memory_max", self.memory_max)?,
            ..Limits::default()
        };
        let cwd = resolve_cwd(self.cwd.as_deref()).map_err(|e| format!("cwd: {e}"))?;
        Ok(SubmitRequest {
            argv,
            cwd,
            priority: self.priority.unwrap_or_default().into(),
            env: Default::default(),
            inherit_env: false,
            umask: Some(own_umask()),
            limits,
            claude,
            restartable: false,
            worktree: self.worktree,
            after,
            after_any: self.after_any,
        })
    }
}

#[tool_router(router = delegate_router, vis = "pub(super)")]
impl ClaudineMcp {
    /// Queue work for claudine: a prompt for a new headless Claude Code
    /// session, or a command. It runs as you, in its own systemd scope, when
    /// memory and CPU allow (in priority order), and outlives this session.
    /// Answers at once with the task's id and state; follow it with
    /// wait_task, task_status and task_logs.
    #[tool(annotations(destructive_hint = false, open_world_hint = false))]
    pub async fn delegate_task(&self, Parameters(args): Parameters<DelegateArgs>) -> Answer {
        let req = args.request()?;
        let id = self
            .client
            .submit(&req)
            .await
            .map_err(|e| {
                reply::daemon_error(
                    e,
                    "The task may or may not have been queued: look with list_tasks \
                     before delegating it again.",
                )
            })?
            .value
            .id;
        // The task exists now: a failure to show it is no failure to
        // queue it.
        let shown = match self.client.task(id).await {
            Ok(t) => reply::task(&t.value, Detail::Row, reply::now_ms()),
            Err(_) => serde_json::json!({ "id": id }),
        };
        Ok(reply::json_text(&shown))
    }
}
