//! Store tests against real SQLite files in a temp dir.

use super::*;
use crate::core::{Priority, Transition};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;

fn new_task(uid: u32, prio: Priority, t: i64) -> NewTask {
    NewTask {
        owner_uid: uid,
        owner_name: format!("user{uid}"),
        priority: prio,
        argv: vec!["echo".into(), "a b".into()],
        cwd: "/tmp".into(),
        env: vec![("TOKEN".into(), "secret".into())],
        inherit_env: false,
        umask: 0o027,
        limits: Default::default(),
        created_ms: t,
        claude: None,
        restartable: false,
        worktree: None,
        after: vec![],
        after_any: false,
    }
}

#[test]
fn insert_update_reload_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("claudine.db");
    let mut s = Store::open(&path).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let a = s.insert(new_task(1000, Priority::P1, 10)).unwrap();
    let b = s.insert(new_task(1001, Priority::P0, 11)).unwrap();
    assert!(b.id > a.id);
    let a2 = a
        .apply(&Transition::Launch {
            supervisor_pid: 77,
            now_ms: 12,
        })
        .unwrap();
    s.save(&a, &a2, "launch", 12).unwrap();
    drop(s);

    let s = Store::open(&path).unwrap();
    let un = s.unfinished().unwrap();
    assert_eq!(un.len(), 2);
    assert_eq!(un[0], a2);
    assert_eq!(un[1], b);
    assert_eq!(un[1].env, vec![("TOKEN".to_string(), "secret".to_string())]);
    let ev = s.events(a.id).unwrap();
    assert_eq!(ev.len(), 2);
    assert_eq!(
        (ev[0].event.as_str(), ev[0].to_state.as_str()),
        ("submitted", "queued")
    );
    assert_eq!(
        (ev[1].from_state.as_deref(), ev[1].to_state.as_str()),
        (Some("queued"), "starting")
    );
    assert_eq!(s.get(999).unwrap(), None);
}

#[test]
fn finished_tasks_drop_env_and_list_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("db")).unwrap();
    let mut ids = vec![];
    for i in 0..3 {
        let t = s
            .insert(new_task(1000 + (i % 2), Priority::P1, i as i64))
            .unwrap();
        let done = t
            .apply(&Transition::Cancel {
                reason: "x".into(),
                now_ms: 5,
            })
            .unwrap();
        s.save(&t, &done, "cancel", 5).unwrap();
        ids.push(t.id);
    }
    let terminal = [TaskState::Cancelled];
    let any = |owner| FinishedFilter {
        owner,
        states: &terminal,
        priorities: None,
    };
    let all = s.finished(&any(None), Window::Oldest(None)).unwrap();
    assert_eq!(all.iter().map(|t| t.id).collect::<Vec<_>>(), ids);
    assert!(all
        .iter()
        .all(|t| t.env == vec![("TOKEN".to_string(), String::new())]
            && t.state() == TaskState::Cancelled));
    let mine = s.finished(&any(Some(1000)), Window::Newest(1)).unwrap();
    assert_eq!(mine.iter().map(|t| t.id).collect::<Vec<_>>(), vec![ids[2]]);
    assert!(s.unfinished().unwrap().is_empty());
}

#[test]
fn newer_schema_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    drop(Store::open(&path).unwrap());
    {
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path).err().expect("must refuse");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("schema version {}", SCHEMA_VERSION + 1))
            && msg.contains(path.to_str().unwrap()),
        "{msg}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn garbage_file_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let err = Store::open(&path).err().expect("must refuse");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("corrupt"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), vec![0x5a; 8192]);
}

#[test]
fn damaged_pages_are_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let mut s = Store::open(&path).unwrap();
        for i in 0..500 {
            s.insert(new_task(1000, Priority::P2, i)).unwrap();
        }
        s.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
    }
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 16 * 4096, "db too small: {len}");
    {
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.seek(SeekFrom::Start(len / 2)).unwrap();
        f.write_all(&vec![0xff; 8192]).unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path).err().expect("must refuse");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn symlinked_database_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("elsewhere");
    std::fs::write(&target, b"precious").unwrap();
    let path = dir.path().join("db");
    std::os::unix::fs::symlink(&target, &path).unwrap();
    assert!(Store::open(&path).is_err());
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
}

/// Attempts are rows of their own, written in the transaction of the task's
/// transition, and survive a reopen with their figures.
#[test]
fn attempts_are_recorded_with_their_transitions() {
    use crate::core::Status;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut s = Store::open(&path).unwrap();
    let t0 = s.insert(new_task(1000, Priority::P1, 1)).unwrap();
    let step = |s: &mut Store, t: &Task, ev: Transition, end: Option<&AttemptEnd>| {
        let n = t.apply(&ev).unwrap();
        s.save_with(t, &n, ev.name(), 10, end).unwrap();
        n
    };
    let t1 = step(
        &mut s,
        &t0,
        Transition::Launch {
            supervisor_pid: 5,
            now_ms: 2,
        },
        None,
    );
    let t2 = step(
        &mut s,
        &t1,
        Transition::Requeue {
            attempt: 1,
            reason: "never ran".into(),
            eligible_ms: Some(99),
            now_ms: 3,
        },
        None,
    );
    let t3 = step(
        &mut s,
        &t2,
        Transition::Launch {
            supervisor_pid: 6,
            now_ms: 4,
        },
        None,
    );
    let t4 = step(
        &mut s,
        &t3,
        Transition::Started {
            attempt: 2,
            now_ms: 5,
        },
        None,
    );
    let end = AttemptEnd {
        usage: Some(crate::supervise::FinalUsage {
            memory_peak: Some(4096),
            ..Default::default()
        }),
        output: None,
        claude: None,
    };
    step(
        &mut s,
        &t4,
        Transition::Exited {
            attempt: 2,
            exit_code: Some(3),
            signal: None,
            error: None,
            now_ms: 6,
        },
        Some(&end),
    );
    assert!(matches!(
        &t2.status,
        Status::Queued(w) if w.eligible_ms == Some(99)
    ));
    drop(s);
    let s = Store::open(&path).unwrap();
    let rows = s.attempts(t0.id).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].ended_by.as_deref(), Some("requeue"));
    assert_eq!(rows[0].state.as_deref(), Some("queued"));
    assert_eq!(rows[0].started_ms, None);
    assert_eq!(rows[1].attempt, 2);
    assert_eq!(rows[1].supervisor_pid, Some(6));
    assert!(rows[1].started_ms.is_some());
    assert_eq!(
        (rows[1].state.as_deref(), rows[1].exit_code),
        (Some("failed"), Some(3))
    );
    assert_eq!(rows[1].usage.as_ref().unwrap().memory_peak, Some(4096));
    let ev = s.events(t0.id).unwrap();
    assert_eq!(ev.len(), 6);
    let t = s.get(t0.id).unwrap().unwrap();
    assert_eq!((t.attempts, t.umask), (2, 0o027));
}

/// Defect 8: an environment value cleared when its task finished must not
/// linger in the database file's free pages or in the WAL.
#[test]
fn cleared_secrets_do_not_linger_in_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut s = Store::open(&path).unwrap();
    let secret = "hunter2-very-secret-token-6c1f";
    let mut new = new_task(1000, Priority::P1, 1);
    new.env = vec![("TOKEN".into(), secret.into())];
    let t = s.insert(new).unwrap();
    // Some traffic, so the row's page is written several times.
    for i in 0..50 {
        s.insert(new_task(1000, Priority::P1, i)).unwrap();
    }
    s.purge_freed().unwrap();
    let contains = |p: &Path| {
        std::fs::read(p)
            .map(|b| b.windows(secret.len()).any(|w| w == secret.as_bytes()))
            .unwrap_or(false)
    };
    let wal = dir.path().join("db-wal");
    assert!(contains(&path) || contains(&wal), "the secret was stored");
    let done = t
        .apply(&Transition::Cancel {
            reason: "x".into(),
            now_ms: 5,
        })
        .unwrap();
    s.save(&t, &done, "cancel", 5).unwrap();
    s.purge_freed().unwrap();
    assert!(!contains(&path), "secret left in {}", path.display());
    assert!(!contains(&wal), "secret left in {}", wal.display());
}

/// A version-1 database (the first release) is migrated in place: tasks
/// keep their data, active ones get their attempt row.
#[test]
fn version_1_database_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch(schema::MIGRATIONS[0]).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        c.execute(
            "INSERT INTO tasks (owner_uid, owner_name, priority, state, argv, cwd, env, inherit_env,
                 created_ms, started_ms, supervisor_pid, attempts)
             VALUES (1000, 'a', 'P1', 'running', '[\"sleep\",\"9\"]', '/tmp', '[]', 0, 1, 2, 321, 1)",
            [],
        )
        .unwrap();
    }
    let s = Store::open(&path).unwrap();
    let t = &s.unfinished().unwrap()[0];
    assert_eq!(t.state(), TaskState::Running);
    assert_eq!(t.umask, 0o022);
    assert_eq!(t.active().unwrap().supervisor_pid, 321);
    let rows = s.attempts(t.id).unwrap();
    assert_eq!((rows.len(), rows[0].supervisor_pid), (1, Some(321)));
}

/// Dependencies are stored with the task and read back as given; a task
/// without any stores NULL (as every task from before schema 10 reads).
#[test]
fn dependencies_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("claudine.db");
    let mut s = Store::open(&path).unwrap();
    let a = s.insert(new_task(1000, Priority::P1, 10)).unwrap();
    let b = s.insert(new_task(1000, Priority::P1, 11)).unwrap();
    let mut c = new_task(1000, Priority::P1, 12);
    c.after = vec![b.id, a.id];
    c.after_any = true;
    let c = s.insert(c).unwrap();
    drop(s);
    let s = Store::open(&path).unwrap();
    let got = s.get(c.id).unwrap().unwrap();
    assert_eq!((&got.after[..], got.after_any), (&[b.id, a.id][..], true));
    assert_eq!(got, c);
    let plain = s.get(a.id).unwrap().unwrap();
    assert_eq!((plain.after, plain.after_any), (vec![], false));
    let stored: Option<String> = s
        .conn
        .query_row("SELECT after_ids FROM tasks WHERE id = ?1", [a.id], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(stored, None);
}

#[test]
fn a_suspended_task_is_stored_as_such_and_read_back_unfinished() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("claudine.db");
    let mut s = Store::open(&path).unwrap();
    let a = s.insert(new_task(1000, Priority::P1, 10)).unwrap();
    let b = a
        .apply(&Transition::Launch {
            supervisor_pid: 77,
            now_ms: 12,
        })
        .unwrap();
    s.save(&a, &b, "launch", 12).unwrap();
    let c = b
        .apply(&Transition::Started {
            attempt: 1,
            now_ms: 13,
        })
        .unwrap();
    s.save(&b, &c, "started", 13).unwrap();
    let d = c
        .apply(&Transition::Suspend {
            attempt: 1,
            reason: "suspended by alice".into(),
            now_ms: 14,
        })
        .unwrap();
    s.save(&c, &d, "suspend", 14).unwrap();
    drop(s);
    let s = Store::open(&path).unwrap();
    let un = s.unfinished().unwrap();
    assert_eq!(un, vec![d.clone()]);
    assert_eq!(un[0].state(), TaskState::Suspended);
    let lines = s.events_after(0, None, Some(a.id), 100).unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.line.contains("\"type\":\"task:suspended\"")),
        "{lines:?}"
    );
}

#[test]
fn checkpoints_are_numbered_per_task_and_stored_with_their_event() {
    use crate::core::checkpoint::{Checkpoint, CheckpointWhy, GitCheckpoint};
    use crate::core::event_detail::CheckpointDetail;
    use crate::core::{EventDetail, EventKind, TaskEvent};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("claudine.db");
    let mut s = Store::open(&path).unwrap();
    let a = s.insert(new_task(1000, Priority::P1, 10)).unwrap();
    let b = s.insert(new_task(1000, Priority::P1, 11)).unwrap();
    let cp = |task, n, git| Checkpoint {
        task,
        n,
        at_ms: 100 + n as i64,
        attempt: 1,
        why: CheckpointWhy::Interval,
        argv: vec!["make".into()],
        cwd: "/tmp".into(),
        env_names: vec!["TOKEN".into()],
        session_id: None,
        git,
        git_note: None,
        took_ms: 3,
    };
    let ev = |task, n| {
        TaskEvent::new(
            EventKind::Checkpoint,
            task,
            Some(1),
            100,
            EventDetail::Checkpoint(CheckpointDetail {
                n: Some(n),
                ..Default::default()
            }),
        )
    };
    assert_eq!(s.next_checkpoint(a.id).unwrap(), 1);
    let git = GitCheckpoint {
        toplevel: "/tmp/r".into(),
        commit: "abc".into(),
        ref_name: Checkpoint::ref_name(a.id, 1),
        head: None,
        branch: Some("main".into()),
        in_progress: Some("a merge in progress".into()),
        changed: 2,
    };
    s.add_checkpoint(1000, &cp(a.id, 1, Some(git.clone())), &ev(a.id, 1))
        .unwrap();
    assert_eq!(s.next_checkpoint(a.id).unwrap(), 2);
    assert_eq!(s.next_checkpoint(b.id).unwrap(), 1);
    s.add_checkpoint(1000, &cp(a.id, 2, None), &ev(a.id, 2))
        .unwrap();
    // The same number twice is refused, and nothing is half-written.
    let seq = s.last_event_seq();
    assert!(s
        .add_checkpoint(1000, &cp(a.id, 2, None), &ev(a.id, 2))
        .is_err());
    assert_eq!(s.last_event_seq(), seq);
    drop(s);
    let s = Store::open(&path).unwrap();
    let got = s.checkpoints(a.id).unwrap();
    assert_eq!(got.iter().map(|c| c.n).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(got[0].git.as_ref(), Some(&git));
    assert_eq!(git.ref_name, format!("refs/claudine/{}/1", a.id));
    assert!(s.checkpoints(b.id).unwrap().is_empty());
    let lines = s.events_after(0, None, Some(a.id), 100).unwrap();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.line.contains("task:checkpoint"))
            .count(),
        2
    );
}
