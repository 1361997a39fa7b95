//! Changing a task's course: `cancel_task`, `suspend_task`, `resume_task`.
//! Where one does not apply (suspending a queued task, resuming a running
//! one), claudined says why, and the tool error carries its words.

use super::reply::{self, Answer, Detail};
use super::tasks::TaskArgs;
use super::ClaudineMcp;
use crate::core::TaskState;
use crate::proto::{CancelRequest, ResumeRequest, TaskView};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// The task to cancel.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelArgs {
    /// The task's id.
    pub id: u64,
    /// Why, recorded as the task's reason.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The task to resume.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeArgs {
    /// The task's id.
    pub id: u64,
    /// For a Claude Code task that ended: the next prompt in its session
    /// (default: "continue").
    #[serde(default)]
    pub prompt: Option<String>,
}

/// The task as the daemon answered, with a note on what happens next.
fn answer(t: &TaskView, note: String) -> Answer {
    let mut v = json!({ "task": reply::task(t, Detail::Row, reply::now_ms()) });
    v["note"] = json!(note);
    Ok(reply::json_text(&v))
}

#[tool_router(router = control_router, vis = "pub(super)")]
impl ClaudineMcp {
    /// Cancel a task: a queued one ends at once, a running one is stopped
    /// (every process of it) and ends cancelled once they are gone.
    #[tool(annotations(destructive_hint = true, open_world_hint = false))]
    pub async fn cancel_task(&self, Parameters(args): Parameters<CancelArgs>) -> Answer {
        let id = reply::task_id(args.id)?;
        let req = CancelRequest {
            reason: args.reason,
        };
        let t = self
            .client
            .cancel(id, &req)
            .await
            .map_err(|e| {
                reply::daemon_error(e, "Look with task_status whether the cancel arrived.")
            })?
            .value;
        let note = match t.state {
            TaskState::Cancelled => format!("task {id} is cancelled"),
            _ => format!("cancel requested: task {id} is being stopped; wait_task shows it end"),
        };
        answer(&t, note)
    }

    /// Suspend a running task: every process of it is frozen where it is
    /// and keeps its memory; resume_task thaws it.
    #[tool(annotations(destructive_hint = false, open_world_hint = false))]
    pub async fn suspend_task(&self, Parameters(args): Parameters<TaskArgs>) -> Answer {
        let id = reply::task_id(args.id)?;
        let t = self
            .client
            .suspend(id)
            .await
            .map_err(|e| reply::daemon_error(e, "Look with task_status whether it is suspended."))?
            .value;
        answer(&t, format!("task {id} is frozen; resume_task thaws it"))
    }

    /// Resume a task: a suspended one is thawed; a Claude Code task that
    /// ended is queued again to continue its session (with `prompt`, or
    /// "continue"); an interrupted command runs again.
    #[tool(annotations(destructive_hint = false, open_world_hint = false))]
    pub async fn resume_task(&self, Parameters(args): Parameters<ResumeArgs>) -> Answer {
        let id = reply::task_id(args.id)?;
        if args.prompt.as_deref().is_some_and(|p| p.trim().is_empty()) {
            return Err("`prompt` is empty: leave it out for a plain \"continue\"".into());
        }
        let req = ResumeRequest {
            prompt: args.prompt,
            env: Default::default(),
        };
        let t = self
            .client
            .resume(id, &req)
            .await
            .map_err(|e| reply::daemon_error(e, "Look with task_status whether it resumed."))?
            .value;
        let note = match t.state {
            TaskState::Running => format!("task {id} is running again"),
            state => format!("task {id} is {state}: it continues when its turn comes"),
        };
        answer(&t, note)
    }
}
