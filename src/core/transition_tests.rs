//! Tests of the task state machine.

use super::*;
use crate::core::task::{parse_unit_name, unit_name, NewTask, Priority};

fn task(id: TaskId) -> Task {
    Task::queued(
        id,
        NewTask {
            owner_uid: 1000,
            owner_name: "alice".into(),
            priority: Priority::P1,
            argv: vec!["true".into()],
            cwd: "/tmp".into(),
            env: vec![("SECRET".into(), "x".into())],
            inherit_env: false,
            umask: 0o022,
            limits: Default::default(),
            created_ms: 1,
            claude: None,
            restartable: false,
            worktree: None,
            after: vec![],
            after_any: false,
        },
    )
}

fn launch(t: &Task, pid: u32) -> Task {
    t.apply(&Transition::Launch {
        supervisor_pid: pid,
        now_ms: 0,
    })
    .unwrap()
}

fn started(t: &Task) -> Task {
    let attempt = t.active().unwrap().attempt;
    t.apply(&Transition::Started { attempt, now_ms: 3 })
        .unwrap()
}

/// A task that was launched and started (attempt 1).
fn running(id: TaskId) -> Task {
    started(&launch(&task(id), 1))
}

fn exited(attempt: u32, code: Option<i32>, sig: Option<i32>, err: Option<&str>) -> Transition {
    Transition::Exited {
        attempt,
        exit_code: code,
        signal: sig,
        error: err.map(str::to_string),
        now_ms: 4,
    }
}

fn outcome(t: &Task) -> &Outcome {
    t.outcome().expect("terminal")
}

#[test]
fn happy_path_runs_to_success_and_forgets_env() {
    let t = launch(&task(1), 42);
    assert_eq!(t.state(), TaskState::Starting);
    let a = t.active().unwrap();
    assert_eq!((a.supervisor_pid, a.attempt, t.attempts), (42, 1, 1));
    let t = started(&t);
    assert_eq!(t.state(), TaskState::Running);
    assert_eq!(t.active().unwrap().started_ms, Some(3));
    assert_eq!(t.env, vec![("SECRET".to_string(), "x".to_string())]);
    let t = t.apply(&exited(1, Some(0), None, None)).unwrap();
    let o = outcome(&t);
    assert_eq!(o.state, TaskState::Succeeded);
    assert_eq!((o.started_ms, o.finished_ms), (Some(3), 4));
    assert_eq!(t.env, vec![("SECRET".to_string(), String::new())]);
    assert!(t.active().is_none());
}

#[test]
fn nonzero_exit_and_signal_fail_with_reason() {
    let run = running(1);
    let t = run.apply(&exited(1, Some(3), None, None)).unwrap();
    assert_eq!(outcome(&t).state, TaskState::Failed);
    assert_eq!(outcome(&t).reason.as_deref(), Some("exited with status 3"));
    assert_eq!(t.wait_code(), 3);
    let t = run.apply(&exited(1, None, Some(9), None)).unwrap();
    assert_eq!(outcome(&t).reason.as_deref(), Some("killed by signal 9"));
    assert_eq!(t.wait_code(), 137);
    let t = run
        .apply(&exited(1, Some(127), None, Some("cannot enter cwd /nope")))
        .unwrap();
    assert_eq!(outcome(&t).state, TaskState::Failed);
    assert!(outcome(&t).reason.as_ref().unwrap().contains("/nope"));
}

#[test]
fn cancel_queued_is_immediate_cancel_running_waits_for_exit() {
    let t = task(1)
        .apply(&Transition::Cancel {
            reason: "no".into(),
            now_ms: 5,
        })
        .unwrap();
    assert_eq!(outcome(&t).state, TaskState::Cancelled);
    assert_eq!(outcome(&t).reason.as_deref(), Some("no"));

    let cancel = |t: &Task, why: &str| {
        t.apply(&Transition::Cancel {
            reason: why.into(),
            now_ms: 1,
        })
        .unwrap()
    };
    let c = cancel(&running(1), "stop");
    assert_eq!(c.state(), TaskState::Running);
    assert_eq!(
        c.active().unwrap().cancel_requested.as_deref(),
        Some("stop")
    );
    // A second cancel keeps the first reason.
    let c = cancel(&c, "again");
    assert_eq!(
        c.active().unwrap().cancel_requested.as_deref(),
        Some("stop")
    );
    let done = c.apply(&exited(1, None, Some(15), None)).unwrap();
    assert_eq!(outcome(&done).state, TaskState::Cancelled);
    assert_eq!(outcome(&done).reason.as_deref(), Some("stop"));
    assert_eq!(outcome(&done).signal, Some(15));
}

/// Defect 1: a cancel committed while Starting is never forgotten — neither
/// by a requeue (daemon restart) nor by a launch that fails because the
/// start job was cancelled.
#[test]
fn cancel_during_starting_ends_cancelled_whatever_happens_next() {
    let s = launch(&task(1), 7)
        .apply(&Transition::Cancel {
            reason: "changed my mind".into(),
            now_ms: 1,
        })
        .unwrap();
    assert_eq!(s.state(), TaskState::Starting);
    let r = s
        .apply(&Transition::Requeue {
            attempt: 1,
            reason: "daemon restarted".into(),
            eligible_ms: None,
            now_ms: 2,
        })
        .unwrap();
    assert_eq!(outcome(&r).state, TaskState::Cancelled);
    assert_eq!(outcome(&r).reason.as_deref(), Some("changed my mind"));
    let f = s
        .apply(&Transition::LaunchFailed {
            attempt: 1,
            reason: "start job canceled".into(),
            now_ms: 2,
        })
        .unwrap();
    assert_eq!(outcome(&f).state, TaskState::Cancelled);
}

#[test]
fn vanished_is_interrupted_not_failed() {
    let t = running(1)
        .apply(&Transition::Vanished {
            attempt: 1,
            reason: "scope gone".into(),
            now_ms: 9,
        })
        .unwrap();
    assert_eq!(outcome(&t).state, TaskState::Interrupted);
    assert_eq!(outcome(&t).reason.as_deref(), Some("scope gone"));
}

#[test]
fn requeue_keeps_attempt_count_and_eligibility() {
    let s = launch(&task(1), 1);
    let q = s
        .apply(&Transition::Requeue {
            attempt: 1,
            reason: "never ran".into(),
            eligible_ms: Some(500),
            now_ms: 2,
        })
        .unwrap();
    assert_eq!(q.state(), TaskState::Queued);
    assert_eq!(q.attempts, 1);
    assert_eq!(
        q.status,
        Status::Queued(Waiting {
            eligible_ms: Some(500),
            note: Some("never ran".into())
        })
    );
    // The next launch is attempt 2; the environment is still there.
    let s2 = launch(&q, 9);
    assert_eq!(s2.active().unwrap().attempt, 2);
    assert_eq!(s2.env[0].1, "x");
}

/// A late report about an earlier attempt never finishes the current one.
#[test]
fn events_for_another_attempt_are_refused() {
    let s = launch(&task(1), 1);
    let q = s
        .apply(&Transition::Requeue {
            attempt: 1,
            reason: "r".into(),
            eligible_ms: None,
            now_ms: 0,
        })
        .unwrap();
    let s2 = started(&launch(&q, 2));
    let err = s2.apply(&exited(1, Some(0), None, None)).unwrap_err();
    assert!(matches!(
        err,
        TransitionError::StaleAttempt {
            got: 1,
            current: 2,
            ..
        }
    ));
    assert!(err.to_string().contains("attempt 1"), "{err}");
    assert!(s2.apply(&exited(2, Some(0), None, None)).is_ok());
}

#[test]
fn terminal_states_accept_nothing() {
    let done = task(1)
        .apply(&Transition::Cancel {
            reason: "x".into(),
            now_ms: 0,
        })
        .unwrap();
    for ev in [
        Transition::Launch {
            supervisor_pid: 1,
            now_ms: 0,
        },
        Transition::Started {
            attempt: 1,
            now_ms: 0,
        },
        Transition::Cancel {
            reason: "x".into(),
            now_ms: 0,
        },
        exited(1, Some(0), None, None),
        Transition::Vanished {
            attempt: 1,
            reason: "x".into(),
            now_ms: 0,
        },
    ] {
        let err = done.apply(&ev).unwrap_err();
        assert!(
            matches!(
                err,
                TransitionError::Invalid {
                    state: TaskState::Cancelled,
                    ..
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn unit_names_round_trip_and_reject_junk() {
    assert_eq!(unit_name(42), "claudine-task-42.scope");
    assert_eq!(parse_unit_name("claudine-task-42.scope"), Some(42));
    for junk in [
        "claudine-task-.scope",
        "claudine-task-042.scope",
        "claudine-task-4a.scope",
        "claudine-task-1.service",
        "other-1.scope",
        "claudine-task-99999999999999999999.scope",
    ] {
        assert_eq!(parse_unit_name(junk), None, "{junk}");
    }
}

#[test]
fn priority_and_state_parse() {
    assert_eq!("p0".parse::<Priority>().unwrap(), Priority::P0);
    assert!("P3".parse::<Priority>().is_err());
    for s in TaskState::ALL {
        assert_eq!(s.as_str().parse::<TaskState>().unwrap(), s);
    }
    assert!(Priority::P0 < Priority::P1 && Priority::P1 < Priority::P2);
}

#[test]
fn wait_code_is_never_zero_unless_succeeded() {
    assert_eq!(wait_code(TaskState::Succeeded, Some(0), None), 0);
    assert_eq!(wait_code(TaskState::Failed, Some(3), None), 3);
    assert_eq!(wait_code(TaskState::Failed, None, Some(9)), 137);
    // A cancelled command that trapped SIGTERM and exited 0.
    assert_eq!(wait_code(TaskState::Cancelled, Some(0), None), 1);
    // Cancelled before it ran, or interrupted: no status at all.
    assert_eq!(wait_code(TaskState::Cancelled, None, None), 1);
    assert_eq!(wait_code(TaskState::Interrupted, None, None), 1);
}

#[test]
fn a_running_task_is_suspended_and_thawed_and_can_end_while_frozen() {
    let t = running(7);
    let s = t
        .apply(&Transition::Suspend {
            attempt: 1,
            reason: "suspended by alice".into(),
            now_ms: 10,
        })
        .unwrap();
    assert_eq!(s.state(), TaskState::Suspended);
    assert!(s.state().is_active());
    let f = s.status.fields();
    assert_eq!(f.suspended_ms, Some(10));
    assert_eq!(f.reason.as_deref(), Some("suspended by alice"));
    let ev = crate::core::lifecycle::events(&t, &s, 10);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].kind, crate::core::EventKind::Suspended);
    // Twice is refused; a thaw of a running task too; another attempt too.
    let again = Transition::Suspend {
        attempt: 1,
        reason: "x".into(),
        now_ms: 11,
    };
    assert!(s.apply(&again).is_err());
    assert!(t
        .apply(&Transition::Thaw {
            attempt: 1,
            now_ms: 11
        })
        .is_err());
    assert!(s
        .apply(&Transition::Thaw {
            attempt: 2,
            now_ms: 11
        })
        .is_err());
    let r = s
        .apply(&Transition::Thaw {
            attempt: 1,
            now_ms: 12,
        })
        .unwrap();
    assert_eq!(r.state(), TaskState::Running);
    assert_eq!(
        r.active().unwrap().started_ms,
        t.active().unwrap().started_ms
    );
    let ev = crate::core::lifecycle::events(&s, &r, 12);
    assert_eq!(ev[0].kind, crate::core::EventKind::Resumed);
    // Killed while frozen (a cancel stops the scope): it ends as usual.
    let c = s
        .apply(&Transition::Cancel {
            reason: "cancelled by alice".into(),
            now_ms: 13,
        })
        .unwrap();
    assert_eq!(c.state(), TaskState::Suspended);
    let done = c.apply(&exited(1, None, Some(9), None)).unwrap();
    assert_eq!(done.state(), TaskState::Cancelled);
    // A queued task cannot be suspended.
    assert!(task(8).apply(&again).is_err());
}

#[test]
fn an_interrupted_command_may_be_reopened_and_nothing_else_of_a_command() {
    let t = running(9);
    let gone = t
        .apply(&Transition::Vanished {
            attempt: 1,
            reason: "host reboot".into(),
            now_ms: 5,
        })
        .unwrap();
    assert_eq!(gone.state(), TaskState::Interrupted);
    let reopen = |prompt: Option<&str>| Transition::Reopen {
        prompt: prompt.map(str::to_string),
        env: vec![("SECRET".into(), "again".into())],
        reason: "relaunched by alice after an interruption".into(),
        now_ms: 6,
    };
    let q = gone.apply(&reopen(None)).unwrap();
    assert_eq!(q.state(), TaskState::Queued);
    assert_eq!(q.env, vec![("SECRET".to_string(), "again".to_string())]);
    assert!(
        gone.apply(&reopen(Some("x"))).is_err(),
        "a prompt is for Claude tasks"
    );
    let failed = t.apply(&exited(1, Some(1), None, None)).unwrap();
    assert!(
        failed.apply(&reopen(None)).is_err(),
        "a failed command is not run again"
    );
}
