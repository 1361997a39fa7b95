//! Admission and launching: start queued tasks while the scheduler says so.
//!
//! The decisions are pure ([`crate::core::scheduler`]); this file gathers
//! their inputs (the queue's lanes, the load, the freshest host sample, the
//! tasks' slice, what started tasks still reserve, what ended tasks taught)
//! and carries out the answer: launch a task and reserve its expected
//! memory, remember why the others wait, or ask the loop for a new host
//! sample at a given time.

use super::actor::{now_ms, Actor};
use super::launch;
use crate::core::learn::{kind_of, Learned};
use crate::core::reserve::{expected_footprint, Ledger, ReservePolicy, Source, PROBE_QUIET_MS};
use crate::core::scheduler::{
    decide, estimate_start_ms, never_fits, order, smooth_cpu, Budget, Candidate, Decision, Hold,
    HostView, Load,
};
use crate::core::units::format_bytes;
use crate::core::{EventDetail, EventKind, Task, TaskEvent, TaskId, TaskState};
use std::collections::HashMap;

/// Tasks of each lane offered to the scheduler, and candidates in all: the
/// cost of a decision is bounded whatever the queue's length.
const LANE_DEPTH: usize = 8;
const MAX_CANDIDATES: usize = 64;
/// Time constant of the smoothed host CPU share.
const CPU_TAU_MS: i64 = 2_000;
/// Ended attempts read back at start to learn from.
const LEARN_FROM: usize = 2_000;

/// The scheduler's state in the actor.
#[derive(Debug, Default)]
pub struct SchedState {
    /// What started tasks are expected to use until their usage settles.
    pub ledger: Ledger,
    pub learned: Learned,
    pub hold: Option<Hold>,
    pub cpu_smoothed: Option<f64>,
    /// What the tasks' slice holds at the last host sample, less its clean
    /// page cache (`memory.current` less what the kernel can drop).
    pub slice_usage: Option<u64>,
    /// The slice's `memory.pressure` (`some` avg10): our own tasks stalled
    /// on memory.
    pub slice_pressure: Option<f64>,
    /// The slice's ceiling: RAM less the reserve (0 until the first sample).
    pub ceiling: u64,
    pub mem_total: u64,
    /// Why the candidates of the last decision were passed over.
    pub blocked: HashMap<TaskId, String>,
    /// Why nothing starts, for every task (the last decision's).
    pub global: Option<String>,
    /// Per kind, what its running tasks that outgrew their reservation say
    /// it needs ([`Ledger::evidence`]), as of the last decision.
    pub running_evidence: HashMap<String, u64>,
    /// Per kind, a running task started on the default that is still
    /// showing its size ([`Ledger::probing`]), as of the last decision.
    pub probing: HashMap<String, TaskId>,
}

impl SchedState {
    pub fn new() -> SchedState {
        SchedState {
            ledger: Ledger::new(ReservePolicy::default()),
            ..SchedState::default()
        }
    }
}

impl Actor {
    /// Read back what ended attempts teach (at start).
    pub fn learn_from_store(&mut self) {
        match self.store.recent_runs(LEARN_FROM) {
            Ok(rows) => {
                for r in rows {
                    let kind = kind_of(r.owner_uid, &r.cwd, &r.argv);
                    self.sched.learned.record(kind, r.memory_peak, r.run_ms);
                }
            }
            Err(e) => tracing::warn!("cannot learn from past runs: {e}"),
        }
    }

    /// An attempt ended: learn its peak and run time, drop its reservation.
    pub(super) fn learn_from_end(&mut self, t: &Task, peak: Option<u64>, run_ms: Option<i64>) {
        self.sched.ledger.release(t.id);
        let kind = kind_of(t.owner_uid, &t.cwd, &t.argv);
        self.sched.learned.record(kind, peak, run_ms);
    }

    /// What a task is expected to use (the higher of its request and what
    /// its kind was learned to use, else what a running task of its kind
    /// was seen to need, else the default; never above its hard limit), and
    /// where that comes from: `request`, `learned`, `running`, `default` or
    /// `memory-max`.
    pub(super) fn expected_memory_why(&self, t: &Task) -> (u64, &'static str) {
        let (bytes, source) = self.expected_for(t, &kind_of(t.owner_uid, &t.cwd, &t.argv));
        (bytes, source.map_or("memory-max", Source::as_str))
    }

    /// The expected footprint of `t`, of kind `kind`, and its source
    /// (`None`: capped at its `--memory-max`).
    fn expected_for(&self, t: &Task, kind: &str) -> (u64, Option<Source>) {
        let (expected, source) = expected_footprint(
            t.limits.memory_request,
            self.sched.learned.peak(kind),
            self.sched.running_evidence.get(kind).copied(),
            self.sched.ceiling,
        );
        match t.limits.memory_max {
            Some(max) if max < expected => (max, None),
            _ => (expected, Some(source)),
        }
    }

    /// What the running tasks say of their kinds: the most those that
    /// outgrew their reservation were seen to need, and which ones started
    /// on the default are still showing their size.
    fn gather_running_evidence(&mut self, now: i64) {
        let mut by_kind: HashMap<String, u64> = HashMap::new();
        let mut probing: HashMap<String, TaskId> = HashMap::new();
        let ledger = &self.sched.ledger;
        for id in &self.active {
            let evidence = ledger.evidence(*id);
            let probe = ledger.probing(*id, now, PROBE_QUIET_MS);
            let Some(t) = self.tasks.get(id).filter(|_| evidence.is_some() || probe) else {
                continue;
            };
            let kind = kind_of(t.owner_uid, &t.cwd, &t.argv);
            if let Some(bytes) = evidence {
                let e = by_kind.entry(kind.clone()).or_default();
                *e = (*e).max(bytes);
            }
            if probe {
                probing.insert(kind, *id);
            }
        }
        self.sched.running_evidence = by_kind;
        self.sched.probing = probing;
    }

    /// Start queued tasks while the scheduler allows.
    pub fn schedule(&mut self) {
        let now = now_ms();
        self.queue.promote(now);
        loop {
            if self.queue.peek().is_none() {
                self.sched.blocked.clear();
                self.sched.global = None;
                self.sched.hold = None;
                self.wait_reason = None;
                return;
            }
            self.gather_running_evidence(now);
            let (decision, candidates) = self.admission(now);
            self.counters.decision(&decision);
            self.sched.hold = decision.hold;
            self.sched.blocked = decision.blocked.iter().cloned().collect();
            self.sched.global = decision.global.clone();
            self.wait_reason = decision
                .global
                .clone()
                .or_else(|| decision.blocked.first().map(|(_, why)| why.clone()));
            if let Some(at) = decision.measure_at {
                self.sample_due_ms = Some(at);
                return;
            }
            let Some(id) = decision.start else { return };
            let (expected, unknown) = candidates
                .iter()
                .find(|c| c.id == id)
                .map_or((0, false), |c| (c.expected, c.unknown));
            let task = self.tasks[&id].clone();
            let running_before = self.active.len();
            match launch::launch(self, task) {
                launch::Launched::Yes => {
                    let now = now_ms();
                    if let Some(t) = self.tasks.get(&id).cloned() {
                        self.claude_started(&t, now);
                    }
                    if unknown {
                        self.sched.ledger.reserve_unknown(id, expected, now);
                    } else {
                        self.sched.ledger.reserve(id, expected, now);
                    }
                    if decision.crosses_soft_max {
                        self.over_soft_max(id, running_before + 1);
                    }
                    // The next decision needs a sample measured from now.
                    self.last_start_ms = Some(now);
                    self.sample_host();
                }
                launch::Launched::Failed => {}
                launch::Launched::NotYet(why) => {
                    // Nothing could be started or recorded (the account
                    // lookup is pending, the store failed): try again on
                    // the next tick instead of spinning on this task.
                    self.wait_reason = Some(why);
                    return;
                }
            }
        }
    }

    fn admission(&self, now: i64) -> (Decision, Vec<Candidate>) {
        let policy = self.cfg.sched_policy();
        let mut running: HashMap<u32, usize> = HashMap::new();
        let mut starting = 0;
        for id in &self.active {
            let t = &self.tasks[id];
            *running.entry(t.owner_uid).or_default() += 1;
            if t.state() == TaskState::Starting {
                starting += 1;
            }
        }
        let running_of = |uid: u32| running.get(&uid).copied().unwrap_or(0);
        let ids = order(
            &self.queue.lanes(LANE_DEPTH),
            &policy,
            now,
            |id| self.tasks.get(&id).map_or(now, queued_since),
            running_of,
            MAX_CANDIDATES,
        );
        let candidates: Vec<Candidate> = ids
            .iter()
            .filter_map(|id| self.tasks.get(id))
            .map(|t| {
                let kind = kind_of(t.owner_uid, &t.cwd, &t.argv);
                let (expected, source) = self.expected_for(t, &kind);
                let unknown = source == Some(Source::Default);
                Candidate {
                    id: t.id,
                    owner: t.owner_uid,
                    expected,
                    min_memory: t.limits.min_memory,
                    unknown,
                    probe: unknown
                        .then(|| self.sched.probing.get(&kind).copied())
                        .flatten(),
                    held: self.claude_hold(t, now),
                }
            })
            .collect();
        let load = Load {
            active: self.active.len(),
            starting,
            // A sample can only miss a task that still runs.
            last_start_ms: self.last_start_ms.filter(|_| !self.active.is_empty()),
        };
        let host = self.host_view();
        let budget = Budget {
            ceiling: self.sched.ceiling,
            slice_usage: self.sched.slice_usage,
            outstanding: self.sched.ledger.outstanding(),
        };
        let d = decide(
            &policy,
            host.as_ref(),
            &budget,
            &load,
            &candidates,
            running_of,
            self.sched.hold,
            now,
        );
        (d, candidates)
    }

    /// The host as the scheduler sees it: the last sample, CPU smoothed.
    pub(super) fn host_view(&self) -> Option<HostView> {
        let s = self.sample.as_ref()?;
        Some(HostView {
            cpu_busy_percent: self.sched.cpu_smoothed.unwrap_or(s.cpu_busy_percent),
            mem_available: s.mem_available_bytes,
            // The host's pressure, or our own tasks' if they stall more.
            memory_pressure: match (
                self.pressure.memory.map(|p| p.some.avg10),
                self.sched.slice_pressure,
            ) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            window_start_ms: s.window_start_ms,
            taken_ms: s.taken_ms,
        })
    }

    /// A new host sample: smooth the CPU share, read the slice.
    pub(super) fn after_host_sample(&mut self, s: &crate::core::HostSample) {
        self.sched.cpu_smoothed = Some(smooth_cpu(
            self.sched.cpu_smoothed,
            s.cpu_busy_percent,
            s.taken_ms - s.window_start_ms,
            CPU_TAU_MS,
        ));
        self.sched.mem_total = s.mem_total_bytes;
        self.sched.ceiling = s.mem_total_bytes.saturating_sub(self.cfg.reserve_bytes());
        let slice = format!("/{}", crate::systemd::SLICE);
        let cg = self.cgroups.cgroup(&slice);
        // What the tasks hold that the kernel cannot simply drop: their
        // clean page cache (logs, files read) is room for the next task.
        self.sched.slice_usage = cg.as_ref().ok().and_then(|c| {
            let current = c.memory_current().ok().flatten()?;
            Some(match c.memory_stat().ok().flatten() {
                Some(stat) => stat.unreclaimable(current),
                None => current,
            })
        });
        self.sched.slice_pressure = cg
            .as_ref()
            .ok()
            .and_then(|c| c.memory_pressure().ok().flatten())
            .map(|p| p.some.avg10);
    }

    /// Give the tasks' slice its budget: `MemoryHigh` = RAM less the reserve,
    /// the ceiling admission plans for: past it the kernel reclaims the
    /// tasks' page cache and slows their allocations (their own pressure
    /// rises, and admission stops on it) instead of killing; `MemoryMax` half
    /// the reserve above, the hard stop: whatever the estimates, the tasks
    /// together never take the host's last half of its reserve.
    pub async fn apply_slice_budget(&self) {
        let ceiling = self.sched.ceiling;
        if ceiling == 0 {
            tracing::warn!(
                "claudine.slice: no memory budget set: RAM {} is not more than the reserve {}",
                format_bytes(self.sched.mem_total),
                format_bytes(self.cfg.reserve_bytes())
            );
            return;
        }
        let max = ceiling.saturating_add(self.cfg.reserve_bytes() / 2);
        let props = crate::systemd::ScopeProperties {
            memory_max: Some(max),
            memory_high: Some(ceiling),
            ..Default::default()
        };
        match self
            .systemd
            .set_properties(crate::systemd::SLICE, &props)
            .await
        {
            Ok(()) => tracing::info!(
                "{}: MemoryHigh={ceiling} (RAM {} less the {} reserve) MemoryMax={max} (half the reserve above)",
                crate::systemd::SLICE,
                format_bytes(self.sched.mem_total),
                format_bytes(self.cfg.reserve_bytes())
            ),
            Err(e) => tracing::warn!(
                "cannot give {} its memory budget: {e}",
                crate::systemd::SLICE
            ),
        }
    }

    /// Refuse at submit what could never start here: a `--min-memory` or a
    /// `--memory` above the tasks' ceiling (RAM less the reserve).
    pub(super) fn check_fits(&self, limits: &crate::core::Limits) -> Result<(), String> {
        if self.sched.ceiling == 0 {
            return Ok(()); // no host sample yet: nothing known to refuse on
        }
        let check = |bytes: Option<u64>, flag: &str| match bytes {
            Some(b) => match never_fits(
                self.sched.ceiling,
                self.sched.mem_total,
                self.cfg.reserve_bytes(),
                b,
                None,
                flag,
            ) {
                Some(why) => Err(why),
                None => Ok(()),
            },
            None => Ok(()),
        };
        check(limits.min_memory, "--min-memory")?;
        check(limits.memory_request, "--memory")
    }

    /// The monitor read a running task's memory: settle its reservation.
    pub(super) fn observe_memory(&mut self, id: TaskId, bytes: u64, at_ms: i64) {
        self.sched.ledger.observe(id, bytes, at_ms);
    }

    /// Why a ready task waits: its own reason from the last decision, the
    /// reason nothing starts, or the tasks ahead of it.
    pub(super) fn sched_reason(&self, t: &Task) -> Option<String> {
        if let Some(why) = self.sched.blocked.get(&t.id) {
            return Some(why.clone());
        }
        if let Some(why) = &self.sched.global {
            return Some(why.clone());
        }
        let pos = self.queue.position(t.priority, t.id)?;
        let ahead = self.queue.ahead(t.priority, pos);
        let parts: Vec<String> = ["P0", "P1", "P2"]
            .iter()
            .zip(ahead)
            .filter(|(_, n)| *n > 0)
            .map(|(p, n)| format!("{n} {p}"))
            .collect();
        if parts.is_empty() {
            return None;
        }
        let n: usize = ahead.iter().sum();
        Some(format!(
            "behind {} task{}",
            parts.join(" and "),
            if n == 1 { "" } else { "s" }
        ))
    }

    /// When a queued task at `position` may start, from recent run times.
    pub(super) fn estimated_start(&self, position: usize) -> Option<i64> {
        estimate_start_ms(
            now_ms(),
            position.saturating_sub(1),
            self.active.len(),
            self.sched.learned.mean_run_ms(),
        )
    }

    /// A start took the running count above the soft maximum: say so.
    fn over_soft_max(&mut self, id: TaskId, running: usize) {
        let Some(t) = self.tasks.get(&id) else { return };
        let soft = self.cfg.sched.soft_max;
        let ev = TaskEvent::new(
            EventKind::OverSoftMax,
            id,
            t.active().map(|a| a.attempt),
            now_ms(),
            EventDetail::Note(crate::core::events::NoteDetail {
                reason: Some(format!(
                    "{running} tasks running, above the soft maximum of {soft} (profile {}); resources still decide",
                    self.cfg.sched.profile
                )),
            }),
        );
        self.record(id, vec![ev]);
    }
}

/// When a task joined the queue (its eligibility time if later).
fn queued_since(t: &Task) -> i64 {
    match &t.status {
        crate::core::Status::Queued(w) => w.eligible_ms.unwrap_or(0).max(t.created_ms),
        _ => t.created_ms,
    }
}

impl Actor {
    /// When the loop should wake to sample the host and schedule again.
    pub fn next_wakeup_ms(&self) -> Option<i64> {
        match (self.sample_due_ms, self.queue.next_eligible_ms()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The wake-up came: take the sample admission asked for.
    pub fn wake(&mut self) {
        if self.sample_due_ms.is_some_and(|t| t <= now_ms()) {
            self.sample_due_ms = None;
            self.sample_host();
        }
    }
}
