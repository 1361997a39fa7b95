//! Protective mode (monitoring level `protective`), pure: when the host's
//! memory is at risk, freeze the newest, lowest-priority running task so
//! it stops growing, and thaw it when there is room again.
//!
//! The host is **critical** when `MemAvailable` is under
//! `critical_available` or memory pressure (`some` avg10, the host's or
//! the tasks' slice's, whichever is higher) is at or over
//! `critical_pressure`. It is **calm** only when `MemAvailable` is at least
//! `critical_available + margin` and pressure is under half its critical
//! value, for `calm_ms` in a row: between the two nothing happens, so a
//! host hovering at the line does not flap.
//!
//! While critical, one task is frozen per `settle_ms` (freezing frees no
//! memory, it stops growth; the next freeze waits for the previous one to
//! show): the first at once, the next only if `MemAvailable` kept falling
//! (by a quarter of the margin) or pressure is still critical. The victim
//! is never the oldest running task; among the others the lowest priority,
//! then the newest start; a P0 task only when nothing else is left.
//!
//! When calm, one task frozen by protective mode is thawed per `settle_ms`
//! (the highest priority first, then the one frozen longest), and only if
//! its own memory fits again: the room above the calm line holds half of
//! what the task holds (room to grow by half again; what it holds is
//! already counted in `MemAvailable`, frozen or not). A task frozen by a
//! user is left alone.
//!
//! A task frozen longer than `cold_after_ms` that can be relaunched (a
//! Claude Code task, a `--restartable` command) is turned into a **cold**
//! suspension (an open API stream may not survive a long freeze): the
//! daemon checkpoints it, stops its scope and queues it again, to be
//! relaunched when admission finds it room. Nothing else is ever stopped.

use super::task::{Priority, TaskId};
use super::units::format_bytes;

/// The words every protective freeze's reason starts with (stored with the
/// suspension, so a restarted daemon knows which freezes are its own).
pub const PROTECT_REASON: &str = "suspended by protective mode";

/// Thresholds and timings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProtectPolicy {
    pub critical_available: u64,
    /// Percent, `some` avg10.
    pub critical_pressure: f64,
    /// Room above `critical_available` before anything is thawed.
    pub margin: u64,
    pub settle_ms: i64,
    pub calm_ms: i64,
    pub cold_after_ms: i64,
}

impl Default for ProtectPolicy {
    fn default() -> Self {
        ProtectPolicy {
            critical_available: 512 << 20,
            critical_pressure: 40.0,
            margin: 256 << 20,
            settle_ms: 10_000,
            calm_ms: 15_000,
            cold_after_ms: 10 * 60_000,
        }
    }
}

/// One reading of the host.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostMemory {
    pub now_ms: i64,
    pub available: u64,
    /// The highest `some` avg10 of the host and the slice, if known.
    pub pressure: Option<f64>,
}

/// One running (or frozen) attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: TaskId,
    pub priority: Priority,
    /// When the attempt started (ms).
    pub started_ms: i64,
    pub memory: u64,
    pub frozen: Option<Frozen>,
    /// A Claude Code task or a `--restartable` command.
    pub relaunchable: bool,
    /// Being cancelled, or a suspend/resume already in flight.
    pub busy: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frozen {
    pub since_ms: i64,
    /// By protective mode (else by a user: never thawed here).
    pub by_protect: bool,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Freeze { id: TaskId, reason: String },
    Thaw { id: TaskId, reason: String },
    Cold { id: TaskId, reason: String },
}

/// The protector's memory between readings.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Protector {
    critical_since: Option<i64>,
    calm_since: Option<i64>,
    last_action_ms: Option<i64>,
    available_at_freeze: Option<u64>,
}

impl Protector {
    /// Whether the last reading was critical.
    pub fn critical(&self) -> bool {
        self.critical_since.is_some()
    }

    /// When the host became critical (for the figure "pressure to first
    /// freeze").
    pub fn critical_since(&self) -> Option<i64> {
        self.critical_since
    }

    /// The actions for this reading.
    pub fn decide(
        &mut self,
        p: &ProtectPolicy,
        host: HostMemory,
        tasks: &[Candidate],
    ) -> Vec<Action> {
        let now = host.now_ms;
        let mut out: Vec<Action> = tasks
            .iter()
            .filter(|t| t.relaunchable && !t.busy)
            .filter_map(|t| t.frozen.filter(|f| f.by_protect).map(|f| (t, f)))
            .filter(|(_, f)| now - f.since_ms >= p.cold_after_ms)
            .map(|(t, f)| Action::Cold {
                id: t.id,
                reason: format!(
                    "frozen by protective mode for {}: stopped, to be relaunched from its checkpoint when memory allows",
                    super::units::format_duration_ms(now - f.since_ms)
                ),
            })
            .collect();
        let pressure = host.pressure.unwrap_or(0.0);
        let critical = host.available < p.critical_available || pressure >= p.critical_pressure;
        let calm = host.available >= p.critical_available.saturating_add(p.margin)
            && pressure < p.critical_pressure / 2.0;
        let settled = self.last_action_ms.is_none_or(|t| now - t >= p.settle_ms);
        if critical {
            self.calm_since = None;
            let first = self.critical_since.is_none();
            self.critical_since.get_or_insert(now);
            let worse = self
                .available_at_freeze
                .is_none_or(|a| host.available.saturating_add(p.margin / 4) < a)
                || pressure >= p.critical_pressure;
            if (first || settled) && worse {
                if let Some(v) = victim(tasks) {
                    out.push(Action::Freeze {
                        id: v.id,
                        reason: format!("{PROTECT_REASON}: {}", why(p, host)),
                    });
                    self.last_action_ms = Some(now);
                    self.available_at_freeze = Some(host.available);
                }
            }
            return out;
        }
        self.critical_since = None;
        if !calm {
            self.calm_since = None;
            return out;
        }
        self.available_at_freeze = None;
        let since = *self.calm_since.get_or_insert(now);
        if now - since < p.calm_ms || !settled {
            return out;
        }
        let room = host
            .available
            .saturating_sub(p.critical_available.saturating_add(p.margin));
        let mut frozen: Vec<(&Candidate, Frozen)> = tasks
            .iter()
            .filter(|t| !t.busy)
            .filter_map(|t| t.frozen.filter(|f| f.by_protect).map(|f| (t, f)))
            .filter(|(t, _)| {
                !out.iter()
                    .any(|a| matches!(a, Action::Cold { id, .. } if *id == t.id))
            })
            .collect();
        frozen.sort_by_key(|(t, f)| (t.priority, f.since_ms, t.id));
        if let Some((t, _)) = frozen.into_iter().find(|(t, _)| t.memory / 2 <= room) {
            out.push(Action::Thaw {
                id: t.id,
                reason: format!(
                    "memory is back ({} available, the task holds {})",
                    format_bytes(host.available),
                    format_bytes(t.memory)
                ),
            });
            self.last_action_ms = Some(now);
        }
        out
    }
}

/// The task to freeze: never the oldest running one; the lowest priority,
/// then the newest; P0 only when nothing else is left.
pub fn victim(tasks: &[Candidate]) -> Option<&Candidate> {
    let oldest = tasks.iter().min_by_key(|t| (t.started_ms, t.id))?.id;
    tasks
        .iter()
        .filter(|t| t.id != oldest && t.frozen.is_none() && !t.busy)
        .max_by_key(|t| (t.priority != Priority::P0, t.priority, t.started_ms, t.id))
}

fn why(p: &ProtectPolicy, host: HostMemory) -> String {
    let pressure = host.pressure.unwrap_or(0.0);
    if host.available < p.critical_available {
        format!(
            "MemAvailable {} is under {}",
            format_bytes(host.available),
            format_bytes(p.critical_available)
        )
    } else {
        format!(
            "memory pressure {pressure:.0}% is at or over {:.0}%",
            p.critical_pressure
        )
    }
}

#[cfg(test)]
#[path = "protect_tests.rs"]
mod tests;
