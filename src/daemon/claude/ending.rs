//! How a Claude Code run ended: its exit record's stream progress judged by
//! [`outcome`] (success only for exit 0 and a result without error), the
//! launch error or the OOM kill taking precedence.

use crate::core::claude_stream::{outcome, ClaudeOutcome, Limit, Progress};
use crate::core::Task;
use crate::supervise::ExitRecord;

/// The verdict before the governor has said when a limited run resumes.
#[derive(Debug, Clone, PartialEq)]
pub enum Judged {
    Succeeded,
    Failed(String),
    Limited { limit: Limit, reason: String },
}

/// Judges attempt `r` of Claude task `task`. `forced_error` is a reason the
/// daemon already has (an OOM kill at the task's limit). Returns the
/// verdict and whether the run's stream showed the task's session.
pub fn judge(task: &Task, r: &ExitRecord, forced_error: Option<String>) -> (Judged, bool) {
    let empty = Progress::default();
    let progress = r.claude.as_ref().unwrap_or(&empty);
    let session_seen = match (&task.claude, &progress.session_id) {
        (Some(c), Some(seen)) => *seen == c.session_id,
        _ => false,
    };
    if let Some(e) = forced_error.or_else(|| r.error.clone()) {
        return (Judged::Failed(e), session_seen);
    }
    let said = r
        .output
        .as_ref()
        .and_then(|o| o.stderr_last_line.as_deref())
        .filter(|_| progress.result.is_none());
    let judged = match outcome(r.exit_code, r.signal, progress) {
        ClaudeOutcome::Succeeded => Judged::Succeeded,
        ClaudeOutcome::Failed { mut reason } => {
            // Without a result line, claude's own words are on stderr (an
            // option it rejects, a session it cannot find).
            if let Some(line) = said {
                reason.push_str(&format!("; claude said: {line}"));
            }
            Judged::Failed(with_denials(reason, progress))
        }
        ClaudeOutcome::Limited { limit, reason } => Judged::Limited { limit, reason },
    };
    (judged, session_seen)
}

/// A failure's reason, with the tools claude was refused when there were
/// some (an unattended run cannot ask).
fn with_denials(mut reason: String, p: &Progress) -> String {
    if let Some(r) = &p.result {
        if r.permission_denials > 0 {
            reason.push_str(&format!(
                "; {} tool call(s) denied permission: {}",
                r.permission_denials,
                r.denied_tools.join(", ")
            ));
        }
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::claude::{ClaudeOptions, ClaudeTask};
    use crate::core::claude_stream::{fixtures, parse_line};
    use crate::core::{NewTask, Priority, Task};

    fn task() -> Task {
        Task::queued(
            7,
            NewTask {
                owner_uid: 1000,
                owner_name: "alice".into(),
                priority: Priority::P1,
                argv: vec!["/usr/bin/claude".into()],
                cwd: "/tmp".into(),
                env: vec![],
                inherit_env: false,
                umask: 0o022,
                limits: Default::default(),
                created_ms: 1,
                claude: Some(ClaudeTask {
                    prompt: "p".into(),
                    session_id: fixtures::SESSION.into(),
                    session_started: false,
                    next_prompt: None,
                    continue_from: None,
                    binary: "/usr/bin/claude".into(),
                    version: None,
                    options: ClaudeOptions::default(),
                }),
                restartable: false,
                worktree: None,
                after: vec![],
                after_any: false,
            },
        )
    }

    fn record(exit: i32, lines: &[String]) -> ExitRecord {
        let mut p = Progress::new();
        for l in lines {
            p.apply(&parse_line(l.as_bytes()), 5);
        }
        ExitRecord {
            task_id: 7,
            attempt: 1,
            started_ms: 1,
            pid: Some(9),
            exit_code: Some(exit),
            signal: None,
            error: None,
            finished_ms: Some(9),
            usage: None,
            output: None,
            claude: Some(p),
            stopped: false,
        }
    }

    #[test]
    fn success_needs_exit_0_and_a_clean_result() {
        let (j, seen) = judge(&task(), &record(0, &fixtures::bash_session()), None);
        assert_eq!(j, Judged::Succeeded);
        assert!(seen);
        let (j, _) = judge(&task(), &record(0, &[fixtures::init()]), None);
        assert!(matches!(j, Judged::Failed(r) if r.contains("without a result line")));
    }

    #[test]
    fn a_429_is_limited_and_errors_take_precedence() {
        let lines = [
            fixtures::init(),
            fixtures::result(true, 1, "API Error: 429", Some(429)),
        ];
        let (j, _) = judge(&task(), &record(1, &lines), None);
        assert!(matches!(
            j,
            Judged::Limited {
                limit: Limit::RateLimited,
                ..
            }
        ));
        let (j, _) = judge(
            &task(),
            &record(1, &lines),
            Some("killed at its memory limit".into()),
        );
        assert_eq!(j, Judged::Failed("killed at its memory limit".into()));
        let mut r = record(127, &[]);
        r.error = Some(
            "cannot read the environment file /home/alice/.config/claudine/env: permission denied"
                .into(),
        );
        let (j, seen) = judge(&task(), &r, None);
        assert!(matches!(j, Judged::Failed(e) if e.contains("environment file")));
        assert!(!seen);
    }
}
