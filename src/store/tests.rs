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
        created_ms: t,
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
fn finished_tasks_drop_env_and_list_newest_first() {
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
    let all = s.finished(None, None).unwrap();
    assert_eq!(
        all.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![ids[2], ids[1], ids[0]]
    );
    assert!(all
        .iter()
        .all(|t| t.env == vec![("TOKEN".to_string(), String::new())]
            && t.state == TaskState::Cancelled));
    let mine = s.finished(Some(1000), Some(1)).unwrap();
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
        msg.contains("schema version 2") && msg.contains(path.to_str().unwrap()),
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
