//! Tests of stall detection on simulated clocks.

use super::*;
use crate::core::events::EventDetail;

const S: i64 = 1000;
const MIN: i64 = 60 * S;

/// A simulated task sampled by the monitor.
struct Sim {
    now: i64,
    cpu_usec: u64,
    last_output: Option<i64>,
    watch: StallWatch,
    changes: Vec<(i64, StallChange)>,
}

impl Sim {
    fn new(after_ms: i64, start: i64) -> Sim {
        let policy = StallPolicy {
            after_ms,
            busy_cpu_percent: 50.0,
        };
        Sim {
            now: start,
            cpu_usec: 0,
            last_output: None,
            watch: StallWatch::new(policy, start),
            changes: Vec::new(),
        }
    }

    /// `dt` passes using `cpu` percent of a core; the task printed at the
    /// end of it if `printed`; then a sample.
    fn step(&mut self, dt: i64, cpu: f64, printed: bool) -> Option<StallChange> {
        self.now += dt;
        self.cpu_usec += (cpu * dt as f64 * 10.0) as u64;
        if printed {
            self.last_output = Some(self.now);
        }
        let change = self
            .watch
            .observe(self.now, self.last_output, self.cpu_usec);
        if let Some(c) = change {
            self.changes.push((self.now, c));
        }
        change
    }

    /// `steps` samples `dt` apart.
    fn run(&mut self, steps: usize, dt: i64, cpu: f64, printing: bool) {
        for _ in 0..steps {
            self.step(dt, cpu, printing);
        }
    }
}

fn stalled(change: &StallChange) -> (bool, i64, f64) {
    match *change {
        StallChange::Stalled {
            busy,
            silent_for_ms,
            cpu_percent,
            ..
        } => (busy, silent_for_ms, cpu_percent),
        StallChange::Active { .. } => panic!("not a stall: {change:?}"),
    }
}

#[test]
fn busy_task_that_stops_printing_stalls_within_threshold_plus_one_interval() {
    for interval in [S, 3 * S, 7 * S, MIN] {
        let mut sim = Sim::new(5 * MIN, 0);
        sim.run((2 * MIN / interval) as usize, interval, 98.0, true);
        let quiet_since = sim.last_output.unwrap();
        sim.run((20 * MIN / interval) as usize, interval, 98.0, false);
        assert_eq!(sim.changes.len(), 1, "{interval}: {:?}", sim.changes);
        let (at, change) = sim.changes[0];
        assert!(at >= quiet_since + 5 * MIN, "{interval}: too early at {at}");
        assert!(
            at <= quiet_since + 5 * MIN + interval,
            "{interval}: late at {at}"
        );
        let (busy, silent, cpu) = stalled(&change);
        assert!(busy);
        assert_eq!(silent, at - quiet_since);
        assert!((cpu - 98.0).abs() < 0.01, "{cpu}");
        assert!(sim.watch.is_stalled());
        assert!(sim
            .watch
            .describe()
            .starts_with("busy: 98% CPU, no output for "));
    }
}

#[test]
fn idle_task_says_idle() {
    let mut sim = Sim::new(6 * MIN, 0);
    sim.step(S, 30.0, true);
    sim.run(6 * 60, S, 0.0, false);
    let (at, change) = sim.changes[0];
    assert_eq!(at, S + 6 * MIN);
    assert_eq!(
        change,
        StallChange::Stalled {
            busy: false,
            silent_for_ms: 6 * MIN,
            cpu_percent: 0.0,
            last_output_ms: Some(S),
        }
    );
    assert_eq!(sim.watch.describe(), "idle: no CPU, no output for 6 min");
    assert_eq!(
        describe_stall(true, 98.4, 6 * MIN),
        "busy: 98% CPU, no output for 6 min"
    );
    assert_eq!(
        describe_stall(false, 12.0, 90 * MIN),
        "idle: 12% CPU, no output for 1 h 30 min"
    );
}

#[test]
fn task_that_never_printed_counts_from_its_start() {
    let start = 1_700_000_000_000;
    let mut sim = Sim::new(5 * MIN, start);
    sim.run(10 * 60, S, 0.5, false);
    assert_eq!(sim.changes.len(), 1);
    let (at, change) = sim.changes[0];
    assert_eq!(at, start + 5 * MIN);
    assert!(matches!(
        change,
        StallChange::Stalled {
            busy: false,
            last_output_ms: None,
            ..
        }
    ));
    assert_eq!(sim.watch.describe(), "idle: no CPU, no output for 10 min");
}

#[test]
fn active_once_when_it_prints_again_then_a_new_stall_can_follow() {
    let mut sim = Sim::new(5 * MIN, 0);
    sim.step(S, 10.0, true);
    sim.run(7 * 60, S, 80.0, false);
    assert_eq!(sim.changes.len(), 1);
    let change = sim.step(S, 80.0, true);
    assert_eq!(
        change,
        Some(StallChange::Active {
            silent_for_ms: 7 * MIN + S
        })
    );
    assert!(!sim.watch.is_stalled());
    sim.run(60, S, 80.0, true);
    assert_eq!(sim.changes.len(), 2, "no event while it prints");
    assert_eq!(sim.watch.describe(), "active: last output 0 s ago");
    // Silent again: a second stall, measured over the new silence only.
    sim.run(6 * 60, S, 5.0, false);
    assert_eq!(sim.changes.len(), 3);
    let (busy, silent, cpu) = stalled(&sim.changes[2].1);
    assert!(!busy, "cpu {cpu}");
    assert_eq!(silent, 5 * MIN);
    assert!((cpu - 5.0).abs() < 0.01);
}

#[test]
fn no_flapping() {
    // Prints every 4 minutes under a 5-minute threshold: never stalls.
    let mut sim = Sim::new(5 * MIN, 0);
    for _ in 0..30 {
        sim.run(4 * 60 - 1, S, 100.0, false);
        sim.step(S, 100.0, true);
    }
    assert!(sim.changes.is_empty(), "{:?}", sim.changes);
    // Silent for hours: one stall, however the CPU use moves.
    for cpu in [100.0, 0.0, 300.0, 0.0] {
        sim.run(3600, S, cpu, false);
    }
    assert_eq!(sim.changes.len(), 1);
    // One line of output, then silence: one Active, one more Stall.
    sim.step(S, 0.0, true);
    sim.run(3600, S, 0.0, false);
    let kinds: Vec<_> = sim
        .changes
        .iter()
        .map(|(_, c)| c.event(1, 1, 0).kind)
        .collect();
    assert_eq!(
        kinds,
        [EventKind::Stalled, EventKind::Active, EventKind::Stalled]
    );
}

#[test]
fn cpu_over_the_silent_window_counts_cores() {
    let mut sim = Sim::new(5 * MIN, 0);
    sim.step(S, 0.0, true);
    // Busy on two and a half cores for 2 minutes, then idle.
    sim.run(120, S, 250.0, false);
    sim.run(180, S, 0.0, false);
    let (busy, _, cpu) = stalled(&sim.changes[0].1);
    assert!(busy);
    assert!((cpu - 100.0).abs() < 0.01, "{cpu}"); // 250% × 2/5
    assert!(sim.watch.cpu_percent().is_some());
}

#[test]
fn clock_going_back_is_tolerated() {
    // Before a stall: a jump back does not stall or panic; the stall comes
    // once the task has really been silent for the threshold.
    let mut sim = Sim::new(5 * MIN, 10 * MIN);
    sim.step(S, 90.0, true);
    sim.run(60, S, 90.0, false);
    sim.step(-30 * MIN, 90.0, false);
    assert_eq!(sim.watch.silent_for_ms(), 0);
    assert!(sim.changes.is_empty());
    sim.run(60 * 60, S, 90.0, false);
    assert_eq!(sim.changes.len(), 1);
    let (busy, silent, _) = stalled(&sim.changes[0].1);
    assert!(busy);
    assert_eq!(silent, 5 * MIN);
    // After a stall: going back neither ends nor repeats it.
    sim.step(-2 * 60 * MIN, 0.0, false);
    sim.run(120, S, 0.0, false);
    assert_eq!(sim.changes.len(), 1);
    assert!(sim.watch.is_stalled());
    // New output ends it, once.
    sim.step(S, 0.0, true);
    assert!(matches!(sim.changes[1].1, StallChange::Active { .. }));
    assert_eq!(sim.changes.len(), 2);
}

#[test]
fn cpu_counter_going_back_restarts_the_window() {
    let mut sim = Sim::new(MIN, 0);
    sim.step(S, 0.0, true);
    sim.run(30, S, 100.0, false);
    sim.cpu_usec = 0; // a new cgroup
    sim.run(40, S, 0.0, false);
    let (busy, _, cpu) = stalled(&sim.changes[0].1);
    assert!(!busy);
    assert_eq!(cpu, 0.0);
}

#[test]
fn adopted_task_needs_one_more_sample_to_say_busy_or_idle() {
    let policy = StallPolicy::default();
    let mut watch = StallWatch::new(policy, 0);
    // First sample after a daemon restart: quiet for an hour already.
    assert_eq!(watch.observe(3600 * S, Some(60 * S), 500_000_000), None);
    assert_eq!(watch.cpu_percent(), None);
    let change = watch.observe(3601 * S, Some(60 * S), 501_000_000);
    assert_eq!(
        change,
        Some(StallChange::Stalled {
            busy: true,
            silent_for_ms: 3541 * S,
            cpu_percent: 100.0,
            last_output_ms: Some(60 * S),
        })
    );
}

#[test]
fn describe_when_active() {
    let mut watch = StallWatch::new(StallPolicy::default(), 0);
    watch.observe(40 * S, None, 0);
    assert_eq!(watch.describe(), "active: no output yet (started 40 s ago)");
    watch.observe(41 * S, Some(41 * S), 0);
    watch.observe(53 * S, Some(41 * S), 0);
    assert_eq!(watch.describe(), "active: last output 12 s ago");
    assert!(!watch.is_busy());
}

#[test]
fn changes_become_events() {
    let stall = StallChange::Stalled {
        busy: true,
        silent_for_ms: 6 * MIN,
        cpu_percent: 98.0,
        last_output_ms: Some(5),
    };
    let event = stall.event(42, 3, 1000);
    assert_eq!(event.kind, EventKind::Stalled);
    assert_eq!(
        (event.task, event.attempt, event.at_ms),
        (42, Some(3), 1000)
    );
    assert!(event.detail.fits(EventKind::Stalled));
    assert_eq!(
        event.message(),
        "task 42 stalled: busy: 98% CPU, no output for 6 min"
    );
    let active = StallChange::Active { silent_for_ms: 5 }.event(42, 3, 1000);
    assert_eq!(
        active.detail,
        EventDetail::Active(crate::core::events::ActiveDetail { silent_for_ms: 5 })
    );
}
