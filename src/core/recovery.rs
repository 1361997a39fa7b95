//! What to do with an active task whose supervisor is gone, or that the
//! daemon finds active at start-up: the one decision behind "a command never
//! runs twice unless a user or a documented retry policy asked for it".
//!
//! The evidence is what the supervisor left durably and what systemd shows:
//!
//! | record of attempt n | supervisor alive in scope | decision                          |
//! |---------------------|---------------------------|-----------------------------------|
//! | final               | any                       | finish with the recorded status   |
//! | final, scope stopped, at start, no cancel | any | interrupted (a shutdown or reboot) |
//! | started / none      | yes                       | adopt: watch the supervisor again |
//! | started             | no                        | interrupted: it ran, status lost  |
//! | none, Starting      | no                        | requeue: the command never ran    |
//! | none, Running       | no                        | interrupted (may have run)        |
//!
//! The supervisor writes the "started" record durably before it forks the
//! command, so "no record" proves the command never ran. A Running task with
//! no record is still treated as "may have run": the daemon commits Running
//! once it has written `go`, which can precede the record by a moment.
//! A requeued task starts again only once the unit of the previous attempt is
//! gone (the daemon waits for that; see ARCHITECTURE.md).

use super::task::{Task, TaskState};

/// What the supervisor left for the task's current attempt, and what runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evidence {
    /// The record file belongs to the current attempt and says it started.
    pub started: bool,
    /// The record file belongs to the current attempt and says how it ended.
    pub finished: bool,
    /// The attempt's supervisor is alive, verified to be inside the scope.
    pub supervisor_alive: bool,
    /// A Claude run's stream showed the task's session (its progress file).
    pub session_seen: bool,
    /// The daemon is starting: what it finds gone went while it was down
    /// (a host reboot, a crash). Only then is a task relaunched; a scope
    /// stopped from outside while the daemon watches ends the task.
    pub at_start: bool,
    /// The final record says the supervisor was sent SIGTERM: the scope was
    /// stopped (systemd does that to every scope at a shutdown or reboot).
    pub stopped: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// Finish with the exit record.
    Finish,
    /// Keep watching the live supervisor.
    Adopt,
    /// The command never ran: queue it again once the old unit is gone.
    Requeue { reason: String },
    /// The command ran, or may have, and its status is lost.
    Interrupted { reason: String },
    /// The same, for a task that may be relaunched: a command submitted
    /// `--restartable`, or a Claude Code task (whose next run resumes its
    /// session when `session_seen`). Queued again once the old unit is gone.
    Relaunch { reason: String, session_seen: bool },
}

/// The decision for active task `t` given `ev` (see the module table); an
/// interrupted task that may be relaunched is relaunched.
pub fn recover(t: &Task, ev: &Evidence) -> Recovery {
    match decide(t, ev) {
        Recovery::Interrupted { reason } if ev.at_start && (t.restartable || t.is_claude()) => {
            let how = if t.is_claude() {
                "a Claude Code task: its session continues"
            } else {
                "submitted --restartable: it runs again from the start"
            };
            Recovery::Relaunch {
                reason: format!("{reason}; relaunched ({how})"),
                session_seen: ev.session_seen,
            }
        }
        other => other,
    }
}

fn decide(t: &Task, ev: &Evidence) -> Recovery {
    let attempt = t.active().map_or(t.attempts, |a| a.attempt);
    let unit = t.unit_name();
    let cancelling = t.active().is_some_and(|a| a.cancel_requested.is_some());
    if ev.finished && ev.stopped && ev.at_start && !cancelling {
        // Not the command's own end: its scope was stopped under it while
        // the daemon was down, as systemd does at a shutdown or reboot.
        Recovery::Interrupted {
            reason: format!(
                "attempt {attempt} was stopped with {unit} while claudined was down (a shutdown or reboot)"
            ),
        }
    } else if ev.finished {
        Recovery::Finish
    } else if ev.supervisor_alive {
        Recovery::Adopt
    } else if ev.started {
        Recovery::Interrupted {
            reason: format!(
                "attempt {attempt} started in {unit}, which vanished without an exit status (supervisor killed, scope stopped from outside, or host reboot)"
            ),
        }
    } else if t.state() == TaskState::Starting {
        Recovery::Requeue {
            reason: format!("attempt {attempt} never started its command; queued again"),
        }
    } else {
        Recovery::Interrupted {
            reason: format!(
                "{unit} vanished without an exit status (host reboot or stopped while claudined was down)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{NewTask, Priority, Transition};

    fn task(state: TaskState) -> Task {
        let t = Task::queued(
            7,
            NewTask {
                owner_uid: 1000,
                owner_name: "a".into(),
                priority: Priority::P1,
                argv: vec!["true".into()],
                cwd: "/".into(),
                env: vec![],
                inherit_env: false,
                umask: 0o022,
                limits: Default::default(),
                created_ms: 0,
                claude: None,
                restartable: false,
                worktree: None,
                after: vec![],
                after_any: false,
            },
        );
        let t = t
            .apply(&Transition::Launch {
                supervisor_pid: 5,
                now_ms: 1,
            })
            .unwrap();
        if state == TaskState::Running {
            return t
                .apply(&Transition::Started {
                    attempt: 1,
                    now_ms: 2,
                })
                .unwrap();
        }
        t
    }

    fn ev(started: bool, finished: bool, alive: bool) -> Evidence {
        Evidence {
            started,
            finished,
            supervisor_alive: alive,
            session_seen: false,
            at_start: true,
            stopped: false,
        }
    }

    #[test]
    fn a_run_stopped_with_its_scope_while_the_daemon_was_down_is_interrupted_or_relaunched() {
        let stopped = Evidence {
            stopped: true,
            ..ev(true, true, false)
        };
        let t = task(TaskState::Running);
        assert!(matches!(
            recover(&t, &stopped),
            Recovery::Interrupted { reason } if reason.contains("while claudined was down (a shutdown or reboot)")
        ));
        let mut r = t.clone();
        r.restartable = true;
        assert!(matches!(recover(&r, &stopped), Recovery::Relaunch { .. }));
        // While the daemon watches, or when a cancel stopped it: its end.
        let watching = Evidence {
            at_start: false,
            ..stopped
        };
        assert_eq!(recover(&r, &watching), Recovery::Finish);
        let cancelling = t
            .apply(&Transition::Cancel {
                reason: "by alice".into(),
                now_ms: 3,
            })
            .unwrap();
        assert_eq!(recover(&cancelling, &stopped), Recovery::Finish);
    }

    #[test]
    fn the_table() {
        use TaskState::*;
        for st in [Starting, Running] {
            let t = task(st);
            assert_eq!(recover(&t, &ev(true, true, false)), Recovery::Finish);
            assert_eq!(recover(&t, &ev(true, true, true)), Recovery::Finish);
            assert_eq!(recover(&t, &ev(false, false, true)), Recovery::Adopt);
            assert_eq!(recover(&t, &ev(true, false, true)), Recovery::Adopt);
            assert!(matches!(
                recover(&t, &ev(true, false, false)),
                Recovery::Interrupted { reason } if reason.contains("attempt 1 started")
            ));
        }
        assert!(matches!(
            recover(&task(Starting), &ev(false, false, false)),
            Recovery::Requeue { .. }
        ));
        // Committed Running, no record: it may have run; never run it twice.
        assert!(matches!(
            recover(&task(Running), &ev(false, false, false)),
            Recovery::Interrupted { .. }
        ));
    }

    #[test]
    fn a_restartable_or_claude_task_is_relaunched_instead_of_interrupted() {
        let mut t = task(TaskState::Running);
        t.restartable = true;
        assert!(matches!(
            recover(&t, &ev(true, false, false)),
            Recovery::Relaunch { reason, session_seen: false }
                if reason.contains("attempt 1 started") && reason.contains("--restartable")
        ));
        // Still never twice for what is not interrupted.
        assert_eq!(recover(&t, &ev(true, true, false)), Recovery::Finish);
        // A scope stopped from outside while the daemon watches: the end.
        let watching = Evidence {
            at_start: false,
            ..ev(true, false, false)
        };
        assert!(matches!(
            recover(&t, &watching),
            Recovery::Interrupted { .. }
        ));
        let mut c = task(TaskState::Running);
        c.claude = Some(crate::core::claude::ClaudeTask {
            prompt: "p".into(),
            session_id: "s".into(),
            session_started: false,
            next_prompt: None,
            continue_from: None,
            binary: "/usr/bin/claude".into(),
            version: None,
            options: Default::default(),
        });
        let seen = Evidence {
            session_seen: true,
            ..ev(true, false, false)
        };
        let r = recover(&c, &seen);
        assert!(
            matches!(&r, Recovery::Relaunch { reason, session_seen: true } if reason.contains("session continues")),
            "{r:?}"
        );
        let after = c
            .apply(&crate::core::Transition::Relaunch {
                attempt: 1,
                reason: "relaunched".into(),
                session_seen: true,
                now_ms: 9,
            })
            .unwrap();
        assert_eq!(after.state(), TaskState::Queued);
        assert!(
            after.claude.unwrap().session_started,
            "the next run resumes the session"
        );
    }
}
