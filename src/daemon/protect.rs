//! Protective mode in the actor (monitoring level `protective`): each tick,
//! the host's memory and the active tasks go to [`core::protect`]'s
//! `Protector`, and its actions are carried out: a freeze or a thaw
//! through [`super::suspend`] (confirmed by `cgroup.events`, committed,
//! `task:suspended`/`task:resumed` streamed and handed to hooks), a cold
//! suspension through [`super::checkpoint`].
//!
//! [`core::protect`]: crate::core::protect

use super::actor::{now_ms, Actor};
use crate::core::protect::{Action, Candidate, Frozen, HostMemory, Protector, PROTECT_REASON};
use crate::core::{Level, TaskState};
use tracing::{info, warn};

/// The protector and what it reported.
#[derive(Default)]
pub struct ProtectState {
    pub protector: Protector,
    /// The host was critical at the last tick (for the journal).
    was_critical: bool,
}

impl Actor {
    /// After each host sample, at level `protective`.
    pub(super) fn protect(&mut self) {
        if self.monitor.level != Level::Protective {
            return;
        }
        let Some(sample) = self.sample else { return };
        let pressure = match (
            self.pressure.memory.map(|p| p.some.avg10),
            self.sched.slice_pressure,
        ) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let host = HostMemory {
            now_ms: now_ms(),
            available: sample.mem_available_bytes,
            pressure,
        };
        let candidates = self.protect_candidates();
        let policy = self.cfg.protect.policy(self.cfg.reserve_bytes());
        let actions = self.protection.protector.decide(&policy, host, &candidates);
        let critical = self.protection.protector.critical();
        if critical != self.protection.was_critical {
            self.protection.was_critical = critical;
            if critical {
                warn!(
                    "protective mode: the host is short of memory ({} MiB available, pressure {:.0}%)",
                    host.available >> 20,
                    pressure.unwrap_or(0.0)
                );
            } else {
                info!(
                    "protective mode: the host is out of danger ({} MiB available)",
                    host.available >> 20
                );
            }
        }
        for a in actions {
            self.protect_act(a, host.now_ms);
        }
    }

    fn protect_candidates(&self) -> Vec<Candidate> {
        self.active
            .iter()
            .filter_map(|id| self.tasks.get(id))
            .filter(|t| matches!(t.state(), TaskState::Running | TaskState::Suspended))
            .filter_map(|t| {
                let a = t.active()?;
                let memory = self
                    .cgroups
                    .cgroup(&format!("/{}/{}", crate::systemd::SLICE, t.unit_name()))
                    .ok()
                    .and_then(|c| c.memory_current().ok().flatten())
                    .unwrap_or(0);
                Some(Candidate {
                    id: t.id,
                    priority: t.priority,
                    started_ms: a.started_ms.unwrap_or(t.created_ms),
                    memory,
                    frozen: a.suspended.as_ref().map(|s| Frozen {
                        since_ms: s.since_ms,
                        by_protect: s
                            .reason
                            .as_deref()
                            .is_some_and(|r| r.starts_with(PROTECT_REASON)),
                    }),
                    relaunchable: t.claude.is_some() || t.restartable,
                    busy: a.cancel_requested.is_some() || self.freezing.contains(&t.id),
                })
            })
            .collect()
    }

    fn protect_act(&mut self, action: Action, now: i64) {
        match action {
            Action::Freeze { id, reason } => {
                let Some(t) = self.tasks.get(&id).cloned() else {
                    return;
                };
                let since = self.protection.protector.critical_since().unwrap_or(now);
                info!(
                    claudine_task_id = id,
                    claudine_user = %t.owner_name,
                    "protective mode: freezing task {id} ({} ms after the host became critical): {reason}",
                    now - since
                );
                let by = reason
                    .strip_prefix("suspended by ")
                    .unwrap_or(&reason)
                    .to_owned();
                self.set_frozen(&t, true, by, None);
            }
            Action::Thaw { id, reason } => {
                let Some(t) = self.tasks.get(&id).cloned() else {
                    return;
                };
                info!(
                    claudine_task_id = id,
                    claudine_user = %t.owner_name,
                    "protective mode: thawing task {id}: {reason}"
                );
                self.set_frozen(&t, false, "protective mode".into(), None);
            }
            Action::Cold { id, reason } => self.cold_suspend(id, reason),
        }
    }
}
