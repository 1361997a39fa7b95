//! `claudinectl wait`: block until a task ends, exit with its code.
//!
//! The daemon holds the request open until the task is terminal, so there is
//! no client-side timeout. If claudined restarts meanwhile the connection
//! drops (or it answers `internal` "shutting down"); the task is not
//! affected (it lives in its own scope), so we reconnect and keep waiting,
//! giving up only when the daemon stays unreachable for
//! [`Retry::give_up_after`].

use crate::cli::client::{Answer, Client};
use crate::cli::error::CliError;
use crate::cli::format;
use crate::cli::Output;
use crate::core::{TaskId, TaskState};
use crate::proto::TaskView;
use clap::Args;
use std::time::{Duration, Instant};

const EXAMPLES: &str = "\
Examples:
  claudinectl wait 42 && echo 'task 42 succeeded'
  id=$(claudinectl submit -- make test) && claudinectl wait \"$id\"
  claudinectl wait 42 --json | jq .exit_code

Exit status: the task's exit code; 128+N if signal N killed it; 1 if it
ended without one (cancelled before it ran, interrupted, could not start).
If claudined restarts meanwhile, wait reconnects and keeps waiting; it gives
up with 69 when claudined stays unreachable for a minute.";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct WaitArgs {
    /// The task's id
    #[arg(value_parser = super::parse_id)]
    pub id: TaskId,
}

/// How long to keep trying while the daemon is unreachable.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Give up once the daemon has been unreachable this long.
    pub give_up_after: Duration,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Retry {
    pub const DEFAULT: Retry = Retry {
        give_up_after: Duration::from_secs(60),
        first_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(2),
    };
}

pub async fn run(client: &Client, args: WaitArgs, o: &mut Output<'_>) -> Result<i32, CliError> {
    run_with(client, args.id, Retry::DEFAULT, o).await
}

pub async fn run_with(
    client: &Client,
    id: TaskId,
    retry: Retry,
    o: &mut Output<'_>,
) -> Result<i32, CliError> {
    let answer = wait_terminal(client, id, retry, o).await?;
    let t = &answer.value;
    if o.json {
        o.json_value(&answer.raw)?;
    } else if t.state != TaskState::Succeeded {
        o.note(&failure(t));
    }
    Ok(t.wait_code())
}

async fn wait_terminal(
    client: &Client,
    id: TaskId,
    retry: Retry,
    o: &mut Output<'_>,
) -> Result<Answer<TaskView>, CliError> {
    let mut down_since: Option<Instant> = None;
    let mut delay = retry.first_delay;
    let mut told = false;
    loop {
        let attempt = Instant::now();
        let err = match client.wait(id).await {
            Ok(answer) if answer.value.state.is_terminal() => return Ok(answer),
            Ok(_) => {
                // Not terminal: the daemon let the long poll go early (it
                // may be shutting down). Ask again after a short pause.
                down_since = None;
                delay = retry.first_delay;
                tokio::time::sleep(delay).await;
                continue;
            }
            Err(e) if e.is_transient() => e,
            Err(e) => return Err(e),
        };
        // A connection that broke after a long wait starts a new outage
        // rather than continuing an old one.
        if matches!(err, CliError::Disconnected { .. }) && attempt.elapsed() > retry.max_delay {
            down_since = None;
            delay = retry.first_delay;
        }
        let since = *down_since.get_or_insert(attempt);
        if since.elapsed() >= retry.give_up_after {
            return Err(err);
        }
        if !told {
            o.note(&format!(
                "claudinectl: {err}; still waiting for task {id}, retrying for up to {}",
                format::duration(retry.give_up_after.as_millis() as i64)
            ));
            told = true;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(retry.max_delay);
    }
}

/// The one line on stderr for a task that did not succeed:
/// `task 42 failed: exited with status 3`.
pub fn failure(t: &TaskView) -> String {
    let outcome = format::outcome(t);
    let why = match (&t.reason, outcome) {
        (Some(reason), Some(outcome)) if *reason != outcome => {
            format!("{}; {outcome}", format::sanitize(reason))
        }
        (Some(reason), _) => format::sanitize(reason).into_owned(),
        (None, Some(outcome)) => outcome,
        (None, None) => "no exit status".into(),
    };
    format!("task {} {}: {why}", t.id, t.state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::cmd::list::tests::view;

    #[test]
    fn failure_lines() {
        let mut t = view(42, TaskState::Failed, &["x"]);
        t.exit_code = Some(3);
        t.reason = Some("exited with status 3".into());
        assert_eq!(failure(&t), "task 42 failed: exited with status 3");
        assert_eq!(t.wait_code(), 3);
        let mut t = view(43, TaskState::Cancelled, &["x"]);
        t.signal = Some(15);
        t.reason = Some("superseded".into());
        assert_eq!(
            failure(&t),
            "task 43 cancelled: superseded; killed by signal 15 (SIGTERM)"
        );
        assert_eq!(t.wait_code(), 143);
        let mut t = view(44, TaskState::Interrupted, &["x"]);
        t.reason = Some("scope vanished".into());
        assert_eq!(failure(&t), "task 44 interrupted: scope vanished");
        assert_eq!(t.wait_code(), 1);
        let t = view(45, TaskState::Cancelled, &["x"]);
        assert_eq!(failure(&t), "task 45 cancelled: no exit status");
    }
}
