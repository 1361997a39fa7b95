//! `claudinectl resume`: thaw a suspended task, or continue a Claude Code
//! task that ended.

use crate::cli::client::Client;
use crate::cli::error::CliError;
use crate::cli::{exit, Output};
use crate::core::TaskId;
use crate::proto::ResumeRequest;
use clap::Args;

const EXAMPLES: &str = "\
Examples:
  claudinectl resume 42                  (a suspended task: thawed)
  claudinectl resume 42
  claudinectl resume 42 --prompt \"now add a regression test\"
  claudinectl resume 42 --prompt-file next-steps.md -e RUST_LOG=debug

A suspended task is thawed where it stopped. A Claude Code task that ended
(succeeded, failed, cancelled or interrupted) is queued again under
the same id; its next run continues the same Claude session (claude --resume)
in the same directory, with your prompt or, without one, a plain \"continue\".
Variables given with --env at submit are not kept once a task ends (they may
be secrets): give them again here, or keep them in ~/.config/claudine/env.
To start a new task on a copy of the conversation instead:
  claudinectl submit --continue-from 42 \"...\"";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct ResumeArgs {
    /// The task's id
    #[arg(value_parser = super::parse_id)]
    pub id: TaskId,

    /// The next run's prompt
    #[arg(long, value_name = "TEXT", conflicts_with = "prompt_file")]
    pub prompt: Option<String>,

    /// Read the next run's prompt from FILE (- for standard input)
    #[arg(long, value_name = "FILE")]
    pub prompt_file: Option<String>,

    /// Set an environment variable for the next runs (repeatable)
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE", value_parser = super::submit::parse_env)]
    pub env: Vec<(String, String)>,
}

pub async fn run(client: &Client, args: ResumeArgs, o: &mut Output<'_>) -> Result<i32, CliError> {
    let prompt = match (&args.prompt, &args.prompt_file) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(f)) => Some(super::submit_claude::read_prompt(f)?),
        (None, None) => None,
    };
    let req = ResumeRequest {
        prompt,
        env: args.env.into_iter().collect(),
    };
    let answer = client.resume(args.id, &req).await?;
    if o.json {
        o.json_value(&answer.raw)?;
    } else {
        let t = &answer.value;
        match (&t.claude, t.state) {
            (_, crate::core::TaskState::Running) => o.line(&format!("resumed {}", t.id))?,
            (Some(c), _) => o.line(&format!(
                "resumed {}: queued to continue session {}",
                t.id, c.session_id
            ))?,
            (None, state) => o.line(&format!("resumed {} ({state})", t.id))?,
        }
    }
    Ok(exit::OK)
}
