//! `claudinectl logs`: copy a task's log to stdout as it arrives.

use crate::cli::client::Client;
use crate::cli::error::CliError;
use crate::cli::{exit, Output};
use crate::core::TaskId;
use clap::Args;

const EXAMPLES: &str = "\
Examples:
  claudinectl logs 42              the whole log so far
  claudinectl logs 42 --tail 20    the last 20 lines
  claudinectl logs -f 42           follow it until the task ends (Ctrl-C stops)

The log is printed as claudined sends it, with no change; --json has no
effect here.";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct LogsArgs {
    /// The task's id
    #[arg(value_parser = super::parse_id)]
    pub id: TaskId,

    /// Only the last N lines
    #[arg(long, short = 'n', value_name = "N")]
    pub tail: Option<u64>,

    /// Keep printing new output until the task ends
    #[arg(long, short = 'f')]
    pub follow: bool,
}

pub async fn run(client: &Client, args: LogsArgs, o: &mut Output<'_>) -> Result<i32, CliError> {
    client.logs(args.id, args.tail, args.follow, o.out).await?;
    Ok(exit::OK)
}
