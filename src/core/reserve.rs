//! Memory reservations for admission (used by `scheduler`).
//!
//! A task that has just started uses almost nothing, yet will grow to its
//! working set (Claude Code: 1–4 GiB) within seconds to minutes. Admission on
//! MemAvailable alone would start a whole burst before any of it allocates.
//! So each started task holds an *expected footprint* in a [`Ledger`] until
//! its real usage has been seen and has settled; admission
//! (`scheduler::decide`) counts what is still reserved together with real
//! usage (MemAvailable and the slice's `memory.current` already hold the
//! latter).
//!
//! The expected footprint ([`expected_footprint`]) is the task's request
//! (`--memory`), else what finished tasks of the same kind (command, user,
//! directory) peaked at ([`learned_peak`]), else [`default_footprint`].
//!
//! The ledger is only as good as the estimates: with estimates k× too low a
//! burst can pass the room by up to k× before any task settles (see
//! `scheduler_sim_tests.rs`); the slice budget and the tasks' kernel limits
//! handle that case, an outgrown reservation doubles, and learned peaks
//! correct the estimate.

use super::task::TaskId;
use std::collections::BTreeMap;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// The longest a task of an unknown kind holds the others of its kind: a
/// command never seen starts at most one task per 5 s while the last one
/// still grows (Buck2: one action per 3 s while uncertain). Long enough
/// for a fast grower to pass the default (a 2 GiB host's 188 MiB at
/// 50 MiB/s), short enough that a slow one costs a burst little.
pub const PROBE_MAX_MS: i64 = 5_000;
/// A task of an unknown kind whose usage has not grown for this long has
/// shown its size, for now.
pub const PROBE_QUIET_MS: i64 = 2_000;

/// The footprint of a task nothing is known about: a fifth of the memory
/// ceiling (so a burst on a small host still runs five at once), at most
/// 1 GiB (a typical Claude Code session), at least 64 MiB.
pub fn default_footprint(ceiling_bytes: u64) -> u64 {
    (ceiling_bytes / 5).clamp(64 * MIB, GIB)
}

/// Where an expected footprint comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The task's `--memory`.
    Request,
    /// What ended tasks of the same kind peaked at.
    Learned,
    /// A task of the same kind that is running now outgrew the default.
    Running,
    Default,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Request => "request",
            Source::Learned => "learned",
            Source::Running => "running",
            Source::Default => "default",
        }
    }
}

/// What a task is expected to use: the higher of its request and what its
/// kind was learned to use; with neither, the default, or more when a task
/// of the same kind is running and has outgrown its reservation
/// (`running`: [`Ledger::evidence`]). A burst of one unknown command thus
/// stops starting on the default as soon as the first of it is seen to
/// need more; the running evidence only ever raises the default.
pub fn expected_footprint(
    requested: Option<u64>,
    learned: Option<u64>,
    running: Option<u64>,
    ceiling_bytes: u64,
) -> (u64, Source) {
    match (requested, learned) {
        (Some(r), Some(l)) if l > r => (l, Source::Learned),
        (Some(r), _) => (r, Source::Request),
        (None, Some(l)) => (l, Source::Learned),
        (None, None) => {
            let d = default_footprint(ceiling_bytes);
            match running {
                Some(r) if r > d => (r, Source::Running),
                _ => (d, Source::Default),
            }
        }
    }
}

/// The 90th percentile (nearest rank) of the recent `memory.peak` of
/// finished tasks of the same kind; `None` below 3 samples, where one
/// outlier would be the whole estimate.
pub fn learned_peak(peaks: &[u64]) -> Option<u64> {
    if peaks.len() < 3 {
        return None;
    }
    let mut sorted = peaks.to_vec();
    sorted.sort_unstable();
    // Nearest rank: ceil(0.9 n), 1-based.
    let rank = (9 * sorted.len()).div_ceil(10);
    Some(sorted[rank - 1])
}

/// When a reservation stops holding more than the task's real usage.
///
/// An entry settles when its usage has not grown by more than
/// `settle_growth` (a fraction of the usage at its last growth) for
/// `settle_ms`. A task whose usage reaches its reservation has outgrown
/// its estimate: its reservation doubles to twice its usage (the growth
/// may go on as far again), and the same clock settles it.
///
/// - `settle_growth` = 5%: `memory.current` of a steady process moves by a
///   few percent (page cache, garbage collection); a process still loading
///   grows by more than that between samples. Below 5% we would never
///   settle a live process, much above it we would settle one still growing.
/// - `settle_ms` = 30 s: a Claude Code process reaches its working set and
///   its first API round trip within that time, and the monitor samples
///   many times in it. Longer would let an over-estimate (the 1 GiB default
///   for a 300 MiB task) hold the queue back; shorter would settle tasks
///   during their first pause. Growth after settling is what the reserve,
///   the task's kernel limits and the slice budget are for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReservePolicy {
    pub settle_growth: f64,
    pub settle_ms: i64,
}

impl Default for ReservePolicy {
    fn default() -> Self {
        ReservePolicy {
            settle_growth: 0.05,
            settle_ms: 30_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    /// The expected footprint it started with.
    first: u64,
    /// That footprint was the default: nothing was known of its kind.
    unknown: bool,
    reserved: u64,
    reserved_ms: i64,
    /// The highest usage seen.
    peak: u64,
    /// The usage at the last growth of more than `settle_growth`, and when;
    /// `None` until the first observation (the settle clock starts there).
    grown: Option<(u64, i64)>,
    settled: bool,
}

/// The reservations of the tasks started and not yet finished.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ledger {
    policy: ReservePolicy,
    entries: BTreeMap<TaskId, Entry>,
}

impl Ledger {
    pub fn new(policy: ReservePolicy) -> Ledger {
        Ledger {
            policy,
            entries: BTreeMap::new(),
        }
    }

    /// A task started, expected to use `bytes`. Reserving again replaces the
    /// entry (a new attempt starts from nothing).
    pub fn reserve(&mut self, id: TaskId, bytes: u64, now_ms: i64) {
        self.reserve_as(id, bytes, false, now_ms);
    }

    /// A task started on the default footprint: nothing is known of its
    /// kind; see [`Ledger::probing`].
    pub fn reserve_unknown(&mut self, id: TaskId, bytes: u64, now_ms: i64) {
        self.reserve_as(id, bytes, true, now_ms);
    }

    fn reserve_as(&mut self, id: TaskId, bytes: u64, unknown: bool, now_ms: i64) {
        let entry = Entry {
            first: bytes,
            unknown,
            reserved: bytes,
            reserved_ms: now_ms,
            peak: 0,
            grown: None,
            settled: bytes == 0,
        };
        self.entries.insert(id, entry);
    }

    /// The monitor read the task's `memory.current`. Unknown ids are
    /// ignored; a settled entry stays settled.
    pub fn observe(&mut self, id: TaskId, usage_bytes: u64, now_ms: i64) {
        let policy = self.policy;
        let Some(e) = self.entries.get_mut(&id) else {
            return;
        };
        e.peak = e.peak.max(usage_bytes);
        if e.settled {
            return;
        }
        if e.peak >= e.reserved {
            // Outgrown: the estimate was low and nobody knows where the
            // growth stops; expect as much again (like a growing vector),
            // until the usage holds still for `settle_ms`.
            e.reserved = e.peak.saturating_mul(2);
            e.grown = Some((usage_bytes, now_ms));
            return;
        }
        match e.grown {
            Some((base, since))
                if usage_bytes as f64 <= base as f64 * (1.0 + policy.settle_growth) =>
            {
                if now_ms - since >= policy.settle_ms {
                    e.settled = true;
                }
            }
            _ => e.grown = Some((usage_bytes, now_ms)),
        }
    }

    /// The task is gone: its usage leaves MemAvailable's count by itself.
    pub fn release(&mut self, id: TaskId) {
        self.entries.remove(&id);
    }

    /// What is reserved beyond what is already used: over unsettled
    /// entries, reservation − highest usage seen.
    pub fn outstanding(&self) -> u64 {
        self.entries
            .values()
            .filter(|e| !e.settled)
            .map(|e| e.reserved.saturating_sub(e.peak))
            .sum()
    }

    /// Whether a task started on the default is still showing its size:
    /// grown within the last `quiet_ms` (or not seen yet), not yet past its
    /// reservation (from there [`Ledger::evidence`] speaks for it), not
    /// settled, and started less than [`PROBE_MAX_MS`] ago. Others of its kind
    /// wait for it instead of starting on the default together (Buck2
    /// admits one action at a time while uncertain, for the same reason).
    pub fn probing(&self, id: TaskId, now_ms: i64, quiet_ms: i64) -> bool {
        self.entries.get(&id).is_some_and(|e| {
            e.unknown
                && !e.settled
                && e.peak < e.first
                && now_ms - e.reserved_ms < PROBE_MAX_MS
                && e.grown.is_none_or(|(_, since)| now_ms - since < quiet_ms)
        })
    }

    /// What a running task that outgrew its first reservation says of its
    /// kind: its current reservation (twice its usage) while unsettled, its
    /// peak once settled; `None` if it stayed within its estimate.
    pub fn evidence(&self, id: TaskId) -> Option<u64> {
        let e = self.entries.get(&id)?;
        (e.first > 0 && e.peak >= e.first).then_some(if e.settled { e.peak } else { e.reserved })
    }

    /// Whether the entry holds no more than its real usage; `false` for an
    /// id not in the ledger.
    pub fn is_settled(&self, id: TaskId) -> bool {
        self.entries.get(&id).is_some_and(|e| e.settled)
    }

    /// When the task's reservation was taken.
    pub fn reserved_ms(&self, id: TaskId) -> Option<i64> {
        self.entries.get(&id).map(|e| e.reserved_ms)
    }

    /// How many tasks hold an entry.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
#[path = "reserve_tests.rs"]
mod tests;
