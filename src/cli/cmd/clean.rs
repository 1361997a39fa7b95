//! `claudinectl clean`: remove a finished task's git worktree.

use crate::cli::client::Client;
use crate::cli::error::CliError;
use crate::cli::{exit, Output};
use crate::core::TaskId;
use clap::Args;

const EXAMPLES: &str = "\
Examples:
  claudinectl clean 42
  claudinectl clean 42 --force

A task submitted with --worktree runs in a git worktree of its own, on a new
branch claudine/<id>; the worktree stays after the task ends (and across
suspend, resume and restarts) until you clean it. The branch is kept: merge
it, or delete it with git branch -D claudine/42. A worktree with uncommitted
changes is not removed unless --force is given (they are lost then).";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct CleanArgs {
    /// The task's id
    #[arg(value_parser = super::parse_id)]
    pub id: TaskId,
    /// Remove it even with uncommitted changes (they are lost)
    #[arg(long)]
    pub force: bool,
}

pub async fn run(client: &Client, args: CleanArgs, o: &mut Output<'_>) -> Result<i32, CliError> {
    let answer = client.clean(args.id, args.force).await?;
    if o.json {
        o.json_value(&answer.raw)?;
    } else {
        let w = answer.value.worktree.as_ref();
        o.line(&format!(
            "removed the worktree of task {}{}",
            answer.value.id,
            w.map(|w| format!(" ({}; branch {} kept)", w.path, w.branch))
                .unwrap_or_default()
        ))?;
    }
    Ok(exit::OK)
}
