//! `claudinectl cancel`: stop a task.

use crate::cli::client::Client;
use crate::cli::error::CliError;
use crate::cli::{exit, Output};
use crate::core::{TaskId, TaskState};
use crate::proto::{CancelRequest, TaskView};
use clap::Args;

const EXAMPLES: &str = "\
Examples:
  claudinectl cancel 42
  claudinectl cancel 42 --reason 'superseded by 43'

A queued task is cancelled at once. A running one is stopped (its whole
scope); it is marked cancelled once its processes are gone; use
`claudinectl wait 42` to wait for that.";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct CancelArgs {
    /// The task's id
    #[arg(value_parser = super::parse_id)]
    pub id: TaskId,

    /// Why, recorded with the task
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

pub async fn run(client: &Client, args: CancelArgs, o: &mut Output<'_>) -> Result<i32, CliError> {
    let req = CancelRequest {
        reason: args.reason,
    };
    let answer = client.cancel(args.id, &req).await?;
    if o.json {
        o.json_value(&answer.raw)?;
    } else {
        o.line(&summary(&answer.value))?;
    }
    Ok(exit::OK)
}

/// What happened, according to the task as the daemon returned it.
pub fn summary(t: &TaskView) -> String {
    match t.state {
        TaskState::Cancelled => format!("cancelled {}", t.id),
        state if state.is_active() => {
            format!(
                "cancel requested for {} ({state}; stopping its scope)",
                t.id
            )
        }
        TaskState::Queued => format!("cancel requested for {} (queued)", t.id),
        state => format!("task {} already ended ({state}); nothing to cancel", t.id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::cmd::list::tests::view;

    #[test]
    fn summaries() {
        let s = |state| summary(&view(42, state, &["x"]));
        assert_eq!(s(TaskState::Cancelled), "cancelled 42");
        assert_eq!(
            s(TaskState::Running),
            "cancel requested for 42 (running; stopping its scope)"
        );
        assert_eq!(
            s(TaskState::Starting),
            "cancel requested for 42 (starting; stopping its scope)"
        );
        assert_eq!(
            s(TaskState::Succeeded),
            "task 42 already ended (succeeded); nothing to cancel"
        );
    }
}
