//! `GET /v1/top`: one frame of `claudinectl top` (wire form in
//! [`crate::proto::top`]).
//!
//! Cheap by construction, since a client asks every second: the running
//! rows come from `active` (a small set) and the monitor's latest reading of
//! each (no cgroup file is read per task); the queued rows from the head of
//! the ready queue, scanning at most [`SCAN_LIMIT`] ids; the counts per
//! priority from [`QueuedCounts`], kept as tasks change state, so nothing
//! walks the (possibly huge) queue. Two small files are read: the slice's
//! `memory.current` and `memory.max`.
//!
//! Host figures and counts are everyone's; rows only the caller's own tasks,
//! unless the caller may see every task ([`Caller::may_see`]).

use super::actor::{now_ms, Actor};
use super::users::Caller;
use crate::core::{Priority, Task, TaskState};
use crate::proto::top::{
    TopHost, TopPressure, TopQueued, TopSlice, TopTask, TopView, TOP_QUEUE_ROWS,
};
use tracing::debug;

/// Queued ids looked at, at most, for a caller's queued rows: a user whose
/// first task is further back than this sees it counted in `queue_more`.
pub const SCAN_LIMIT: usize = 1000;

/// The window of a running task's CPU share.
const CPU_WINDOW_MS: i64 = 10_000;

/// Figures owned by the scheduler: (reserved beyond use, the host's
/// reserve, soft maximum, hard maximum).
fn scheduler_figures(a: &Actor) -> (u64, u64, Option<usize>, Option<usize>) {
    (
        a.sched.ledger.outstanding(),
        a.cfg.reserve_bytes(),
        Some(a.cfg.sched.soft_max),
        Some(a.cfg.sched.hard_max),
    )
}

impl Actor {
    pub(super) fn top_view(&self, caller: &Caller) -> TopView {
        let (reserved_bytes, reserve_bytes, soft_max, hard_max) = scheduler_figures(self);
        let mut tasks: Vec<TopTask> = self
            .active
            .iter()
            .filter_map(|id| self.tasks.get(id))
            .filter(|t| caller.may_see(t.owner_uid))
            .map(|t| self.top_task(t))
            .collect();
        tasks.sort_by_key(|t| t.id);

        let mut queue = Vec::new();
        for (i, id) in self.queue.iter().enumerate().take(SCAN_LIMIT) {
            if queue.len() == TOP_QUEUE_ROWS {
                break;
            }
            let Some(t) = self.tasks.get(&id).filter(|t| caller.may_see(t.owner_uid)) else {
                continue;
            };
            queue.push(TopQueued {
                id: t.id,
                user: t.owner_name.clone(),
                priority: t.priority,
                position: i + 1,
                created_ms: t.created_ms,
                why: self.why_waiting(t),
                argv: t.argv.clone(),
            });
        }
        let queued = self.queued_counts.total();
        // The caller's own queued tasks: their unfinished ones less those
        // active (all of which are in `tasks`).
        let visible_queued = if caller.admin {
            queued
        } else {
            let unfinished = self.per_user.get(&caller.uid).map_or(0, |e| e.0);
            unfinished.saturating_sub(tasks.len())
        };

        TopView {
            at_ms: now_ms(),
            host: self.top_host(),
            slice: self.top_slice(),
            reserved_bytes,
            reserve_bytes,
            soft_max,
            hard_max,
            running: self.active.len(),
            queued,
            queued_by_priority: [Priority::P0, Priority::P1, Priority::P2]
                .into_iter()
                .map(|p| (p, self.queued_counts.get(p)))
                .collect(),
            wait_reason: self.wait_reason.clone(),
            queue_more: visible_queued.saturating_sub(queue.len()),
            tasks,
            queue,
        }
    }

    /// A Starting or Running task with the monitor's latest reading of its
    /// current attempt.
    fn top_task(&self, t: &Task) -> TopTask {
        let active = t.active();
        let w = self
            .monitor
            .watches
            .get(&t.id)
            .filter(|w| active.is_some_and(|a| a.attempt == w.watch.attempt));
        TopTask {
            id: t.id,
            user: t.owner_name.clone(),
            state: t.state(),
            priority: t.priority,
            started_ms: active.and_then(|a| a.started_ms),
            memory_bytes: w.and_then(|w| w.latest.memory_current),
            cpu_percent: w.and_then(|w| w.watch.recent_cpu_percent(CPU_WINDOW_MS)),
            activity: w.map(|w| w.watch.describe_activity()),
            argv: t.argv.clone(),
        }
    }

    fn top_host(&self) -> TopHost {
        let avg10 = |p: Option<crate::cgroup::Pressure>| p.map(|p| p.some.avg10);
        TopHost {
            cpu_busy_percent: self.sample.map(|s| s.cpu_busy_percent),
            mem_total_bytes: self.sample.map(|s| s.mem_total_bytes),
            mem_available_bytes: self.sample.map(|s| s.mem_available_bytes),
            pressure: TopPressure {
                cpu: avg10(self.pressure.cpu),
                memory: avg10(self.pressure.memory),
                io: avg10(self.pressure.io),
            },
        }
    }

    /// `memory.current` and `memory.max` of `claudine.slice` (two small
    /// reads; a figure that cannot be read is left out).
    fn top_slice(&self) -> TopSlice {
        let Ok(slice) = self.cgroups.cgroup(crate::systemd::SLICE) else {
            return TopSlice::default();
        };
        fn ok<T>(what: &str, r: Result<Option<T>, crate::cgroup::CgroupError>) -> Option<T> {
            r.map_err(|e| debug!("top: {what}: {e}")).ok().flatten()
        }
        TopSlice {
            memory_current_bytes: ok("memory.current", slice.memory_current()),
            memory_max_bytes: ok("memory.max", slice.memory_max()).flatten(),
        }
    }
}

/// Queued tasks per priority (ready, waiting for their time, or held while
/// a previous attempt's unit drains), every user's. The actor counts each
/// change where tasks come in (`track`) and change state
/// (`transition_with`, which also sees them go), so reading the counts is
/// O(1) however long the queue.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QueuedCounts([usize; 3]);

impl QueuedCounts {
    /// Count a task going from `before` to `after`; `None` is a task not
    /// tracked (before: it just came in; after: it is gone).
    pub fn change(&mut self, before: Option<&Task>, after: Option<&Task>) {
        let queued = |t: &&Task| t.state() == TaskState::Queued;
        if let Some(t) = before.filter(queued) {
            let n = &mut self.0[index(t.priority)];
            *n = n.saturating_sub(1);
        }
        if let Some(t) = after.filter(queued) {
            self.0[index(t.priority)] += 1;
        }
    }

    pub fn get(&self, p: Priority) -> usize {
        self.0[index(p)]
    }

    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }
}

fn index(p: Priority) -> usize {
    match p {
        Priority::P0 => 0,
        Priority::P1 => 1,
        Priority::P2 => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{NewTask, Transition};

    fn task(id: i64, priority: Priority) -> Task {
        Task::queued(
            id,
            NewTask {
                owner_uid: 1000,
                owner_name: "alice".into(),
                priority,
                argv: vec!["true".into()],
                cwd: "/".into(),
                env: vec![],
                inherit_env: false,
                umask: 0o022,
                limits: Default::default(),
                created_ms: 1,
                claude: None,
                restartable: false,
                worktree: None,
                after: vec![],
                after_any: false,
            },
        )
    }

    #[test]
    fn queued_counts_follow_tasks_in_and_out_of_the_queue() {
        let mut c = QueuedCounts::default();
        let (a, b, z) = (
            task(1, Priority::P0),
            task(2, Priority::P1),
            task(3, Priority::P1),
        );
        for t in [&a, &b, &z] {
            c.change(None, Some(t));
        }
        assert_eq!(
            (
                c.get(Priority::P0),
                c.get(Priority::P1),
                c.get(Priority::P2)
            ),
            (1, 2, 0)
        );
        assert_eq!(c.total(), 3);
        // Starting leaves the queue; the counts of the others are untouched.
        let started = b
            .apply(&Transition::Launch {
                supervisor_pid: 42,
                now_ms: 2,
            })
            .unwrap();
        c.change(Some(&b), Some(&started));
        assert_eq!((c.get(Priority::P0), c.get(Priority::P1)), (1, 1));
        // An active task changing state again does not count.
        c.change(Some(&started), Some(&started));
        assert_eq!(c.total(), 2);
        // Requeued: counted again; a queued task cancelled: gone.
        c.change(Some(&started), Some(&b));
        assert_eq!(c.get(Priority::P1), 2);
        c.change(Some(&a), None);
        assert_eq!((c.get(Priority::P0), c.total()), (0, 2));
        // Never below zero, whatever the caller does.
        c.change(Some(&a), None);
        assert_eq!(c.get(Priority::P0), 0);
    }
}
