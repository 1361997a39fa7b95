//! `claudinectl list`: the task table.

use crate::cli::client::Client;
use crate::cli::error::CliError;
use crate::cli::format;
use crate::cli::{exit, Output};
use crate::core::{Priority, TaskState};
use crate::proto::list::{parse_limit, parse_priority, parse_state};
use crate::proto::{ListFilter, ListResponse, TaskView};
use clap::Args;

/// Rows the table shows when `--limit` is not given (`--json` has no
/// default limit).
pub const DEFAULT_TABLE_LIMIT: usize = 1000;

const EXAMPLES: &str = "\
Examples:
  claudinectl list                 queued and running tasks, and the latest finished ones
  claudinectl list --all           every finished task too
  claudinectl list --user alice    only alice's tasks (others' need administrator rights)
  claudinectl list --state queued --priority P0 --limit 5
                                   the first five queued P0 tasks
  claudinectl list --state failed,interrupted --all
  claudinectl list --json | jq '.tasks[].id'

You see your own tasks; root and administrators see everyone's. Filters
combine: a task is shown when it matches all of them. Tasks are listed by id;
without --all only the 20 most recent finished tasks that match are included.
The table stops after 1000 rows unless --limit says otherwise and then says
how many matched (on stderr); --json has no limit unless --limit is given, and
its answer has \"truncated\" and \"total\" when the limit cut it.

Columns: ID, PRI (priority), STATE, OWNER, AGE (since submission), EXIT (exit
code, or the signal that killed it), COMMAND. Under a queued task, a note says
its place in the whole queue and why it has not started yet.";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct ListArgs {
    /// Show every finished task, not only the latest ones
    #[arg(long, short = 'a')]
    pub all: bool,

    /// Only the tasks of this user (another user's need administrator rights)
    #[arg(long, short = 'u', value_name = "NAME")]
    pub user: Option<String>,

    /// Only tasks in these states: queued, starting, running, suspended, succeeded,
    /// failed, cancelled, interrupted (comma-separated or repeated)
    #[arg(long, short = 's', value_name = "STATE", value_delimiter = ',', value_parser = parse_state)]
    pub state: Vec<TaskState>,

    /// Only tasks of these priorities: P0, P1, P2 (comma-separated or repeated)
    #[arg(long, short = 'p', value_name = "P", value_delimiter = ',', value_parser = parse_priority)]
    pub priority: Vec<Priority>,

    /// Show at most N tasks, 1 to 100000 [default for the table: 1000;
    /// --json: no limit]
    #[arg(long, short = 'n', value_name = "N", value_parser = parse_limit)]
    pub limit: Option<usize>,
}

impl ListArgs {
    /// The filter sent to the daemon.
    pub fn filter(&self, json: bool) -> ListFilter {
        let states = unique(&self.state);
        let priorities = unique(&self.priority);
        ListFilter {
            states: (!states.is_empty()).then_some(states),
            priorities: (!priorities.is_empty()).then_some(priorities),
            limit: self.limit.or((!json).then_some(DEFAULT_TABLE_LIMIT)),
        }
    }
}

pub async fn run(client: &Client, args: ListArgs, o: &mut Output<'_>) -> Result<i32, CliError> {
    let filter = args.filter(o.json);
    let answer = client.list(args.all, args.user.as_deref(), &filter).await?;
    if o.json {
        o.json_value(&answer.raw)?;
    } else {
        let text = table(&answer.value, format::now_ms(), o.width);
        o.out.write_all(text.as_bytes()).map_err(CliError::Output)?;
        if let Some(note) = truncation_note(&answer.value) {
            o.note(&note);
        }
    }
    Ok(exit::OK)
}

fn unique<T: PartialEq + Copy>(v: &[T]) -> Vec<T> {
    let mut out = Vec::with_capacity(v.len());
    for x in v {
        if !out.contains(x) {
            out.push(*x);
        }
    }
    out
}

/// The line that says a limit cut the list.
pub fn truncation_note(list: &ListResponse) -> Option<String> {
    list.truncated.then(|| {
        let total = list
            .total
            .map_or_else(|| "more".to_string(), |n| n.to_string());
        format!(
            "(showing {} of {total} matching tasks; --limit to change)",
            list.tasks.len()
        )
    })
}

const HEADER: [&str; 7] = ["ID", "PRI", "STATE", "OWNER", "AGE", "EXIT", "COMMAND"];

/// The table, its notes and the footer, each line cut to `width` if given.
pub fn table(list: &ListResponse, now_ms: i64, width: Option<usize>) -> String {
    let rows: Vec<[String; 7]> = list.tasks.iter().map(|t| row(t, now_ms)).collect();
    let mut widths = HEADER.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut lines = Vec::new();
    if rows.is_empty() {
        lines.push("no tasks".to_string());
    } else {
        lines.push(join(&HEADER.map(String::from), &widths));
        for (t, r) in list.tasks.iter().zip(&rows) {
            lines.push(join(r, &widths));
            if let Some(note) = note(t, now_ms) {
                lines.push(format!("{:indent$}{note}", "", indent = widths[0] + 2));
            }
        }
    }
    lines.push(format!("{} queued, {} running", list.queued, list.running));
    let mut out = String::new();
    for line in &lines {
        match width {
            Some(w) => out.push_str(&format::truncate(line, w)),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

fn row(t: &TaskView, now_ms: i64) -> [String; 7] {
    [
        t.id.to_string(),
        t.priority.to_string(),
        t.state.to_string(),
        format::sanitize(&t.owner).into_owned(),
        format::duration(now_ms - t.created_ms),
        exit_cell(t),
        format::shell_join(&t.argv),
    ]
}

fn exit_cell(t: &TaskView) -> String {
    if !t.state.is_terminal() {
        return "-".into();
    }
    match (t.exit_code, t.signal) {
        (Some(code), _) => code.to_string(),
        (None, Some(sig)) => format::signal_name(sig)
            .map(str::to_string)
            .unwrap_or_else(|| format!("SIG{sig}")),
        _ => "-".into(),
    }
}

/// The line under a queued task (place and why it waits) or a task being
/// stopped.
fn note(t: &TaskView, now_ms: i64) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(pos) = t.queue_position {
        parts.push(format!("#{pos} in queue"));
    }
    if let Some(why) = &t.waiting_reason {
        parts.push(format!("waiting: {}", format::sanitize(why)));
    }
    if let Some(at) = t.estimated_start_ms {
        parts.push(format!(
            "estimated start in ~{}",
            format::duration((at - now_ms).max(1000))
        ));
    }
    if t.state.is_active() {
        if let Some(why) = &t.cancel_requested {
            parts.push(format!("stopping: {}", format::sanitize(why)));
        }
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Columns padded to their widths, two spaces apart; the last one is not
/// padded.
fn join(cells: &[String; 7], widths: &[usize; 7]) -> String {
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i + 1 == cells.len() {
            line.push_str(cell);
        } else {
            let pad = widths[i] - cell.chars().count();
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', pad + 2));
        }
    }
    line.trim_end().to_string()
}

#[cfg(test)]
#[path = "list_tests.rs"]
pub(crate) mod tests;
