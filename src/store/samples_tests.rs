//! The metrics history table, on real SQLite files.

use super::*;
use crate::core::Priority;

fn new_task(uid: u32) -> NewTask {
    NewTask {
        owner_uid: uid,
        owner_name: format!("user{uid}"),
        priority: Priority::P1,
        argv: vec!["sleep".into(), "9".into()],
        cwd: "/tmp".into(),
        env: vec![],
        inherit_env: false,
        umask: 0o022,
        limits: Default::default(),
        created_ms: 1,
        claude: None,
        restartable: false,
        worktree: None,
        after: vec![],
        after_any: false,
    }
}

fn sample(at_ms: i64, memory_bytes: u64) -> Sample {
    Sample {
        at_ms,
        memory_bytes,
        cpu_usage_usec: at_ms as u64 * 10,
        pids: 3,
        output_bytes: at_ms as u64,
    }
}

fn times(points: &[Sample]) -> Vec<i64> {
    points.iter().map(|p| p.at_ms).collect()
}

#[test]
fn appended_samples_read_back_oldest_first_per_task() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("db")).unwrap();
    let a = s.insert(new_task(1000)).unwrap().id;
    let b = s.insert(new_task(1001)).unwrap().id;
    s.append_samples(&[]).unwrap();
    s.append_samples(&[(a, sample(2000, 5)), (b, sample(2000, 7))])
        .unwrap();
    s.append_samples(&[(a, sample(1000, 4)), (a, sample(3000, 6))])
        .unwrap();
    assert_eq!(times(&s.samples(a).unwrap()), vec![1000, 2000, 3000]);
    assert_eq!(s.samples(b).unwrap(), vec![sample(2000, 7)]);
    assert_eq!(s.samples(999).unwrap(), vec![]);
    // Same task and time: the newer reading replaces the stored one.
    s.append_samples(&[(a, sample(2000, 50))]).unwrap();
    assert_eq!(s.samples(a).unwrap()[1], sample(2000, 50));
    assert_eq!(s.samples(a).unwrap().len(), 3);
}

#[test]
fn a_failed_append_stores_none_of_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("db")).unwrap();
    let a = s.insert(new_task(1000)).unwrap().id;
    // Task 999 does not exist: the foreign key refuses its row.
    let err = s
        .append_samples(&[(a, sample(1000, 1)), (999, sample(1000, 1))])
        .unwrap_err();
    assert!(err.to_string().contains("insert sample"), "{err}");
    assert_eq!(s.samples(a).unwrap(), vec![]);
}

#[test]
fn replacing_before_a_time_keeps_newer_rows_and_other_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("db")).unwrap();
    let a = s.insert(new_task(1000)).unwrap().id;
    let b = s.insert(new_task(1000)).unwrap().id;
    let fine: Vec<_> = (1..=5).map(|i| (a, sample(i * 1000, i as u64))).collect();
    s.append_samples(&fine).unwrap();
    s.append_samples(&[(b, sample(1000, 9))]).unwrap();
    // Points 1..3 s fold into one coarse point carrying the last time.
    let folded = Sample {
        memory_bytes: 3,
        ..sample(3000, 3)
    };
    s.replace_samples_before(a, 4000, &[folded]).unwrap();
    assert_eq!(times(&s.samples(a).unwrap()), vec![3000, 4000, 5000]);
    assert_eq!(s.samples(a).unwrap()[0], folded);
    assert_eq!(s.samples(b).unwrap(), vec![sample(1000, 9)]);
    // Nothing to put back: the old rows simply go.
    s.replace_samples_before(a, 4500, &[]).unwrap();
    assert_eq!(times(&s.samples(a).unwrap()), vec![5000]);
}

#[test]
fn a_folded_point_not_before_the_time_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("db")).unwrap();
    let a = s.insert(new_task(1000)).unwrap().id;
    s.append_samples(&[(a, sample(1000, 1)), (a, sample(2000, 2))])
        .unwrap();
    let err = s
        .replace_samples_before(a, 2000, &[sample(500, 1), sample(2000, 9)])
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::SampleNotBefore { at_ms: 2000, .. }
    ));
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    assert_eq!(times(&s.samples(a).unwrap()), vec![1000, 2000]);
}

#[test]
fn samples_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut s = Store::open(&path).unwrap();
    let a = s.insert(new_task(1000)).unwrap().id;
    let rows = [
        (a, sample(1000, u64::from(u32::MAX) * 4)),
        (a, sample(2000, 1)),
    ];
    s.append_samples(&rows).unwrap();
    drop(s);
    let s = Store::open(&path).unwrap();
    assert_eq!(s.samples(a).unwrap(), vec![rows[0].1, rows[1].1]);
}

/// A version-4 database gets the samples table; its tasks and events stay.
#[test]
fn version_4_database_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let c = Connection::open(&path).unwrap();
        for m in &schema::MIGRATIONS[..4] {
            c.execute_batch(m).unwrap();
        }
        c.pragma_update(None, "user_version", 4).unwrap();
        c.execute(
            "INSERT INTO tasks (owner_uid, owner_name, priority, state, argv, cwd, env, inherit_env,
                 created_ms, finished_ms, exit_code, attempts)
             VALUES (1000, 'a', 'P1', 'succeeded', '[\"true\"]', '/tmp', '[]', 0, 1, 3, 0, 1)",
            [],
        )
        .unwrap();
    }
    let mut s = Store::open(&path).unwrap();
    let version: i64 = s
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!((version, SCHEMA_VERSION), (10, 10));
    let t = s.get(1).unwrap().unwrap();
    assert_eq!(t.state(), TaskState::Succeeded);
    assert_eq!(s.samples(t.id).unwrap(), vec![]);
    s.append_samples(&[(t.id, sample(1000, 1))]).unwrap();
    assert_eq!(s.samples(t.id).unwrap(), vec![sample(1000, 1)]);
}
