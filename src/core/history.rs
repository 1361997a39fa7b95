//! Metrics history of one task, bounded whatever its run time.
//!
//! Two tiers: *fine* points (at most one per `fine_interval_ms`) for the
//! last `fine_window_ms`, then *coarse* points (one per `coarse_interval_ms`,
//! at most `max_coarse_points`, the oldest dropped first). Points leaving
//! the fine window are folded into the coarse bucket of their time. Folding
//! keeps what a reader needs from a bucket:
//!
//! | field            | kind                 | folded as        |
//! |------------------|----------------------|------------------|
//! | `memory_bytes`   | gauge                | max in bucket    |
//! | `pids`           | gauge                | max in bucket    |
//! | `cpu_usage_usec` | counter (`cpu.stat`) | last value       |
//! | `output_bytes`   | counter (log bytes)  | last value       |
//!
//! and a folded point carries the time of its last sample, so counters stay
//! exact at their time and [`rates`] between any two points are right
//! averages. Samples closer than `fine_interval_ms` merge the same way (a
//! sampler's jitter never grows the history). The size is at most
//! [`History::max_points`]; with the defaults (1 s for 10 min, then 1 min
//! for 7 days) that is 10 682 points of 40 bytes.
//!
//! Times must not go back: a sample older than the newest point is dropped
//! ([`History::push`] says so). Buckets are aligned on multiples of the
//! interval since the epoch, so a history rebuilt from its points
//! ([`History::restore`]) folds the same way.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// One reading of a task's scope and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Sample {
    pub at_ms: i64,
    /// `memory.current`.
    pub memory_bytes: u64,
    /// `usage_usec` of `cpu.stat` (a counter).
    pub cpu_usage_usec: u64,
    /// `pids.current`.
    pub pids: u64,
    /// Bytes the task wrote to its output so far (a counter).
    pub output_bytes: u64,
}

impl Sample {
    /// Fold a later sample into this one (see the module table).
    fn absorb(&mut self, later: &Sample) {
        self.at_ms = later.at_ms;
        self.memory_bytes = self.memory_bytes.max(later.memory_bytes);
        self.pids = self.pids.max(later.pids);
        self.cpu_usage_usec = later.cpu_usage_usec;
        self.output_bytes = later.output_bytes;
    }
}

/// The shape of the tiers (intervals below 1 ms count as 1 ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryPolicy {
    pub fine_interval_ms: i64,
    pub fine_window_ms: i64,
    pub coarse_interval_ms: i64,
    pub max_coarse_points: usize,
}

impl Default for HistoryPolicy {
    /// 1 s for the last 10 minutes, 1 min for 7 days before that.
    fn default() -> Self {
        HistoryPolicy {
            fine_interval_ms: 1000,
            fine_window_ms: 600_000,
            coarse_interval_ms: 60_000,
            max_coarse_points: 7 * 24 * 60,
        }
    }
}

/// The history of one task (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    policy: HistoryPolicy,
    coarse: VecDeque<Sample>,
    fine: VecDeque<Sample>,
}

impl History {
    pub fn new(policy: HistoryPolicy) -> History {
        let policy = HistoryPolicy {
            fine_interval_ms: policy.fine_interval_ms.max(1),
            fine_window_ms: policy.fine_window_ms.max(0),
            coarse_interval_ms: policy.coarse_interval_ms.max(1),
            ..policy
        };
        History {
            policy,
            coarse: VecDeque::new(),
            fine: VecDeque::new(),
        }
    }

    /// A history rebuilt from stored points, oldest first (what
    /// [`History::points`] gave).
    pub fn restore(policy: HistoryPolicy, points: impl IntoIterator<Item = Sample>) -> History {
        let mut history = History::new(policy);
        for p in points {
            history.push(p);
        }
        history
    }

    pub fn policy(&self) -> &HistoryPolicy {
        &self.policy
    }

    /// Add a sample. Returns false, and keeps nothing, if it is older than
    /// the newest point (a clock that went back).
    pub fn push(&mut self, sample: Sample) -> bool {
        if self.latest().is_some_and(|last| sample.at_ms < last.at_ms) {
            return false;
        }
        let fine = self.policy.fine_interval_ms;
        match self.fine.back_mut() {
            Some(last) if same_bucket(last.at_ms, sample.at_ms, fine) => last.absorb(&sample),
            _ => self.fine.push_back(sample),
        }
        let horizon = sample.at_ms.saturating_sub(self.policy.fine_window_ms);
        while self.fine.front().is_some_and(|p| p.at_ms < horizon) {
            let old = self.fine.pop_front().expect("front exists");
            self.fold(old);
        }
        true
    }

    fn fold(&mut self, point: Sample) {
        let coarse = self.policy.coarse_interval_ms;
        match self.coarse.back_mut() {
            Some(last) if same_bucket(last.at_ms, point.at_ms, coarse) => last.absorb(&point),
            _ => self.coarse.push_back(point),
        }
        while self.coarse.len() > self.policy.max_coarse_points {
            self.coarse.pop_front();
        }
    }

    /// All points, oldest first, times strictly increasing.
    pub fn points(&self) -> Vec<Sample> {
        self.coarse
            .iter()
            .chain(self.fine.iter())
            .copied()
            .collect()
    }

    /// The newest point.
    pub fn latest(&self) -> Option<&Sample> {
        self.fine.back().or(self.coarse.back())
    }

    pub fn len(&self) -> usize {
        self.coarse.len() + self.fine.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most points this history can hold.
    pub fn max_points(&self) -> usize {
        let p = &self.policy;
        let fine = p.fine_window_ms / p.fine_interval_ms + 2;
        usize::try_from(fine).unwrap_or(usize::MAX) + p.max_coarse_points
    }
}

fn same_bucket(a_ms: i64, b_ms: i64, interval_ms: i64) -> bool {
    a_ms.div_euclid(interval_ms) == b_ms.div_euclid(interval_ms)
}

/// CPU share (100 = one core) of `usage_delta_usec` of CPU time over
/// `elapsed_ms`; `None` when no time passed.
pub fn cpu_percent(usage_delta_usec: u64, elapsed_ms: i64) -> Option<f64> {
    (elapsed_ms > 0).then(|| usage_delta_usec as f64 / (elapsed_ms as f64 * 10.0))
}

/// What happened between two consecutive points.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub from_ms: i64,
    pub to_ms: i64,
    /// CPU share over the interval, 100 = one core.
    pub cpu_percent: f64,
    pub output_bytes_per_sec: f64,
}

/// The rates between consecutive points (one fewer than the points; pairs
/// whose time does not advance are skipped). A counter that went down was
/// reset (a new attempt): its new value counts as the increase.
pub fn rates(points: &[Sample]) -> Vec<Rate> {
    let increase = |from: u64, to: u64| if to >= from { to - from } else { to };
    points
        .windows(2)
        .filter_map(|w| {
            let (a, b) = (&w[0], &w[1]);
            let elapsed = b.at_ms - a.at_ms;
            let cpu = cpu_percent(increase(a.cpu_usage_usec, b.cpu_usage_usec), elapsed)?;
            let output = increase(a.output_bytes, b.output_bytes) as f64 * 1000.0 / elapsed as f64;
            Some(Rate {
                from_ms: a.at_ms,
                to_ms: b.at_ms,
                cpu_percent: cpu,
                output_bytes_per_sec: output,
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
