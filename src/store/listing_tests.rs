//! The finished-task page of `list`: filters and limit in the SQL.

use super::*;
use crate::core::{Priority, Transition};

/// Twelve tasks: owners 1000/1001 alternate, priorities P0/P1/P2 cycle;
/// ids 1..=9 end (succeeded when id % 3 == 0, else cancelled), 10..=12 stay
/// queued.
fn store(dir: &tempfile::TempDir) -> Store {
    let mut s = Store::open(&dir.path().join("db")).unwrap();
    for i in 0..12u32 {
        let prio = [Priority::P0, Priority::P1, Priority::P2][i as usize % 3];
        let t = s
            .insert(NewTask {
                owner_uid: 1000 + i % 2,
                owner_name: format!("user{}", 1000 + i % 2),
                priority: prio,
                argv: vec!["true".into()],
                cwd: "/tmp".into(),
                env: vec![],
                inherit_env: false,
                umask: 0o022,
                limits: Default::default(),
                created_ms: i as i64,
                claude: None,
                restartable: false,
                worktree: None,
                after: vec![],
                after_any: false,
            })
            .unwrap();
        if t.id > 9 {
            continue;
        }
        if t.id % 3 == 0 {
            let mut before = t;
            for ev in [
                Transition::Launch {
                    supervisor_pid: 7,
                    now_ms: 1,
                },
                Transition::Started {
                    attempt: 1,
                    now_ms: 2,
                },
                Transition::Exited {
                    attempt: 1,
                    exit_code: Some(0),
                    signal: None,
                    error: None,
                    now_ms: 3,
                },
            ] {
                let after = before.apply(&ev).unwrap();
                s.save(&before, &after, ev.name(), 3).unwrap();
                before = after;
            }
            assert_eq!(before.state(), TaskState::Succeeded);
            continue;
        }
        let ev = Transition::Cancel {
            reason: "x".into(),
            now_ms: 5,
        };
        let done = t.apply(&ev).unwrap();
        s.save(&t, &done, "cancel", 5).unwrap();
    }
    s
}

fn ids(tasks: &[Task]) -> Vec<i64> {
    tasks.iter().map(|t| t.id).collect()
}

const TERMINAL: [TaskState; 4] = [
    TaskState::Succeeded,
    TaskState::Failed,
    TaskState::Cancelled,
    TaskState::Interrupted,
];

#[test]
fn state_owner_and_priority_filters_are_applied_in_sql() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let every = FinishedFilter {
        owner: None,
        states: &TERMINAL,
        priorities: None,
    };
    let all = s.finished(&every, Window::Oldest(None)).unwrap();
    assert_eq!(ids(&all), (1..=9).collect::<Vec<_>>());
    assert_eq!(s.count_finished(&every).unwrap(), 9);

    let succeeded = FinishedFilter {
        states: &[TaskState::Succeeded],
        ..every
    };
    assert_eq!(
        ids(&s.finished(&succeeded, Window::Oldest(None)).unwrap()),
        [3, 6, 9]
    );
    // Task ids 1, 3, 5, ... belong to uid 1000 (inserted at i = id - 1).
    let mine = FinishedFilter {
        owner: Some(1000),
        ..every
    };
    assert_eq!(
        ids(&s.finished(&mine, Window::Oldest(None)).unwrap()),
        [1, 3, 5, 7, 9]
    );
    let p0 = [Priority::P0];
    let mine_p0 = FinishedFilter {
        priorities: Some(&p0),
        ..mine
    };
    assert_eq!(
        ids(&s.finished(&mine_p0, Window::Oldest(None)).unwrap()),
        [1, 7]
    );
    assert_eq!(s.count_finished(&mine_p0).unwrap(), 2);

    // Unfinished states never come from here; nothing wanted, nothing read.
    let queued = FinishedFilter {
        states: &[TaskState::Queued],
        ..every
    };
    assert!(s
        .finished(&queued, Window::Oldest(None))
        .unwrap()
        .is_empty());
    assert_eq!(s.count_finished(&queued).unwrap(), 0);
    let none: [Priority; 0] = [];
    let no_prio = FinishedFilter {
        priorities: Some(&none),
        ..every
    };
    assert!(s.finished(&no_prio, Window::Newest(5)).unwrap().is_empty());
}

#[test]
fn the_limit_takes_either_end_and_returns_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let cancelled = FinishedFilter {
        owner: None,
        states: &[TaskState::Cancelled],
        priorities: None,
    };
    // Cancelled: 1, 2, 4, 5, 7, 8.
    assert_eq!(
        ids(&s.finished(&cancelled, Window::Oldest(Some(4))).unwrap()),
        [1, 2, 4, 5]
    );
    assert_eq!(
        ids(&s.finished(&cancelled, Window::Newest(3)).unwrap()),
        [5, 7, 8]
    );
    assert_eq!(
        ids(&s.finished(&cancelled, Window::Newest(50)).unwrap()),
        [1, 2, 4, 5, 7, 8]
    );
    assert_eq!(s.count_finished(&cancelled).unwrap(), 6);
}
