//! `claudinectl events`: the history of your tasks' events, then (with
//! `--follow`) new ones as they happen.

use crate::cli::client::Client;
use crate::cli::error::CliError;
use crate::cli::{exit, format, Output};
use crate::core::{TaskEvent, TaskId};
use clap::Args;

const EXAMPLES: &str = "\
Examples:
  claudinectl events                 every event of your tasks so far
  claudinectl events --task 42       one task's events
  claudinectl events --follow        and keep streaming new ones (Ctrl-C stops)
  claudinectl events --json          one JSON object per line:
                                     {\"type\":\"task:started\",\"task\":42,\"attempt\":1,\"at\":\"<RFC 3339>\",...}";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct EventsArgs {
    /// Only this task's events
    #[arg(long, value_name = "ID", value_parser = super::parse_id)]
    pub task: Option<TaskId>,

    /// Keep streaming new events
    #[arg(long, short = 'f')]
    pub follow: bool,
}

pub async fn run(client: &Client, args: EventsArgs, o: &mut Output<'_>) -> Result<i32, CliError> {
    let json = o.json;
    client
        .events(args.task, args.follow, &mut |line| {
            let text = if json { line.to_string() } else { human(line) };
            o.line(&text)
        })
        .await?;
    Ok(exit::OK)
}

/// `2026-11-24 13:50:01  task 42 started`; a line that does not parse (a
/// newer daemon) is shown as it came.
fn human(line: &str) -> String {
    match TaskEvent::from_json_line(line) {
        Ok(ev) => format!(
            "{}  {}",
            format::time(ev.at_ms, &chrono::Local),
            format::sanitize(&ev.message())
        ),
        Err(_) => format::sanitize(line).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_as_words() {
        let line =
            r#"{"type":"task:started","task":42,"attempt":1,"at":"2026-11-24T13:50:01.000Z"}"#;
        let text = human(line);
        assert!(text.contains("  task 42 started"), "{text}");
        assert_eq!(human("not json"), "not json");
    }
}
