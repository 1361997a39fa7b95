use super::*;
use crate::core::EventKind;

const GIB: u64 = 1 << 30;

fn policy(stall_after_ms: i64, warn: Option<u64>, max: Option<u64>) -> WatchPolicy {
    let limits = Limits {
        memory_warn: warn,
        memory_max: max,
        stall_after_ms: Some(stall_after_ms),
        ..Limits::default()
    };
    WatchPolicy::for_task(&limits, 300_000, None, None, HistoryPolicy::default())
}

fn obs(at_ms: i64, memory: u64, cpu_usec: u64, last_output_ms: Option<i64>) -> Observation {
    Observation {
        at_ms,
        memory_bytes: memory,
        memory_peak_bytes: memory,
        cpu_usage_usec: cpu_usec,
        pids: 2,
        output_bytes: 10,
        last_output_ms,
        ..Observation::default()
    }
}

fn kinds(events: &[TaskEvent]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).collect()
}

#[test]
fn the_task_limits_win_over_the_defaults() {
    let own = Limits {
        memory_warn: Some(GIB),
        stall_after_ms: Some(60_000),
        ..Limits::default()
    };
    let p = WatchPolicy::for_task(&own, 300_000, Some(2 * GIB), None, HistoryPolicy::default());
    assert_eq!(p.stall.after_ms, 60_000);
    assert_eq!(p.memory.warn_bytes, Some(GIB));
    let none = Limits::default();
    let p = WatchPolicy::for_task(
        &none,
        300_000,
        Some(2 * GIB),
        None,
        HistoryPolicy::default(),
    );
    assert_eq!(p.stall.after_ms, 300_000);
    assert_eq!(p.memory.warn_bytes, Some(2 * GIB));
    // A default warning at or above the task's hard limit is dropped.
    let capped = Limits {
        memory_max: Some(GIB),
        ..Limits::default()
    };
    let p = WatchPolicy::for_task(
        &capped,
        300_000,
        Some(2 * GIB),
        None,
        HistoryPolicy::default(),
    );
    assert_eq!(p.memory.warn_bytes, None);
    assert_eq!(p.memory.max_bytes, Some(GIB));
}

#[test]
fn a_silent_busy_task_stalls_once_then_is_active_again() {
    let mut w = TaskWatch::new(7, 1, policy(10_000, None, None), 0, 0, Vec::new());
    assert!(w.observe(obs(1_000, GIB, 0, Some(500))).is_empty());
    assert!(w.observe(obs(6_000, GIB, 5_000_000, Some(500))).is_empty());
    // 10.5 s of silence, a whole core busy.
    let ev = w.observe(obs(11_000, GIB, 10_000_000, Some(500)));
    assert_eq!(kinds(&ev), [EventKind::Stalled]);
    assert!(ev[0].message().contains("busy"), "{}", ev[0].message());
    assert!(w.is_stalled());
    assert!(w.describe_activity().starts_with("busy: 100% CPU"));
    assert!(w
        .observe(obs(12_000, GIB, 11_000_000, Some(500)))
        .is_empty());
    // Output seen between samples: active at once, and not again.
    let active = w.output_seen(12_400).expect("active");
    assert_eq!(active.kind, EventKind::Active);
    assert_eq!((active.task, active.attempt), (7, Some(1)));
    assert!(w.output_seen(12_500).is_none());
    assert!(w
        .observe(obs(13_000, GIB, 11_000_000, Some(12_400)))
        .is_empty());
    assert_eq!(w.history().len(), 5);
}

#[test]
fn an_idle_task_is_said_idle() {
    let mut w = TaskWatch::new(1, 1, policy(5_000, None, None), 0, 0, Vec::new());
    assert!(w.observe(obs(1_000, 1 << 20, 100, None)).is_empty());
    let ev = w.observe(obs(6_000, 1 << 20, 200, None));
    assert_eq!(kinds(&ev), [EventKind::Stalled]);
    assert!(
        ev[0].message().contains("idle: no CPU"),
        "{}",
        ev[0].message()
    );
}

#[test]
fn memory_over_the_soft_and_near_the_hard_limit_and_an_oom_kill() {
    let mut w = TaskWatch::new(
        3,
        2,
        policy(600_000, Some(GIB), Some(2 * GIB)),
        0,
        0,
        Vec::new(),
    );
    assert!(w.observe(obs(1_000, GIB / 2, 0, Some(900))).is_empty());
    let ev = w.observe(obs(2_000, GIB + 1, 0, Some(900)));
    assert_eq!(kinds(&ev), [EventKind::HighMemory]);
    let ev = w.observe(obs(3_000, 2 * GIB - 1, 0, Some(900)));
    assert_eq!(kinds(&ev), [EventKind::CriticalMemory]);
    // The kernel tells of an OOM kill between samples.
    let ev = w.memory_events(3_500, 1);
    assert_eq!(kinds(&ev), [EventKind::OomKill]);
    assert_eq!(w.oom_kills(), 1);
    // The next sample sees the same count: nothing new.
    let mut o = obs(4_000, GIB / 2, 0, Some(900));
    o.oom_kills = 1;
    assert!(w.observe(o).is_empty());
}

#[test]
fn a_watch_resumed_after_a_restart_keeps_its_history_and_oom_count() {
    let restored = vec![
        Sample {
            at_ms: 1_000,
            memory_bytes: 5,
            cpu_usage_usec: 0,
            pids: 1,
            output_bytes: 0,
        },
        Sample {
            at_ms: 2_000,
            memory_bytes: 6,
            cpu_usage_usec: 500_000,
            pids: 1,
            output_bytes: 0,
        },
    ];
    let mut w = TaskWatch::new(9, 1, policy(600_000, None, None), 0, 2, restored);
    assert_eq!(w.history().len(), 2);
    let mut o = obs(3_000, 7, 1_000_000, None);
    o.oom_kills = 2;
    assert!(w.observe(o).is_empty(), "kills already reported");
    assert_eq!(w.history().len(), 3);
    // Half a core over the last two seconds.
    assert_eq!(w.recent_cpu_percent(10_000), Some(50.0));
    assert_eq!(w.recent_cpu_percent(1_000), Some(50.0));
}

#[test]
fn levels_parse_and_say_what_they_record() {
    assert_eq!("passive".parse(), Ok(Level::Passive));
    assert_eq!("protective".parse::<Level>().unwrap().name(), "protective");
    assert!(!Level::Passive.records_events());
    assert!(Level::Active.records_events());
    assert_eq!(Level::default(), Level::Active);
    let e = "loud".parse::<Level>().unwrap_err();
    assert!(e.contains("passive, active or protective"), "{e}");
}

#[test]
fn a_resumed_watch_does_not_report_again_what_was_reported() {
    let mut first = TaskWatch::new(4, 2, policy(5_000, Some(GIB), None), 0, 0, Vec::new());
    let mut recorded = first.observe(obs(1_000, 2 * GIB, 0, None));
    recorded.extend(first.observe(obs(6_000, 2 * GIB, 0, None)));
    assert_eq!(
        kinds(&recorded),
        [EventKind::HighMemory, EventKind::Stalled]
    );
    // An event of another attempt does not count.
    let mut other = recorded[1].clone();
    other.attempt = Some(1);
    let mut all = vec![other];
    all.extend(recorded);
    let mut w = TaskWatch::new(4, 2, policy(5_000, Some(GIB), None), 0, 0, Vec::new());
    w.resume_from(&all, Some(300));
    assert!(w.is_stalled());
    assert!(
        w.observe(obs(7_000, 2 * GIB, 0, Some(300))).is_empty(),
        "nothing twice, and the output from before is not new"
    );
    assert_eq!(
        kinds(&w.observe(obs(8_000, 2 * GIB, 0, Some(7_500)))),
        [EventKind::Active]
    );
    // Without those records, the same reading reports both again.
    let mut fresh = TaskWatch::new(4, 2, policy(5_000, Some(GIB), None), 0, 0, Vec::new());
    fresh.observe(obs(6_000, 2 * GIB, 0, None));
    let ev = fresh.observe(obs(7_000, 2 * GIB, 0, None));
    assert_eq!(kinds(&ev), [EventKind::Stalled]);
}
