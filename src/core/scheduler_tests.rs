use super::*;
use Priority::*;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn host(avail: u64) -> HostView {
    HostView {
        cpu_busy_percent: 10.0,
        mem_available: avail,
        memory_pressure: Some(0.0),
        window_start_ms: 0,
        taken_ms: 1000,
    }
}

fn budget() -> Budget {
    Budget {
        ceiling: 15 * GIB,
        slice_usage: Some(0),
        outstanding: 0,
    }
}

fn running(n: usize) -> Load {
    Load {
        active: n,
        starting: 0,
        last_start_ms: None,
    }
}

fn cand(id: TaskId, expected: u64) -> Candidate {
    Candidate {
        id,
        owner: 1000,
        expected,
        min_memory: None,
        unknown: false,
        probe: None,
        held: None,
    }
}

fn decide_now(h: &HostView, b: &Budget, load: &Load, c: &[Candidate]) -> Decision {
    decide(
        &SchedPolicy::default(),
        Some(h),
        b,
        load,
        c,
        |_| 0,
        None,
        1000,
    )
}

#[test]
fn the_first_candidate_that_fits_starts() {
    let d = decide_now(&host(8 * GIB), &budget(), &running(1), &[cand(1, GIB)]);
    assert_eq!(d.start, Some(1));
    assert!(d.blocked.is_empty());
}

#[test]
fn memory_waits_say_free_need_and_reserve() {
    // 0.8 GiB free... of which nothing is outstanding.
    let d = decide_now(
        &host(GIB + 800 * MIB),
        &budget(),
        &running(2),
        &[cand(7, 3 * GIB)],
    );
    assert_eq!(d.start, None);
    assert_eq!(
        d.blocked,
        vec![(
            7,
            "waiting for memory: 1.8 GiB free, needs 3 GiB + 1 GiB reserve".into()
        )]
    );
}

#[test]
fn reservations_of_started_tasks_count_against_memavailable() {
    let b = Budget {
        outstanding: 5 * GIB,
        ..budget()
    };
    let d = decide_now(&host(7 * GIB), &b, &running(5), &[cand(1, GIB)]);
    assert_eq!(d.start, Some(1), "7 - 5 = 2 GiB free: 1 + 1 reserve fits");
    let d = decide_now(&host(6 * GIB + 1), &b, &running(5), &[cand(1, GIB + 2)]);
    assert_eq!(d.start, None);
}

#[test]
fn no_head_of_line_blocking_a_smaller_task_passes() {
    let c = [cand(1, 6 * GIB), cand(2, GIB)];
    let d = decide_now(&host(4 * GIB), &budget(), &running(1), &c);
    assert_eq!(d.start, Some(2));
    assert_eq!(d.blocked.len(), 1);
    assert_eq!(
        d.hold.map(|h| h.id),
        Some(1),
        "the head's wait is remembered"
    );
}

#[test]
fn the_head_holds_the_line_after_head_hold_ms() {
    let p = SchedPolicy::default();
    let c = [cand(1, 6 * GIB), cand(2, GIB)];
    let hold = Some(Hold {
        id: 1,
        since_ms: 1000,
    });
    let at = |now| {
        decide(
            &p,
            Some(&host(4 * GIB)),
            &budget(),
            &running(1),
            &c,
            |_| 0,
            hold,
            now,
        )
    };
    assert_eq!(at(1000 + p.head_hold_ms - 1).start, Some(2));
    let d = at(1000 + p.head_hold_ms);
    assert_eq!(d.start, None);
    assert!(d
        .global
        .unwrap()
        .starts_with("behind task 1, which waits for memory"));
    // Another head starts its own clock.
    let d = decide(
        &p,
        Some(&host(4 * GIB)),
        &budget(),
        &running(1),
        &[cand(3, 6 * GIB), cand(2, GIB)],
        |_| 0,
        hold,
        1000 + p.head_hold_ms,
    );
    assert_eq!(d.start, Some(2));
    assert_eq!(d.hold.unwrap().id, 3);
}

#[test]
fn host_gates_cpu_pressure_hard_max_fresh_sample() {
    let p = SchedPolicy::default();
    let c = [cand(1, MIB)];
    let mut h = host(8 * GIB);
    h.cpu_busy_percent = 91.0;
    assert_eq!(
        decide_now(&h, &budget(), &running(0), &c).global.unwrap(),
        "CPU 91% busy (above 80%)"
    );
    let mut h = host(8 * GIB);
    h.memory_pressure = Some(14.2);
    assert_eq!(
        decide_now(&h, &budget(), &running(0), &c).global.unwrap(),
        "memory pressure 14% (above 10%)"
    );
    let d = decide_now(&host(8 * GIB), &budget(), &running(p.hard_max), &c);
    assert_eq!(d.global.unwrap(), "at the hard maximum: 50 of 50 running");
    let load = Load {
        active: 1,
        starting: 0,
        last_start_ms: Some(900),
    };
    let d = decide_now(&host(8 * GIB), &budget(), &load, &c);
    assert_eq!(d.start, None);
    assert_eq!(d.measure_at, Some(1250));
    assert_eq!(
        decide(&p, None, &budget(), &running(0), &c, |_| 0, None, 0).global,
        Some("no host sample yet".into())
    );
}

#[test]
fn alone_a_task_starts_on_the_reserve_and_the_ceiling() {
    // Expected 6 GiB, only 3 GiB available: nothing of ours runs, so it starts.
    let d = decide_now(&host(3 * GIB), &budget(), &running(0), &[cand(1, 6 * GIB)]);
    assert_eq!(d.start, Some(1));
    // ... but never while the host is already inside its reserve.
    let d = decide_now(&host(GIB), &budget(), &running(0), &[cand(1, 6 * GIB)]);
    assert_eq!(d.start, None);
}

#[test]
fn min_memory_is_honoured_even_alone() {
    let c = [Candidate {
        min_memory: Some(8 * GIB),
        ..cand(1, MIB)
    }];
    let d = decide_now(&host(8 * GIB), &budget(), &running(0), &c);
    assert_eq!(d.start, None);
    assert_eq!(
        d.blocked[0].1,
        "waiting for memory: 8 GiB free, needs at least 8 GiB (--min-memory) + 1 GiB reserve"
    );
    assert_eq!(
        decide_now(&host(9 * GIB), &budget(), &running(0), &c).start,
        Some(1)
    );
}

#[test]
fn the_slice_ceiling_bounds_the_tasks_together() {
    let b = Budget {
        ceiling: 4 * GIB,
        slice_usage: Some(3 * GIB + 512 * MIB),
        outstanding: 0,
    };
    let d = decide_now(&host(12 * GIB), &b, &running(3), &[cand(1, GIB)]);
    assert_eq!(
        d.blocked[0].1,
        "waiting for memory: the tasks hold 3.5 GiB of their 4 GiB ceiling, needs 1 GiB"
    );
}

#[test]
fn user_quota_holds_only_that_users_tasks() {
    let p = SchedPolicy {
        max_running_per_user: Some(2),
        ..Default::default()
    };
    let c = [
        cand(1, MIB),
        Candidate {
            owner: 1001,
            ..cand(2, MIB)
        },
    ];
    let d = decide(
        &p,
        Some(&host(8 * GIB)),
        &budget(),
        &running(2),
        &c,
        |uid| if uid == 1000 { 2 } else { 0 },
        None,
        1000,
    );
    assert_eq!(d.start, Some(2));
    assert_eq!(
        d.blocked,
        vec![(1, "held: user quota (2 of 2 running)".into())]
    );
}

#[test]
fn crossing_the_soft_maximum_is_flagged_once() {
    let p = SchedPolicy::default();
    let d = decide_now(
        &host(8 * GIB),
        &budget(),
        &running(p.soft_max),
        &[cand(1, MIB)],
    );
    assert!(d.crosses_soft_max);
    let d = decide_now(
        &host(8 * GIB),
        &budget(),
        &running(p.soft_max + 1),
        &[cand(1, MIB)],
    );
    assert!(!d.crosses_soft_max);
}

fn lane(priority: Priority, owner: u32, ids: &[TaskId]) -> Lane {
    Lane {
        priority,
        owner,
        ids: ids.to_vec(),
    }
}

#[test]
fn order_priority_then_fair_share_then_age_interleaved() {
    let p = SchedPolicy::default();
    let lanes = [
        lane(P1, 1000, &[1, 2, 3]),
        lane(P1, 1001, &[9]),
        lane(P0, 1002, &[20]),
        lane(P2, 1000, &[4]),
    ];
    // alice (1000) runs 5, bob (1001) none: bob's one task comes first in P1.
    let run = |uid: u32| if uid == 1000 { 5 } else { 0 };
    let o = order(&lanes, &p, 0, |_| 0, run, 100);
    assert_eq!(o, vec![20, 9, 1, 2, 3, 4]);
    // Interleaved when both run nothing: oldest head first.
    let o = order(&lanes, &p, 0, |_| 0, |_| 0, 100);
    assert_eq!(o, vec![20, 1, 9, 2, 3, 4]);
    assert_eq!(order(&lanes, &p, 0, |_| 0, |_| 0, 2), vec![20, 1]);
}

#[test]
fn aging_lifts_a_long_waiting_lane_one_level_per_period() {
    let p = SchedPolicy::default();
    let lanes = [lane(P1, 1000, &[5]), lane(P2, 1001, &[1])];
    // Task 1 (P2) waited one aging period: it competes as P1, and is older.
    let since = |id| if id == 1 { 0 } else { p.aging_ms };
    let o = order(&lanes, &p, p.aging_ms, since, |_| 0, 10);
    assert_eq!(o, vec![1, 5]);
    let o = order(&lanes, &p, p.aging_ms - 1, since, |_| 0, 10);
    assert_eq!(o, vec![5, 1]);
}

#[test]
fn never_fits_names_the_flag_and_the_figures() {
    let why = never_fits(7 * GIB, 8 * GIB, GIB, MIB, Some(64 * GIB), "--min-memory").unwrap();
    assert_eq!(
        why,
        "--min-memory 64 GiB can never be met here: tasks may use at most 7 GiB (8 GiB of RAM less the 1 GiB reserve)"
    );
    assert_eq!(
        never_fits(7 * GIB, 8 * GIB, GIB, 7 * GIB, None, "--memory"),
        None
    );
}

#[test]
fn estimate_and_smoothing() {
    assert_eq!(estimate_start_ms(0, 9, 5, Some(60_000)), Some(120_000));
    assert_eq!(estimate_start_ms(0, 0, 0, Some(60_000)), None);
    assert_eq!(estimate_start_ms(0, 0, 3, None), None);
    assert_eq!(smooth_cpu(None, 50.0, 1000, 2000), 50.0);
    let s = smooth_cpu(Some(0.0), 100.0, 250, 2000);
    assert!(s > 10.0 && s < 12.0, "{s}");
    let s = smooth_cpu(Some(0.0), 100.0, 20_000, 2000);
    assert!(s > 99.0, "{s}");
}

#[test]
fn a_held_task_waits_with_its_reason_and_others_pass() {
    let c = [
        Candidate {
            held: Some("waiting for the usage limit to reset at 14:05".into()),
            ..cand(1, MIB)
        },
        cand(2, MIB),
    ];
    let d = decide_now(&host(8 * GIB), &budget(), &running(0), &c);
    assert_eq!(d.start, Some(2));
    assert_eq!(
        d.blocked,
        [(
            1,
            "waiting for the usage limit to reset at 14:05".to_string()
        )]
    );
    assert_eq!(
        d.hold, None,
        "a held task is not the head waiting for memory"
    );
}

#[test]
fn a_task_of_a_kind_still_being_probed_waits_and_others_pass() {
    let c = [
        Candidate {
            unknown: true,
            probe: Some(7),
            ..cand(1, GIB)
        },
        cand(2, GIB),
    ];
    let d = decide_now(&host(8 * GIB), &budget(), &running(1), &c);
    assert_eq!(d.start, Some(2));
    assert_eq!(
        d.blocked[0],
        (
            1,
            "waiting for task 7, of the same command, to show how much memory it needs".into()
        )
    );
    assert_eq!(d.hold, None, "a probe wait holds no line");
}
