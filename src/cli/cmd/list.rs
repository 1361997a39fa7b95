//! `claudinectl list`: the task table.

use crate::cli::client::Client;
use crate::cli::error::CliError;
use crate::cli::format;
use crate::cli::{exit, Output};
use crate::proto::{ListResponse, TaskView};
use clap::Args;

const EXAMPLES: &str = "\
Examples:
  claudinectl list                 queued and running tasks, and the latest finished ones
  claudinectl list --all           every finished task too
  claudinectl list --user alice    only alice's tasks (others' need administrator rights)
  claudinectl list --json | jq '.tasks[].id'

You see your own tasks; root and administrators see everyone's.
Columns: ID, PRI (priority), STATE, OWNER, AGE (since submission), EXIT (exit
code, or the signal that killed it), COMMAND. Under a queued task, a note says
its place in the queue and why it has not started yet.";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct ListArgs {
    /// Show every finished task, not only the latest ones
    #[arg(long, short = 'a')]
    pub all: bool,

    /// Only the tasks of this user (another user's need administrator rights)
    #[arg(long, short = 'u', value_name = "NAME")]
    pub user: Option<String>,
}

pub async fn run(client: &Client, args: ListArgs, o: &mut Output<'_>) -> Result<i32, CliError> {
    let answer = client.list(args.all, args.user.as_deref()).await?;
    if o.json {
        o.json_value(&answer.raw)?;
    } else {
        let text = table(&answer.value, format::now_ms(), o.width);
        o.out.write_all(text.as_bytes()).map_err(CliError::Output)?;
    }
    Ok(exit::OK)
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
            if let Some(note) = note(t) {
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
fn note(t: &TaskView) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(pos) = t.queue_position {
        parts.push(format!("#{pos} in queue"));
    }
    if let Some(why) = &t.waiting_reason {
        parts.push(format!("waiting: {}", format::sanitize(why)));
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
            line.extend(std::iter::repeat(' ').take(pad + 2));
        }
    }
    line.trim_end().to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::core::{Priority, TaskState};

    pub(crate) const NOW: i64 = 1_700_000_000_000;

    pub(crate) fn view(id: i64, state: TaskState, argv: &[&str]) -> TaskView {
        TaskView {
            id,
            owner_uid: 1000,
            owner: "alice".into(),
            priority: Priority::P1,
            state,
            argv: argv.iter().map(|s| s.to_string()).collect(),
            cwd: "/home/alice/src/app".into(),
            env_keys: vec![],
            inherit_env: false,
            created_ms: NOW - 65_000,
            started_ms: None,
            finished_ms: None,
            exit_code: None,
            signal: None,
            reason: None,
            cancel_requested: None,
            unit: None,
            queue_position: None,
            waiting_reason: None,
            attempts: 0,
            umask: 0o022,
            limits: Default::default(),
            eligible_ms: None,
            attempt_history: None,
            resources: None,
        }
    }

    fn sample() -> ListResponse {
        let mut ok = view(7, TaskState::Succeeded, &["cargo", "test"]);
        ok.exit_code = Some(0);
        ok.created_ms = NOW - 2 * 3600 * 1000;
        let mut failed = view(8, TaskState::Failed, &["sh", "-c", "exit 3"]);
        failed.exit_code = Some(3);
        let mut killed = view(9, TaskState::Cancelled, &["sleep", "1000"]);
        killed.signal = Some(15);
        killed.owner = "bob".into();
        let mut running = view(
            10,
            TaskState::Running,
            &["claude", "-p", "fix the flaky test"],
        );
        running.priority = Priority::P0;
        running.cancel_requested = Some("superseded".into());
        let mut queued = view(11, TaskState::Queued, &["make", "it's done"]);
        queued.created_ms = NOW - 5_000;
        queued.priority = Priority::P2;
        queued.queue_position = Some(1);
        queued.waiting_reason = Some("max_running reached (3 of 3 running)".into());
        ListResponse {
            tasks: vec![ok, failed, killed, running, queued],
            queued: 1,
            running: 1,
        }
    }

    #[test]
    fn table_for_a_fixed_list() {
        let want = "\
ID  PRI  STATE      OWNER  AGE    EXIT     COMMAND
7   P1   succeeded  alice  2h00m  0        cargo test
8   P1   failed     alice  1m05s  3        sh -c 'exit 3'
9   P1   cancelled  bob    1m05s  SIGTERM  sleep 1000
10  P0   running    alice  1m05s  -        claude -p 'fix the flaky test'
    stopping: superseded
11  P2   queued     alice  5s     -        make 'it'\\''s done'
    #1 in queue, waiting: max_running reached (3 of 3 running)
1 queued, 1 running
";
        assert_eq!(table(&sample(), NOW, None), want);
    }

    #[test]
    fn rows_are_cut_to_the_terminal_width() {
        let text = table(&sample(), NOW, Some(40));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.iter().all(|l| l.chars().count() <= 40), "{text}");
        assert_eq!(lines[4], "10  P0   running    alice  1m05s  -    …");
        assert_eq!(lines[2], "8   P1   failed     alice  1m05s  3    …");
        assert_eq!(lines[8], "1 queued, 1 running");
    }

    #[test]
    fn empty_list_and_hostile_text() {
        let empty = ListResponse {
            tasks: vec![],
            queued: 0,
            running: 0,
        };
        assert_eq!(table(&empty, NOW, None), "no tasks\n0 queued, 0 running\n");
        let mut t = view(1, TaskState::Queued, &["echo", "\x1b[2Jboo\nx"]);
        t.waiting_reason = Some("line\nbreak".into());
        let list = ListResponse {
            tasks: vec![t],
            queued: 1,
            running: 0,
        };
        let text = table(&list, NOW, None);
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(!text.contains('\x1b'), "{text}");
        assert!(text.contains(r"echo $'\x1b[2Jboo\nx'"), "{text}");
    }
}
