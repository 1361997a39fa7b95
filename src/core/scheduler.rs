//! The scheduler: which queued task starts next, or why none does.
//!
//! Two pure steps, both on the facts the daemon gathers (time included):
//!
//! - [`order`] turns the queue's lanes (one per priority and owner) into the
//!   candidates to consider, best first: by priority after aging (a task
//!   that waited `aging_ms` counts one priority higher, so lower priorities
//!   still progress), then the owner with the fewest running tasks first
//!   (fair share: one user's 500 tasks do not hold another user's one), then
//!   the oldest; lanes of one level are interleaved, so the second task of a
//!   user comes after every other user's first.
//! - [`decide`] walks the candidates. Host-wide gates first (the hard
//!   maximum, launches in flight, a fresh host sample after the last start,
//!   CPU busy, memory pressure), then per candidate its owner's quota and
//!   memory: MemAvailable less what started tasks still reserve
//!   ([`super::reserve::Ledger`]) must hold the task's expected footprint
//!   plus the host's reserve, and the tasks' slice must stay under its
//!   ceiling. The first candidate that fits starts; one that does not is
//!   passed over with its reason (no head-of-line blocking), but when the
//!   first candidate has waited for memory for `head_hold_ms`, nothing behind
//!   it starts any more until it does (it is not starved by smaller tasks).
//!
//! When none of our tasks runs, nothing we could wait for would free memory:
//! a candidate that fits under the slice ceiling then starts on the host's
//! reserve alone (the slice's `MemoryMax` still bounds it), so the queue
//! always progresses. One that can never fit is refused at submit
//! ([`never_fits`]).

use super::queue::Lane;
use super::task::{Priority, TaskId};
use super::units::format_bytes;

#[derive(Debug, Clone, PartialEq)]
pub struct SchedPolicy {
    /// Start only while the host's CPU (smoothed) is less busy than this.
    pub cpu_max_percent: f64,
    /// MemAvailable kept for the host, never promised to tasks.
    pub reserve_bytes: u64,
    /// Start only while the host's memory pressure (PSI `some`, avg10) is
    /// under this percentage.
    pub memory_pressure_max: f64,
    /// Never more tasks at once than this.
    pub hard_max: usize,
    /// Above this many at once, warn (an event), nothing else.
    pub soft_max: usize,
    pub max_starting: usize,
    /// After a start, the next decision needs a host sample measured over at
    /// least this long, beginning after that start.
    pub settle_ms: i64,
    /// Most running tasks per user (`None`: no quota).
    pub max_running_per_user: Option<usize>,
    /// A task waiting this long counts one priority higher (0: no aging).
    pub aging_ms: i64,
    /// How long smaller tasks may pass a first candidate that waits for memory.
    pub head_hold_ms: i64,
}

impl Default for SchedPolicy {
    fn default() -> Self {
        SchedPolicy {
            cpu_max_percent: 80.0,
            reserve_bytes: 1 << 30,
            memory_pressure_max: 10.0,
            hard_max: 50,
            soft_max: 10,
            max_starting: 8,
            settle_ms: 250,
            max_running_per_user: None,
            aging_ms: 30 * 60_000,
            head_hold_ms: 5 * 60_000,
        }
    }
}

/// The host as the daemon last read it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostView {
    /// Smoothed CPU busy share, 0..=100.
    pub cpu_busy_percent: f64,
    pub mem_available: u64,
    /// Memory pressure, PSI `some` avg10 in percent; `None` without PSI.
    pub memory_pressure: Option<f64>,
    /// When the last reading's CPU window began, and when it was taken.
    pub window_start_ms: i64,
    pub taken_ms: i64,
}

/// The memory the tasks may have, and what they hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The tasks' slice ceiling (its `MemoryMax`: RAM less the reserve).
    pub ceiling: u64,
    /// The slice's `memory.current`, if read.
    pub slice_usage: Option<u64>,
    /// Reserved by started tasks beyond what they use yet.
    pub outstanding: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Load {
    /// Tasks Starting or Running.
    pub active: usize,
    /// Tasks still Starting.
    pub starting: usize,
    /// When the last task was started, if one started since is still active.
    pub last_start_ms: Option<i64>,
}

/// A queued task as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: TaskId,
    pub owner: u32,
    /// What it is expected to use (request, learned, or default).
    pub expected: u64,
    /// `--min-memory`: never start with less free than this.
    pub min_memory: Option<u64>,
    /// `expected` is the default: nothing is known of its kind.
    pub unknown: bool,
    /// Its expected footprint is the default, and a task of its kind that
    /// started on the default is still growing
    /// ([`crate::core::reserve::Ledger::probing`]): it waits for that one to
    /// show its size: a command never seen starts at most one task per
    /// 5 s while the last one grows.
    pub probe: Option<TaskId>,
    /// Held by a rule outside the scheduler (the usage governor of Claude
    /// tasks), in words: it waits, and the candidates after it pass.
    pub held: Option<String>,
}

/// The first candidate has waited for memory since `since_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    pub id: TaskId,
    pub since_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    pub start: Option<TaskId>,
    /// Take a host sample at or after this time and decide again.
    pub measure_at: Option<i64>,
    /// Why no task starts (or no more after `start`), for every task.
    pub global: Option<String>,
    /// Candidates passed over, each with its reason.
    pub blocked: Vec<(TaskId, String)>,
    pub hold: Option<Hold>,
    /// This start takes the running count above the soft maximum.
    pub crosses_soft_max: bool,
}

fn level(p: Priority) -> i64 {
    match p {
        Priority::P0 => 0,
        Priority::P1 => 1,
        Priority::P2 => 2,
    }
}

/// The candidates in the order they should be considered, at most `max`.
/// `since(id)` is when a task joined the queue; `running(uid)` how many
/// tasks the owner runs.
pub fn order(
    lanes: &[Lane],
    policy: &SchedPolicy,
    now_ms: i64,
    since: impl Fn(TaskId) -> i64,
    running: impl Fn(u32) -> usize,
    max: usize,
) -> Vec<TaskId> {
    let aged = |lane: &Lane| {
        let base = level(lane.priority);
        match lane.ids.first() {
            Some(&head) if policy.aging_ms > 0 => {
                let waited = (now_ms - since(head)).max(0);
                (base - waited / policy.aging_ms).max(0)
            }
            _ => base,
        }
    };
    let mut keyed: Vec<(i64, usize, TaskId, &Lane)> = lanes
        .iter()
        .filter(|l| !l.ids.is_empty())
        .map(|l| (aged(l), running(l.owner), l.ids[0], l))
        .collect();
    keyed.sort_by_key(|&(lvl, run, head, _)| (lvl, run, head));
    let mut out = Vec::new();
    let mut i = 0;
    while i < keyed.len() && out.len() < max {
        // One level's lanes, interleaved: every first task, then every second...
        let lvl = keyed[i].0;
        let group: Vec<&Lane> = keyed[i..]
            .iter()
            .take_while(|k| k.0 == lvl)
            .map(|k| k.3)
            .collect();
        i += group.len();
        let depth = group.iter().map(|l| l.ids.len()).max().unwrap_or(0);
        'depth: for d in 0..depth {
            for lane in &group {
                if let Some(&id) = lane.ids.get(d) {
                    out.push(id);
                    if out.len() >= max {
                        break 'depth;
                    }
                }
            }
        }
    }
    out
}

/// Whether a task could never start here, and why (for the refusal at submit).
pub fn never_fits(
    ceiling: u64,
    mem_total: u64,
    reserve: u64,
    expected: u64,
    min_memory: Option<u64>,
    flag: &str,
) -> Option<String> {
    let need = min_memory.unwrap_or(0).max(expected);
    (need > ceiling).then(|| {
        format!(
            "{flag} {} can never be met here: tasks may use at most {} ({} of RAM less the {} reserve)",
            format_bytes(need),
            format_bytes(ceiling),
            format_bytes(mem_total),
            format_bytes(reserve)
        )
    })
}

/// Decide what starts now. `candidates` come from [`order`]; `running(uid)`
/// counts an owner's running tasks; `hold` is the previous decision's.
#[allow(clippy::too_many_arguments)]
pub fn decide(
    policy: &SchedPolicy,
    host: Option<&HostView>,
    budget: &Budget,
    load: &Load,
    candidates: &[Candidate],
    running: impl Fn(u32) -> usize,
    hold: Option<Hold>,
    now_ms: i64,
) -> Decision {
    let wait = |why: String| Decision {
        global: Some(why),
        hold,
        ..Decision::default()
    };
    if candidates.is_empty() {
        return Decision::default();
    }
    if load.active >= policy.hard_max {
        return wait(format!(
            "at the hard maximum: {} of {} running",
            load.active, policy.hard_max
        ));
    }
    if load.starting >= policy.max_starting {
        return wait(format!("{} launches in progress", load.starting));
    }
    let Some(host) = host else {
        return wait("no host sample yet".into());
    };
    if let Some(t) = load.last_start_ms {
        let fresh = host.window_start_ms >= t && host.taken_ms >= t + policy.settle_ms;
        if !fresh {
            return Decision {
                measure_at: Some(host.taken_ms.max(t) + policy.settle_ms),
                global: Some("measuring the host after the last start".into()),
                hold,
                ..Decision::default()
            };
        }
    }
    if host.cpu_busy_percent >= policy.cpu_max_percent {
        return wait(format!(
            "CPU {:.0}% busy (above {:.0}%)",
            host.cpu_busy_percent, policy.cpu_max_percent
        ));
    }
    if let Some(p) = host
        .memory_pressure
        .filter(|p| *p >= policy.memory_pressure_max)
    {
        return wait(format!(
            "memory pressure {p:.0}% (above {:.0}%)",
            policy.memory_pressure_max
        ));
    }
    let mut decision = Decision {
        hold,
        ..Decision::default()
    };
    for (i, c) in candidates.iter().enumerate() {
        if let Some(q) = policy.max_running_per_user {
            let n = running(c.owner);
            if n >= q {
                decision
                    .blocked
                    .push((c.id, format!("held: user quota ({n} of {q} running)")));
                continue;
            }
        }
        if let Some(why) = &c.held {
            decision.blocked.push((c.id, why.clone()));
            continue;
        }
        if let Some(p) = c.probe {
            decision.blocked.push((
                c.id,
                format!(
                    "waiting for task {p}, of the same command, to show how much memory it needs"
                ),
            ));
            continue;
        }
        match memory(policy, host, budget, load, c) {
            None => {
                if i == 0 {
                    decision.hold = None;
                }
                decision.start = Some(c.id);
                decision.crosses_soft_max = load.active == policy.soft_max;
                return decision;
            }
            Some(why) => {
                decision.blocked.push((c.id, why));
                if i == 0 {
                    let h = match hold {
                        Some(h) if h.id == c.id => h,
                        _ => Hold {
                            id: c.id,
                            since_ms: now_ms,
                        },
                    };
                    decision.hold = Some(h);
                    if now_ms - h.since_ms >= policy.head_hold_ms {
                        decision.global = Some(format!(
                            "behind task {}, which waits for memory (since {} s; nothing passes it now)",
                            c.id,
                            (now_ms - h.since_ms) / 1000
                        ));
                        return decision;
                    }
                }
            }
        }
    }
    decision
}

/// Why `c` cannot start for memory, or `None` if it can.
fn memory(
    policy: &SchedPolicy,
    host: &HostView,
    budget: &Budget,
    load: &Load,
    c: &Candidate,
) -> Option<String> {
    let reserve = policy.reserve_bytes;
    let free = host.mem_available.saturating_sub(budget.outstanding);
    if let Some(min) = c.min_memory {
        if free < min.saturating_add(reserve) {
            return Some(format!(
                "waiting for memory: {} free, needs at least {} (--min-memory) + {} reserve",
                format_bytes(free),
                format_bytes(min),
                format_bytes(reserve)
            ));
        }
    }
    let in_slice = budget
        .slice_usage
        .unwrap_or(0)
        .saturating_add(budget.outstanding);
    if load.active == 0 {
        // Nothing of ours runs: only the slice ceiling and the reserve bound it.
        if c.expected <= budget.ceiling && host.mem_available > reserve {
            return None;
        }
    } else if free >= c.expected.saturating_add(reserve)
        && in_slice.saturating_add(c.expected) <= budget.ceiling
    {
        return None;
    }
    if free < c.expected.saturating_add(reserve) || load.active == 0 {
        return Some(format!(
            "waiting for memory: {} free, needs {} + {} reserve",
            format_bytes(free),
            format_bytes(c.expected),
            format_bytes(reserve)
        ));
    }
    Some(format!(
        "waiting for memory: the tasks hold {} of their {} ceiling, needs {}",
        format_bytes(in_slice),
        format_bytes(budget.ceiling),
        format_bytes(c.expected)
    ))
}

/// When a task with `ahead` tasks before it may start: slots free at
/// `active / mean_run_ms`, so after about `(ahead + 1) × mean / active`.
/// `None` when nothing runs or nothing is known of run times.
pub fn estimate_start_ms(
    now_ms: i64,
    ahead: usize,
    active: usize,
    mean_run_ms: Option<i64>,
) -> Option<i64> {
    let mean = mean_run_ms?;
    if active == 0 {
        return None;
    }
    Some(now_ms + (ahead as i64 + 1) * mean / active as i64)
}

/// Smooth the CPU busy share: an exponential moving average with time
/// constant `tau_ms`, weighted by the sample's window (a short window after
/// a start counts for little, a spike does not stop admission alone).
pub fn smooth_cpu(previous: Option<f64>, sample: f64, window_ms: i64, tau_ms: i64) -> f64 {
    match previous {
        None => sample,
        Some(prev) => {
            let w = 1.0 - (-(window_ms.max(0) as f64) / tau_ms.max(1) as f64).exp();
            prev + w * (sample - prev)
        }
    }
}

#[cfg(test)]
#[path = "scheduler_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "scheduler_sim_tests.rs"]
mod sim_tests;
