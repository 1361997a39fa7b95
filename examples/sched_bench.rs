//! The cost of one admission decision with a deep queue, natively.
//!
//! `cargo run --release --example sched_bench -- [QUEUED] [USERS] [RUNNING]`
//! (defaults 10000, 50, 100): a ready queue of QUEUED tasks over USERS
//! owners and three priorities, RUNNING tasks holding reservations, learned
//! peaks for every kind; then, as the daemon does per decision, the lanes,
//! `order()`, each candidate's expected memory (learned peak lookup) and
//! `decide()`. Prints the median and p99 over 2000 decisions, and the cost
//! of push/remove on that queue.

use claudine::core::learn::{kind_of, Learned};
use claudine::core::queue::ReadyQueue;
use claudine::core::reserve::{default_footprint, Ledger, ReservePolicy};
use claudine::core::scheduler::{decide, order, Budget, Candidate, HostView, Load, SchedPolicy};
use claudine::core::Priority;
use std::time::Instant;

const GIB: u64 = 1 << 30;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers: QUEUED USERS RUNNING"))
        .collect();
    let queued = args.first().copied().unwrap_or(10_000);
    let users = args.get(1).copied().unwrap_or(50).max(1);
    let running = args.get(2).copied().unwrap_or(100);
    let prio = [Priority::P0, Priority::P1, Priority::P2];
    let argv: Vec<Vec<String>> = (0..20)
        .map(|k| vec![format!("/usr/bin/tool{k}"), "--flag".into()])
        .collect();
    let owner_of = |id: u64| 1000 + (id as u32 % users as u32);
    let argv_of = |id: u64| &argv[(id % 20) as usize];
    let mut q = ReadyQueue::new();
    for id in 1..=queued as i64 {
        q.push((prio[id as usize % 3], owner_of(id as u64), id));
    }
    let mut learned = Learned::default();
    for u in 0..users as u32 {
        for a in &argv {
            for p in 0..5 {
                learned.record(
                    kind_of(1000 + u, "/home/u/src", a),
                    Some((200 + p) << 20),
                    Some(60_000),
                );
            }
        }
    }
    let mut ledger = Ledger::new(ReservePolicy::default());
    for r in 0..running as i64 {
        ledger.reserve(1_000_000 + r, GIB, 0);
        ledger.observe(1_000_000 + r, GIB / 3, 1000);
    }
    let policy = SchedPolicy {
        hard_max: 100_000,
        ..SchedPolicy::default()
    };
    let host = HostView {
        cpu_busy_percent: 30.0,
        mem_available: 2 * GIB, // tight: most candidates are passed over
        memory_pressure: Some(0.0),
        window_start_ms: 0,
        taken_ms: 10_000,
    };
    let ceiling = 63 * GIB;
    let mut times = Vec::with_capacity(2000);
    let mut started = 0;
    for _ in 0..2000 {
        let t0 = Instant::now();
        let lanes = q.lanes(8);
        let ids = order(&lanes, &policy, 10_000, |_| 0, |uid| (uid % 3) as usize, 64);
        let candidates: Vec<Candidate> = ids
            .iter()
            .map(|&id| {
                let kind = kind_of(owner_of(id as u64), "/home/u/src", argv_of(id as u64));
                let learnt = learned.peak(&kind);
                Candidate {
                    id,
                    owner: owner_of(id as u64),
                    expected: learnt.unwrap_or_else(|| default_footprint(ceiling)),
                    min_memory: None,
                    unknown: learnt.is_none(),
                    probe: None,
                    held: None,
                }
            })
            .collect();
        let budget = Budget {
            ceiling,
            slice_usage: Some(running as u64 * GIB / 3),
            outstanding: ledger.outstanding(),
        };
        let load = Load {
            active: running,
            starting: 0,
            last_start_ms: None,
        };
        let d = decide(
            &policy,
            Some(&host),
            &budget,
            &load,
            &candidates,
            |uid| (uid % 3) as usize,
            None,
            10_000,
        );
        times.push(t0.elapsed().as_nanos() as u64);
        if d.start.is_some() {
            started += 1;
        }
    }
    times.sort_unstable();
    let us = |ns: u64| ns as f64 / 1000.0;
    println!(
        "one admission decision, {queued} queued over {users} users x 3 priorities, {running} running: median {:.1} us, p99 {:.1} us ({} of 2000 decisions started a task)",
        us(times[times.len() / 2]),
        us(times[times.len() * 99 / 100]),
        started
    );
    let t0 = Instant::now();
    for id in 1..=1000i64 {
        q.remove((prio[id as usize % 3], owner_of(id as u64), id));
        q.push((prio[id as usize % 3], owner_of(id as u64), id));
    }
    println!(
        "queue remove + push at {queued} queued: {:.2} us",
        us(t0.elapsed().as_nanos() as u64 / 1000)
    );
}
