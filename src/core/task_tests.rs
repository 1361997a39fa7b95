//! Tests of the task state machine.

use super::*;

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
            created_ms: 1,
        },
    )
}

/// A task that was launched and started.
fn running(id: TaskId) -> Task {
    task(id)
        .apply(&Transition::Launch {
            supervisor_pid: 1,
            now_ms: 0,
        })
        .unwrap()
        .apply(&Transition::Started { now_ms: 0 })
        .unwrap()
}

#[test]
fn happy_path_runs_to_success_and_forgets_env() {
    let t = task(1);
    let t = t
        .apply(&Transition::Launch {
            supervisor_pid: 42,
            now_ms: 2,
        })
        .unwrap();
    assert_eq!(
        (t.state, t.supervisor_pid, t.attempts),
        (TaskState::Starting, Some(42), 1)
    );
    let t = t.apply(&Transition::Started { now_ms: 3 }).unwrap();
    assert_eq!((t.state, t.started_ms), (TaskState::Running, Some(3)));
    let t = t
        .apply(&Transition::Exited {
            exit_code: Some(0),
            signal: None,
            error: None,
            now_ms: 4,
        })
        .unwrap();
    assert_eq!(t.state, TaskState::Succeeded);
    assert_eq!(t.finished_ms, Some(4));
    assert_eq!(t.env, vec![("SECRET".to_string(), String::new())]);
    assert_eq!(t.supervisor_pid, None);
}

#[test]
fn nonzero_exit_and_signal_fail_with_reason() {
    let run = running(1);
    let t = run
        .apply(&Transition::Exited {
            exit_code: Some(3),
            signal: None,
            error: None,
            now_ms: 1,
        })
        .unwrap();
    assert_eq!(t.state, TaskState::Failed);
    assert_eq!(t.reason.as_deref(), Some("exited with status 3"));
    assert_eq!(t.wait_code(), 3);
    let t = run
        .apply(&Transition::Exited {
            exit_code: None,
            signal: Some(9),
            error: None,
            now_ms: 1,
        })
        .unwrap();
    assert_eq!(t.reason.as_deref(), Some("killed by signal 9"));
    assert_eq!(t.wait_code(), 137);
    let t = run
        .apply(&Transition::Exited {
            exit_code: Some(127),
            signal: None,
            error: Some("cannot enter cwd /nope: No such file or directory".into()),
            now_ms: 1,
        })
        .unwrap();
    assert_eq!(t.state, TaskState::Failed);
    assert!(t.reason.unwrap().contains("/nope"));
}

#[test]
fn cancel_queued_is_immediate_cancel_running_waits_for_exit() {
    let t = task(1)
        .apply(&Transition::Cancel {
            reason: "no".into(),
            now_ms: 5,
        })
        .unwrap();
    assert_eq!(t.state, TaskState::Cancelled);
    assert_eq!(t.reason.as_deref(), Some("no"));

    let run = running(1);
    let c = run
        .apply(&Transition::Cancel {
            reason: "stop".into(),
            now_ms: 1,
        })
        .unwrap();
    assert_eq!(c.state, TaskState::Running);
    assert_eq!(c.cancel_requested.as_deref(), Some("stop"));
    // A second cancel keeps the first reason.
    let c = c
        .apply(&Transition::Cancel {
            reason: "again".into(),
            now_ms: 1,
        })
        .unwrap();
    assert_eq!(c.cancel_requested.as_deref(), Some("stop"));
    let done = c
        .apply(&Transition::Exited {
            exit_code: None,
            signal: Some(15),
            error: None,
            now_ms: 2,
        })
        .unwrap();
    assert_eq!(done.state, TaskState::Cancelled);
    assert_eq!(done.reason.as_deref(), Some("stop"));
    assert_eq!(done.signal, Some(15));
}

#[test]
fn vanished_is_interrupted_not_failed() {
    let run = running(1);
    let t = run
        .apply(&Transition::Vanished {
            reason: "scope gone".into(),
            now_ms: 9,
        })
        .unwrap();
    assert_eq!(t.state, TaskState::Interrupted);
    assert_eq!(t.reason.as_deref(), Some("scope gone"));
}

#[test]
fn requeue_only_from_starting() {
    let s = task(1)
        .apply(&Transition::Launch {
            supervisor_pid: 1,
            now_ms: 0,
        })
        .unwrap();
    let q = s
        .apply(&Transition::Requeue {
            reason: "daemon restarted".into(),
        })
        .unwrap();
    assert_eq!(q.state, TaskState::Queued);
    let run = s.apply(&Transition::Started { now_ms: 0 }).unwrap();
    assert!(run
        .apply(&Transition::Requeue {
            reason: String::new()
        })
        .is_err());
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
        Transition::Started { now_ms: 0 },
        Transition::Cancel {
            reason: "x".into(),
            now_ms: 0,
        },
        Transition::Exited {
            exit_code: Some(0),
            signal: None,
            error: None,
            now_ms: 0,
        },
        Transition::Vanished {
            reason: "x".into(),
            now_ms: 0,
        },
    ] {
        let err = done.apply(&ev).unwrap_err();
        assert_eq!(err.state, TaskState::Cancelled);
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
