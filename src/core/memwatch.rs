//! Memory thresholds of one task, with hysteresis, and OOM kills.
//!
//! claudine observes rather than kills: the soft limit (`warn_bytes`) only
//! raises [`MemoryChange::HighMemory`]; the hard limit (`max_bytes`, the
//! scope's `MemoryMax`) is enforced by the kernel alone, and the watch
//! raises [`MemoryChange::CriticalMemory`] when the task comes near it
//! (`critical_fraction` of it) and [`MemoryChange::OomKill`] when the
//! scope's `oom_kill` count (`memory.events`) goes up.
//!
//! Each threshold fires once when `memory.current` reaches it and is armed
//! again only after the usage falls below the threshold minus 10% of it, so
//! a task hovering around a threshold does not raise an event per sample.

use super::event_detail::{EventDetail, MemoryDetail, OomDetail};
use super::events::{EventKind, TaskEvent};
use super::task::TaskId;
use super::units::format_bytes;

/// A task's memory limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryPolicy {
    /// Soft limit: warn from here.
    pub warn_bytes: Option<u64>,
    /// Hard limit (`MemoryMax`), enforced by the kernel.
    pub max_bytes: Option<u64>,
    /// Critical from this share of `max_bytes`, in (0, 1]; anything else
    /// counts as 1 (see [`MemoryPolicy::validate`]).
    pub critical_fraction: f64,
    /// Critical from this many bytes, hard limit or not (`memory_critical`);
    /// the lower of the two counts.
    pub critical_at: Option<u64>,
}

impl Default for MemoryPolicy {
    fn default() -> Self {
        MemoryPolicy {
            warn_bytes: None,
            max_bytes: None,
            critical_fraction: 0.9,
            critical_at: None,
        }
    }
}

impl MemoryPolicy {
    /// Refuse a soft limit over the hard one and a fraction outside (0, 1].
    pub fn validate(&self) -> Result<(), String> {
        check_limits(self.warn_bytes, self.max_bytes)?;
        let f = self.critical_fraction;
        if !(f > 0.0 && f <= 1.0) {
            return Err(format!(
                "the critical memory fraction must be more than 0 and at most 1, got {f}"
            ));
        }
        Ok(())
    }

    /// Where critical memory begins: `critical_fraction × max_bytes`, or
    /// `critical_at` if lower (or if there is no hard limit).
    pub fn critical_bytes(&self) -> Option<u64> {
        let f = self.critical_fraction;
        let f = if f > 0.0 && f <= 1.0 { f } else { 1.0 };
        let near_max = self
            .max_bytes
            .map(|max| ((max as f64 * f).round() as u64).clamp(1, max.max(1)));
        match (near_max, self.critical_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Refuse a soft memory limit above the hard one (equal is allowed).
pub fn check_limits(warn_bytes: Option<u64>, max_bytes: Option<u64>) -> Result<(), String> {
    match (warn_bytes, max_bytes) {
        (Some(warn), Some(max)) if warn > max => {
            let (mut w, mut m) = (format_bytes(warn), format_bytes(max));
            if w == m {
                (w, m) = (format!("{warn} bytes"), format!("{max} bytes"));
            }
            Err(format!(
                "the memory warning level {w} is above the memory limit {m}: \
                 the soft limit must be at most the hard one"
            ))
        }
        _ => Ok(()),
    }
}

/// The reason of a task killed by the OOM killer: `killed by the kernel:
/// memory limit 4 GiB reached`, or `killed by the kernel: out of memory`
/// when the task had no limit of its own (the host or slice ran out).
pub fn kill_reason(max_bytes: Option<u64>) -> String {
    match max_bytes {
        Some(max) => format!(
            "killed by the kernel: memory limit {} reached",
            format_bytes(max)
        ),
        None => "killed by the kernel: out of memory".into(),
    }
}

/// What changed at a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryChange {
    /// `current_bytes` reached the soft limit.
    HighMemory {
        current_bytes: u64,
        warn_bytes: u64,
        max_bytes: Option<u64>,
        peak_bytes: u64,
    },
    /// `current_bytes` reached `critical_bytes`: near the hard limit, or
    /// the configured critical level (`memory_critical`).
    CriticalMemory {
        current_bytes: u64,
        critical_bytes: u64,
        max_bytes: Option<u64>,
        peak_bytes: u64,
    },
    /// The OOM killer struck: the scope's `oom_kill` count is now `oom_kills`.
    OomKill {
        oom_kills: u64,
        max_bytes: Option<u64>,
    },
}

impl MemoryChange {
    /// The event to record and send.
    pub fn event(&self, task: TaskId, attempt: u32, at_ms: i64) -> TaskEvent {
        let (kind, detail) = match *self {
            MemoryChange::HighMemory {
                current_bytes,
                warn_bytes,
                max_bytes,
                peak_bytes,
            } => (
                EventKind::HighMemory,
                EventDetail::Memory(MemoryDetail {
                    current_bytes,
                    threshold_bytes: warn_bytes,
                    limit_bytes: max_bytes,
                    peak_bytes,
                }),
            ),
            MemoryChange::CriticalMemory {
                current_bytes,
                critical_bytes,
                max_bytes,
                peak_bytes,
            } => (
                EventKind::CriticalMemory,
                EventDetail::Memory(MemoryDetail {
                    current_bytes,
                    threshold_bytes: critical_bytes,
                    limit_bytes: max_bytes,
                    peak_bytes,
                }),
            ),
            MemoryChange::OomKill {
                oom_kills,
                max_bytes,
            } => (
                EventKind::OomKill,
                EventDetail::Oom(OomDetail {
                    oom_kills,
                    limit_bytes: max_bytes,
                }),
            ),
        };
        TaskEvent::new(kind, task, Some(attempt), at_ms, detail)
    }
}

/// The memory state of one attempt (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct MemWatch {
    policy: MemoryPolicy,
    /// Since when the soft limit has been reached (not re-armed since).
    high_since_ms: Option<i64>,
    critical_since_ms: Option<i64>,
    oom_kills_seen: u64,
}

impl MemWatch {
    /// A watch for a new attempt (its scope has no OOM kill yet).
    pub fn new(policy: MemoryPolicy) -> MemWatch {
        MemWatch::resume(policy, 0)
    }

    /// A watch for an attempt that was watched before (a daemon restart):
    /// OOM kills up to `oom_kills_seen` were already reported. A usage still
    /// over a threshold is reported once more.
    pub fn resume(policy: MemoryPolicy, oom_kills_seen: u64) -> MemWatch {
        MemWatch {
            policy,
            high_since_ms: None,
            critical_since_ms: None,
            oom_kills_seen,
        }
    }

    pub fn policy(&self) -> &MemoryPolicy {
        &self.policy
    }

    /// Feed one sample (`memory.current`, `memory.peak`, the `oom_kill`
    /// count of `memory.events`); returns the changes, in that order.
    pub fn observe(
        &mut self,
        now_ms: i64,
        current_bytes: u64,
        peak_bytes: u64,
        oom_kill_count: u64,
    ) -> Vec<MemoryChange> {
        let mut changes = Vec::new();
        let max_bytes = self.policy.max_bytes;
        if let Some(warn_bytes) = self.policy.warn_bytes {
            if crossed(&mut self.high_since_ms, now_ms, current_bytes, warn_bytes) {
                changes.push(MemoryChange::HighMemory {
                    current_bytes,
                    warn_bytes,
                    max_bytes,
                    peak_bytes,
                });
            }
        }
        if let Some(critical_bytes) = self.policy.critical_bytes() {
            if crossed(
                &mut self.critical_since_ms,
                now_ms,
                current_bytes,
                critical_bytes,
            ) {
                changes.push(MemoryChange::CriticalMemory {
                    current_bytes,
                    critical_bytes,
                    max_bytes,
                    peak_bytes,
                });
            }
        }
        if oom_kill_count > self.oom_kills_seen {
            changes.push(MemoryChange::OomKill {
                oom_kills: oom_kill_count,
                max_bytes,
            });
        }
        // A count that went down belongs to a new cgroup: follow it.
        self.oom_kills_seen = oom_kill_count;
        changes
    }

    /// Take up thresholds already reported (by an earlier daemon) at these
    /// times: they fire again only once re-armed.
    pub fn resume_reported(&mut self, high_since_ms: Option<i64>, critical_since_ms: Option<i64>) {
        self.high_since_ms = self.high_since_ms.or(high_since_ms);
        self.critical_since_ms = self.critical_since_ms.or(critical_since_ms);
    }

    /// Since when the usage has been over the soft limit (not re-armed).
    pub fn high_since_ms(&self) -> Option<i64> {
        self.high_since_ms
    }

    /// Since when the usage has been near the hard limit (not re-armed).
    pub fn critical_since_ms(&self) -> Option<i64> {
        self.critical_since_ms
    }

    /// The OOM kills counted so far.
    pub fn oom_kills(&self) -> u64 {
        self.oom_kills_seen
    }
}

/// One threshold with hysteresis: true when `current` reaches `threshold`
/// while armed; re-armed below `threshold` minus 10% of it.
fn crossed(since: &mut Option<i64>, now_ms: i64, current: u64, threshold: u64) -> bool {
    match since {
        None if current >= threshold => {
            *since = Some(now_ms);
            true
        }
        Some(_) if current < threshold - threshold / 10 => {
            *since = None;
            false
        }
        _ => false,
    }
}

#[cfg(test)]
#[path = "memwatch_tests.rs"]
mod tests;
