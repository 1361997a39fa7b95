//! `claudinectl checkpoints`: a task's checkpoints — when, why, and what
//! each holds.

use crate::cli::client::Client;
use crate::cli::error::CliError;
use crate::cli::{exit, format, Output};
use crate::core::checkpoint::Checkpoint;
use crate::core::TaskId;
use crate::proto::CheckpointsView;
use chrono::TimeZone;
use clap::Args;

const EXAMPLES: &str = "\
Examples:
  claudinectl checkpoints 42
  git -C ~/src/app show --stat refs/claudine/42/3     # what checkpoint 3 held
  git -C ~/src/app checkout -b retry refs/claudine/42/3

A checkpoint is taken at every suspend, every checkpoint_interval (10 min by
default) while the task runs, and before protective mode stops a long-frozen
task. It records the command, directory, environment names and Claude Code
session; in a git repository, also the working tree as a commit under
refs/claudine/<id>/<n>, made as you, leaving your branches, index and stash
alone.";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct CheckpointsArgs {
    /// The task's id
    #[arg(value_parser = super::parse_id)]
    pub id: TaskId,
}

pub async fn run(
    client: &Client,
    args: CheckpointsArgs,
    o: &mut Output<'_>,
) -> Result<i32, CliError> {
    let answer = client.checkpoints(args.id).await?;
    if o.json {
        o.json_value(&answer.raw)?;
    } else {
        for line in render(&answer.value, &chrono::Local) {
            o.line(&line)?;
        }
    }
    Ok(exit::OK)
}

/// The listing, one block per checkpoint (pure).
pub fn render<Tz: TimeZone>(v: &CheckpointsView, tz: &Tz) -> Vec<String>
where
    Tz::Offset: std::fmt::Display,
{
    if v.checkpoints.is_empty() {
        return vec![format!("task {} ({}) has no checkpoint yet", v.id, v.state)];
    }
    let mut out = Vec::new();
    for c in &v.checkpoints {
        out.push(format!(
            "#{:<3} {}  {:<8} attempt {}  ({} ms)",
            c.n,
            format::time(c.at_ms, tz),
            c.why.name(),
            c.attempt,
            c.took_ms
        ));
        out.extend(details(c).into_iter().map(|l| format!("     {l}")));
    }
    out
}

fn details(c: &Checkpoint) -> Vec<String> {
    let mut out = vec![
        format!("cwd      {}", format::sanitize(&c.cwd)),
        format!(
            "command  {}",
            format::sanitize(&format::shell_join(&c.argv))
        ),
    ];
    if let Some(s) = &c.session_id {
        out.push(format!("session  {s}"));
    }
    if !c.env_names.is_empty() {
        out.push(format!("env      {}", c.env_names.join(" ")));
    }
    match (&c.git, &c.git_note) {
        (Some(g), _) => {
            let short = &g.commit[..g.commit.len().min(12)];
            let on = match (&g.branch, &g.head) {
                (Some(b), _) => format!("on {b}"),
                (None, Some(h)) => format!("detached at {}", &h[..h.len().min(12)]),
                (None, None) => "no commit yet".into(),
            };
            out.push(format!(
                "git      {} {short} ({on}, {} changed file{}{})",
                g.ref_name,
                g.changed,
                if g.changed == 1 { "" } else { "s" },
                g.in_progress
                    .as_ref()
                    .map(|s| format!(", {s}"))
                    .unwrap_or_default()
            ));
            out.push(format!("repo     {}", format::sanitize(&g.toplevel)));
        }
        (None, Some(note)) => out.push(format!("git      none: {}", format::sanitize(note))),
        (None, None) => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::checkpoint::{CheckpointWhy, GitCheckpoint};
    use crate::core::TaskState;

    #[test]
    fn each_checkpoint_says_when_why_and_what_it_holds() {
        let cp = |n, git: Option<GitCheckpoint>, note: Option<&str>| Checkpoint {
            task: 42,
            n,
            at_ms: 1_764_000_000_000,
            attempt: 1,
            why: CheckpointWhy::Suspend,
            argv: vec!["make".into(), "all tests".into()],
            cwd: "/home/alice/src/app".into(),
            env_names: vec!["TOKEN".into()],
            session_id: None,
            git,
            git_note: note.map(str::to_owned),
            took_ms: 31,
        };
        let v = CheckpointsView {
            id: 42,
            state: TaskState::Suspended,
            checkpoints: vec![
                cp(
                    1,
                    Some(GitCheckpoint {
                        toplevel: "/home/alice/src/app".into(),
                        commit: "0123456789abcdef0123".into(),
                        ref_name: "refs/claudine/42/1".into(),
                        head: Some("fedcba9876543210".into()),
                        branch: None,
                        in_progress: Some("a rebase in progress".into()),
                        changed: 2,
                    }),
                    None,
                ),
                cp(2, None, Some("not in a git repository")),
            ],
        };
        let text = render(&v, &chrono::Utc).join("\n");
        assert!(
            text.contains("#1   2025-11-24 16:00:00  suspend  attempt 1  (31 ms)"),
            "{text}"
        );
        assert!(text.contains("command  make 'all tests'"), "{text}");
        assert!(text.contains("env      TOKEN"), "{text}");
        assert!(
            text.contains("git      refs/claudine/42/1 0123456789ab (detached at fedcba987654, 2 changed files, a rebase in progress)"),
            "{text}"
        );
        assert!(
            text.contains("git      none: not in a git repository"),
            "{text}"
        );
        let empty = CheckpointsView {
            id: 7,
            state: TaskState::Running,
            checkpoints: vec![],
        };
        assert_eq!(
            render(&empty, &chrono::Utc),
            ["task 7 (running) has no checkpoint yet"]
        );
    }
}
