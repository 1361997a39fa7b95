//! The lifecycle events a transition produces: `task:queued` when a task
//! enters the queue (submitted or queued again), `task:started` when an
//! attempt's command was told to go, `task:suspended` and `task:resumed`
//! when its scope is frozen and thawed, `task:finished` when it ends. A pure
//! function of the records before and after, so the store writes them in the
//! transaction of the transition itself.

use super::event_detail::{EventDetail, FinishedDetail, NoteDetail};
use super::events::{EventKind, TaskEvent};
use super::task::{Status, Task, TaskState};

/// The event for a just-submitted task.
pub fn submitted(t: &Task) -> TaskEvent {
    TaskEvent::new(
        EventKind::Queued,
        t.id,
        None,
        t.created_ms,
        EventDetail::Note(NoteDetail { reason: None }),
    )
}

/// The events of the transition `before` → `after` at `now_ms`.
pub fn events(before: &Task, after: &Task, now_ms: i64) -> Vec<TaskEvent> {
    let (was, is) = (before.state(), after.state());
    let attempt = after.active().or(before.active()).map(|a| a.attempt);
    let mut out = Vec::new();
    match (&after.status, was, is) {
        (Status::Queued(w), w0, TaskState::Queued) if w0 != TaskState::Queued => {
            out.push(TaskEvent::new(
                EventKind::Queued,
                after.id,
                attempt,
                now_ms,
                EventDetail::Note(NoteDetail {
                    reason: w.note.clone(),
                }),
            ));
        }
        (Status::Running(a), TaskState::Running, TaskState::Suspended) => out.push(TaskEvent::new(
            EventKind::Suspended,
            after.id,
            attempt,
            now_ms,
            EventDetail::Note(NoteDetail {
                reason: a.suspended.as_ref().and_then(|s| s.reason.clone()),
            }),
        )),
        (_, TaskState::Suspended, TaskState::Running) => out.push(TaskEvent::new(
            EventKind::Resumed,
            after.id,
            attempt,
            now_ms,
            EventDetail::Note(NoteDetail { reason: None }),
        )),
        (_, TaskState::Starting, TaskState::Running) => out.push(TaskEvent::new(
            EventKind::Started,
            after.id,
            attempt,
            now_ms,
            EventDetail::Note(NoteDetail { reason: None }),
        )),
        (Status::Done(o), _, _) if !was.is_terminal() => out.push(TaskEvent::new(
            EventKind::Finished,
            after.id,
            attempt,
            now_ms,
            EventDetail::Finished(FinishedDetail {
                state: o.state,
                exit_code: o.exit_code,
                signal: o.signal,
                reason: o.reason.clone(),
                memory_peak_bytes: None,
                oom_kills: None,
            }),
        )),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{NewTask, Priority, Transition};

    #[test]
    fn queued_started_finished() {
        let t = Task::queued(
            9,
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
                created_ms: 5,
                claude: None,
                restartable: false,
                worktree: None,
                after: vec![],
                after_any: false,
            },
        );
        assert_eq!(submitted(&t).kind, EventKind::Queued);
        let s = t
            .apply(&Transition::Launch {
                supervisor_pid: 1,
                now_ms: 6,
            })
            .unwrap();
        assert!(events(&t, &s, 6).is_empty());
        let r = s
            .apply(&Transition::Started {
                attempt: 1,
                now_ms: 7,
            })
            .unwrap();
        let e = events(&s, &r, 7);
        assert_eq!((e[0].kind, e[0].attempt), (EventKind::Started, Some(1)));
        let d = r
            .apply(&Transition::Exited {
                attempt: 1,
                exit_code: Some(3),
                signal: None,
                error: None,
                now_ms: 8,
            })
            .unwrap();
        let e = events(&r, &d, 8);
        assert_eq!(e[0].kind, EventKind::Finished);
        assert!(
            e[0].to_json_line()
                .contains(r#""state":"failed","exit_code":3"#),
            "{}",
            e[0].to_json_line()
        );
        // A requeue is queued again, with its reason.
        let q = s
            .apply(&Transition::Requeue {
                attempt: 1,
                reason: "never ran".into(),
                eligible_ms: None,
                now_ms: 9,
            })
            .unwrap();
        let e = events(&s, &q, 9);
        assert!(e[0].to_json_line().contains("never ran"));
    }
}
