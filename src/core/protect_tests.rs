use super::*;

const MIB: u64 = 1 << 20;

fn policy() -> ProtectPolicy {
    ProtectPolicy {
        critical_available: 512 * MIB,
        critical_pressure: 40.0,
        margin: 256 * MIB,
        settle_ms: 10_000,
        calm_ms: 15_000,
        cold_after_ms: 600_000,
    }
}

fn host(now_ms: i64, available_mib: u64) -> HostMemory {
    HostMemory {
        now_ms,
        available: available_mib * MIB,
        pressure: Some(0.0),
    }
}

fn task(id: TaskId, priority: Priority, started_ms: i64) -> Candidate {
    Candidate {
        id,
        priority,
        started_ms,
        memory: 100 * MIB,
        frozen: None,
        relaunchable: false,
        busy: false,
    }
}

fn frozen(mut t: Candidate, since_ms: i64) -> Candidate {
    t.frozen = Some(Frozen {
        since_ms,
        by_protect: true,
    });
    t
}

fn ids(actions: &[Action]) -> Vec<(char, TaskId)> {
    actions
        .iter()
        .map(|a| match a {
            Action::Freeze { id, .. } => ('F', *id),
            Action::Thaw { id, .. } => ('T', *id),
            Action::Cold { id, .. } => ('C', *id),
        })
        .collect()
}

#[test]
fn the_newest_lowest_priority_task_is_frozen_never_the_oldest_nor_p0() {
    let tasks = [
        task(1, Priority::P2, 0), // oldest: never
        task(2, Priority::P0, 50),
        task(3, Priority::P2, 10),
        task(4, Priority::P2, 30),
        task(5, Priority::P1, 40),
    ];
    let mut pr = Protector::default();
    let a = pr.decide(&policy(), host(100, 400), &tasks);
    assert_eq!(ids(&a), [('F', 4)]);
    let Action::Freeze { reason, .. } = &a[0] else {
        panic!()
    };
    assert!(reason.starts_with(PROTECT_REASON), "{reason}");
    assert!(reason.contains("MemAvailable 400"), "{reason}");
    assert!(pr.critical());
}

#[test]
fn p0_only_when_nothing_else_is_left_and_the_oldest_never() {
    let only_p0 = [task(1, Priority::P2, 0), task(2, Priority::P0, 5)];
    assert_eq!(victim(&only_p0).map(|t| t.id), Some(2));
    assert_eq!(victim(&[task(1, Priority::P2, 0)]), None);
    let mut one_frozen = [
        task(1, Priority::P1, 0),
        task(2, Priority::P2, 5),
        task(3, Priority::P1, 9),
    ];
    one_frozen[1] = frozen(one_frozen[1].clone(), 0);
    assert_eq!(victim(&one_frozen).map(|t| t.id), Some(3));
}

#[test]
fn one_freeze_per_settle_and_only_while_it_gets_worse() {
    let p = policy();
    let mut tasks = vec![
        task(1, Priority::P1, 0),
        task(2, Priority::P2, 10),
        task(3, Priority::P2, 20),
    ];
    let mut pr = Protector::default();
    assert_eq!(ids(&pr.decide(&p, host(1000, 500), &tasks)), [('F', 3)]);
    tasks[2] = frozen(tasks[2].clone(), 1000);
    // Within the settle time: nothing more, however bad.
    assert!(pr.decide(&p, host(5000, 300), &tasks).is_empty());
    // Settled, but MemAvailable holds still: freezing more would not help.
    assert!(pr.decide(&p, host(11_000, 480), &tasks).is_empty());
    // Falling further: the next one.
    assert_eq!(ids(&pr.decide(&p, host(12_000, 400), &tasks)), [('F', 2)]);
    // Pressure alone, settled, still critical: the next (only the oldest is left: none).
    tasks[1] = frozen(tasks[1].clone(), 12_000);
    let mut h = host(30_000, 2000);
    h.pressure = Some(60.0);
    assert!(pr.decide(&p, h, &tasks).is_empty());
}

#[test]
fn pressure_alone_is_critical() {
    let tasks = [task(1, Priority::P1, 0), task(2, Priority::P1, 10)];
    let mut h = host(0, 4000);
    h.pressure = Some(45.0);
    let a = Protector::default().decide(&policy(), h, &tasks);
    assert_eq!(ids(&a), [('F', 2)]);
    let Action::Freeze { reason, .. } = &a[0] else {
        panic!()
    };
    assert!(reason.contains("memory pressure 45%"), "{reason}");
}

#[test]
fn thaw_after_calm_with_hysteresis_and_only_when_its_memory_fits() {
    let p = policy();
    let mut big = frozen(task(2, Priority::P2, 10), 0);
    big.memory = 600 * MIB;
    let tasks = vec![
        task(1, Priority::P1, 0),
        big,
        frozen(task(3, Priority::P1, 20), 5),
    ];
    let mut pr = Protector::default();
    // Between critical (512) and calm (768): nothing, and no calm clock.
    assert!(pr.decide(&p, host(0, 700), &tasks).is_empty());
    assert!(pr.decide(&p, host(1000, 900), &tasks).is_empty());
    // Calm, but not for 15 s yet.
    assert!(pr.decide(&p, host(10_000, 900), &tasks).is_empty());
    // A dip into the band resets the calm clock.
    assert!(pr.decide(&p, host(12_000, 700), &tasks).is_empty());
    assert!(pr.decide(&p, host(20_000, 900), &tasks).is_empty());
    // Calm 15 s: task 3 (P1, half of 100 MiB fits in 900 - 768) before task 2 (P2, 600 MiB).
    assert_eq!(ids(&pr.decide(&p, host(35_000, 900), &tasks)), [('T', 3)]);
    let tasks = vec![
        tasks[0].clone(),
        tasks[1].clone(),
        task(3, Priority::P1, 20),
    ];
    // Half of task 2's 600 MiB does not fit in 1000 - 768 = 232 MiB.
    assert!(pr.decide(&p, host(50_000, 1000), &tasks).is_empty());
    assert_eq!(ids(&pr.decide(&p, host(60_000, 1068), &tasks)), [('T', 2)]);
}

#[test]
fn user_suspensions_are_left_alone() {
    let mut t = task(2, Priority::P2, 10);
    t.frozen = Some(Frozen {
        since_ms: 0,
        by_protect: false,
    });
    t.relaunchable = true;
    let tasks = [task(1, Priority::P1, 0), t];
    let mut pr = Protector::default();
    assert!(pr.decide(&policy(), host(0, 4000), &tasks).is_empty());
    assert!(pr.decide(&policy(), host(16_000, 4000), &tasks).is_empty());
    assert!(pr.decide(&policy(), host(700_000, 4000), &tasks).is_empty());
}

#[test]
fn a_long_protective_freeze_turns_cold_only_when_the_task_can_be_relaunched() {
    let mut claude = frozen(task(2, Priority::P2, 10), 0);
    claude.relaunchable = true;
    let command = frozen(task(3, Priority::P2, 20), 0);
    let tasks = [task(1, Priority::P1, 0), claude, command];
    let mut pr = Protector::default();
    assert!(pr.decide(&policy(), host(599_999, 600), &tasks).is_empty());
    let a = pr.decide(&policy(), host(600_000, 600), &tasks);
    assert_eq!(ids(&a), [('C', 2)]);
    let Action::Cold { reason, .. } = &a[0] else {
        panic!()
    };
    assert!(reason.contains("for 10 min:"), "{reason}");
}

#[test]
fn busy_tasks_are_skipped() {
    let mut t = task(2, Priority::P2, 10);
    t.busy = true;
    let tasks = [task(1, Priority::P1, 0), t, task(3, Priority::P1, 5)];
    assert_eq!(victim(&tasks).map(|t| t.id), Some(3));
}
