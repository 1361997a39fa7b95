//! `claudinectl suspend`: freeze a running task (its whole scope).

use crate::cli::client::Client;
use crate::cli::error::CliError;
use crate::cli::{exit, Output};
use crate::core::TaskId;
use clap::Args;

const EXAMPLES: &str = "\
Examples:
  claudinectl suspend 42
  claudinectl resume 42

Every process of the task stops where it is (the kernel's cgroup freezer:
children in other sessions or process groups too) and keeps its memory;
claudinectl returns once the scope is frozen. `claudinectl resume 42` thaws
it. A suspended task stays suspended across restarts of claudined.";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct SuspendArgs {
    /// The task's id
    #[arg(value_parser = super::parse_id)]
    pub id: TaskId,
}

pub async fn run(client: &Client, args: SuspendArgs, o: &mut Output<'_>) -> Result<i32, CliError> {
    let answer = client.suspend(args.id).await?;
    if o.json {
        o.json_value(&answer.raw)?;
    } else {
        o.line(&format!("suspended {}", answer.value.id))?;
    }
    Ok(exit::OK)
}
