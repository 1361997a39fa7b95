use super::*;
use std::path::Path;

/// A synthetic scope of task `id` under `root`, as the kernel lays it out.
pub fn fake_scope(root: &Path, id: TaskId, memory: u64, pids: &[u32]) -> PathBuf {
    let dir = root.join(format!("claudine.slice/claudine-task-{id}.scope"));
    std::fs::create_dir_all(&dir).unwrap();
    let procs: String = pids.iter().map(|p| format!("{p}\n")).collect();
    let files = [
        ("memory.current", format!("{memory}\n")),
        ("memory.peak", format!("{}\n", memory * 2)),
        (
            "memory.events",
            "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n".into(),
        ),
        ("memory.stat", format!("anon {memory}\nfile 4096\nkernel 8192\nsock 0\nshmem 0\nfile_mapped 0\nfile_dirty 0\nfile_writeback 0\npgfault 10\npgmajfault 0\n")),
        ("memory.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n".into()),
        ("cpu.stat", "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n".into()),
        ("cpu.pressure", "some avg10=1.50 avg60=0.00 avg300=0.00 total=10\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n".into()),
        ("pids.current", format!("{}\n", pids.len())),
        ("cgroup.events", "populated 1\nfrozen 0\n".into()),
        ("cgroup.procs", procs),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

pub fn target(root: &Path, logs: &Path, id: TaskId) -> Target {
    let _ = root;
    Target {
        id,
        attempt: 1,
        cgroup: format!("/claudine.slice/claudine-task-{id}.scope"),
        log: logs.join(format!("{id}.log")),
        progress: None,
    }
}

pub fn sampler(root: &Path, targets: Vec<Target>) -> (Sampler, Targets, Arc<Activity>) {
    let shared: Targets = Arc::new(Mutex::new((1, targets)));
    let activity = Arc::new(Activity::default());
    let s = Sampler::new(
        CgroupReader::new(root.to_path_buf()),
        root.join("proc"),
        Duration::from_millis(1000),
        shared.clone(),
        activity.clone(),
    );
    (s, shared, activity)
}

#[test]
fn a_round_reads_every_figure_of_every_scope_and_its_output() {
    let root = tempfile::tempdir().unwrap();
    let logs = root.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    fake_scope(root.path(), 1, 1 << 20, &[]);
    fake_scope(root.path(), 2, 2 << 20, &[]);
    std::fs::write(logs.join("1.log"), "a\nb\n").unwrap();
    let (mut s, _, activity) = sampler(
        root.path(),
        vec![target(root.path(), &logs, 1), target(root.path(), &logs, 2)],
    );
    s.sync_targets();
    activity.touch(1, 12_345);
    let mut round = s.round();
    round.sort_by_key(|r| r.id);
    assert_eq!(round.len(), 2);
    let r = &round[0];
    assert!(!r.gone);
    assert_eq!(r.memory_current, Some(1 << 20));
    assert_eq!(r.memory_peak, Some(2 << 20));
    assert_eq!(r.memory_stat.unwrap().anon, 1 << 20);
    assert_eq!(r.cpu.unwrap().usage_usec, 2500);
    assert_eq!(r.cpu_pressure.unwrap().some.avg10, 1.5);
    assert_eq!(r.pids, Some(0));
    assert_eq!(r.memory_events.unwrap().oom_kill, 0);
    assert!(r.cgroup_events.unwrap().populated);
    assert_eq!((r.output.bytes, r.output.lines), (4, 2));
    assert_eq!(
        r.last_output_ms,
        Some(12_345),
        "the log watcher's time first"
    );
    assert_eq!(round[1].output.bytes, 0, "no log yet");
    assert_eq!(round[1].last_output_ms, None);
}

#[test]
fn a_scope_gone_mid_sample_is_a_gone_reading_not_an_error() {
    let root = tempfile::tempdir().unwrap();
    let dir = fake_scope(root.path(), 3, 1, &[]);
    let (mut s, _, _) = sampler(root.path(), vec![target(root.path(), root.path(), 3)]);
    s.sync_targets();
    std::fs::remove_dir_all(dir).unwrap();
    let round = s.round();
    assert_eq!(round.len(), 1);
    assert!(round[0].gone);
    assert_eq!(round[0].memory_current, None);
}

#[test]
fn the_kernel_signal_on_memory_events_is_reported_between_rounds() {
    let root = tempfile::tempdir().unwrap();
    let dir = fake_scope(root.path(), 4, 1, &[]);
    let (mut s, shared, _) = sampler(root.path(), vec![target(root.path(), root.path(), 4)]);
    s.sync_targets();
    assert!(s.wait_for_changes(Duration::from_millis(20)).is_empty());
    std::fs::write(
        dir.join("memory.events"),
        "low 0\nhigh 3\nmax 2\noom 1\noom_kill 1\n",
    )
    .unwrap();
    let reports = s.wait_for_changes(Duration::from_millis(2000));
    match reports.as_slice() {
        [Report::Changed {
            id: 4,
            attempt: 1,
            memory_events: Some(m),
            ..
        }] => assert_eq!((m.high, m.max, m.oom_kill), (3, 2, 1)),
        other => panic!("{other:?}"),
    }
    // The target goes: its watches go with it.
    *shared.lock().unwrap() = (2, Vec::new());
    s.sync_targets();
    assert!(s.watched.is_empty() && s.by_wd.is_empty());
    assert!(s.round().is_empty());
}
