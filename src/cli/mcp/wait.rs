//! `wait_task`: wait for a task to end, for a bounded time.
//!
//! claudined holds `GET /v1/tasks/{id}/wait` open until the task ends; the
//! wait is cut at the timeout (the daemon drops the waiter of a connection
//! that went away), and the task's state is then read and returned either
//! way (the task's own view, with a Claude run's progress and result). A
//! restart of claudined during the wait does not end it: as in
//! `claudinectl wait`, the request is sent again until the timeout, and
//! only a daemon still unreachable then is an error.

use super::reply::{self, Answer, Detail};
use super::ClaudineMcp;
use crate::cli::client::Answer as ClientAnswer;
use crate::cli::error::CliError;
use crate::core::TaskId;
use crate::proto::TaskView;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

/// The longest wait one call may ask for, in seconds.
pub const MAX_WAIT_S: u32 = 600;
/// The wait without `timeout_seconds`.
pub const DEFAULT_WAIT_S: u32 = 60;

/// The task to wait for, and for how long.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitArgs {
    /// The task's id.
    pub id: u64,
    /// Give up waiting after this many seconds (default 60, at most 600)
    /// and return the state the task is in then.
    #[serde(default)]
    pub timeout_seconds: Option<u32>,
}

#[tool_router(router = wait_router, vis = "pub(super)")]
impl ClaudineMcp {
    /// Wait until a task ends (succeeded, failed, cancelled or interrupted),
    /// at most `timeout_seconds`; returns its state either way, with
    /// `ended` saying which. A task still running at the timeout goes on:
    /// call wait_task again, or do other work meanwhile.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    pub async fn wait_task(&self, Parameters(args): Parameters<WaitArgs>) -> Answer {
        let id = reply::task_id(args.id)?;
        let secs = match args.timeout_seconds.unwrap_or(DEFAULT_WAIT_S) {
            s if s <= MAX_WAIT_S => s,
            s => {
                return Err(format!(
                    "timeout_seconds {s} is too long: at most {MAX_WAIT_S}; call wait_task \
                     again to wait longer"
                ))
            }
        };
        let deadline = Instant::now() + Duration::from_secs(secs.into());
        let t = wait_until(self, id, deadline)
            .await
            .map_err(|e| reply::daemon_error(e, ""))?;
        let ended = t.state.is_terminal();
        let mut answer = json!({
            "ended": ended,
            "task": reply::task(&t, Detail::Full, reply::now_ms()),
        });
        if !ended {
            answer["note"] = json!(format!(
                "task {id} is still {} after {secs} s; it goes on",
                t.state
            ));
        }
        Ok(reply::json_text(&answer))
    }
}

/// The task once it ended, or as it is at `deadline`.
async fn wait_until(
    server: &ClaudineMcp,
    id: TaskId,
    deadline: Instant,
) -> Result<TaskView, CliError> {
    let client = &server.client;
    let mut delay = Duration::from_millis(100);
    loop {
        let waited = tokio::time::timeout_at(deadline, client.wait(id)).await;
        let err = match waited {
            // The wait's answer lacks what only the task's own view has
            // (a Claude run's progress and result): ask for it, keeping
            // the wait's if that fails.
            Ok(Ok(ClientAnswer { value, .. })) if value.state.is_terminal() => {
                return Ok(client.task(id).await.map_or(value, |a| a.value))
            }
            // Not terminal: the daemon let the wait go early (it is
            // shutting down); ask again.
            Ok(Ok(_)) => None,
            Ok(Err(e)) if e.is_transient() => Some(e),
            Ok(Err(e)) => return Err(e),
            Err(_) => return client.task(id).await.map(|a| a.value),
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return match err {
                Some(e) => Err(e),
                None => client.task(id).await.map(|a| a.value),
            };
        }
        tokio::time::sleep(delay.min(left)).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}
