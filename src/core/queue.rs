//! The ready queue: P0 before P1 before P2, FIFO (by task id, which the store
//! hands out in submission order) within one priority.
//!
//! Besides that global order (positions, listing), the ready tasks are kept
//! in *lanes*, one per (priority, owner), so the scheduler can offer a fair
//! set of candidates without walking the whole queue: [`ReadyQueue::lanes`]
//! yields each lane's first tasks, and [`crate::core::scheduler::order`]
//! interleaves them (aging, fair share between users).
//!
//! A task that must not start before a time (a cooldown, a retry backoff)
//! waits in a second set ordered by that time, and moves to the ready set
//! when [`ReadyQueue::promote`] is called at or after it.
//!
//! Only ids are kept here; the task records live in the daemon's state. The
//! cost of push, pop and remove is O(log n) whatever the queue length.

use super::task::{Priority, TaskId};
use std::collections::{BTreeMap, BTreeSet};

/// Where a task sits: its priority, its owner's uid and its id.
pub type Key = (Priority, u32, TaskId);

#[derive(Debug, Default, Clone)]
pub struct ReadyQueue {
    set: BTreeSet<(Priority, TaskId)>,
    /// The ready tasks by (priority, owner), each lane FIFO.
    lanes: BTreeMap<(Priority, u32), BTreeSet<TaskId>>,
    /// Ready tasks per priority.
    counts: [usize; 3],
    /// (eligible at ms, priority, owner, id) of tasks not yet eligible.
    later: BTreeSet<(i64, Priority, u32, TaskId)>,
}

/// One lane's first tasks, for the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lane {
    pub priority: Priority,
    pub owner: u32,
    /// The lane's first tasks, oldest first.
    pub ids: Vec<TaskId>,
}

fn slot(p: Priority) -> usize {
    match p {
        Priority::P0 => 0,
        Priority::P1 => 1,
        Priority::P2 => 2,
    }
}

impl ReadyQueue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, (priority, owner, id): Key) {
        if self.set.insert((priority, id)) {
            self.lanes.entry((priority, owner)).or_default().insert(id);
            self.counts[slot(priority)] += 1;
        }
    }

    /// The first ready task in priority order, without removing it.
    pub fn peek(&self) -> Option<TaskId> {
        self.set.first().map(|(_, id)| *id)
    }

    /// Queue a task that may not start before `eligible_ms`.
    pub fn push_at(&mut self, (priority, owner, id): Key, eligible_ms: i64) {
        self.later.insert((eligible_ms, priority, owner, id));
    }

    /// Move every task eligible at `now_ms` to the ready set; returns how many.
    pub fn promote(&mut self, now_ms: i64) -> usize {
        let mut n = 0;
        while let Some(&(at, p, owner, id)) = self.later.first() {
            if at > now_ms {
                break;
            }
            self.later.pop_first();
            self.push((p, owner, id));
            n += 1;
        }
        n
    }

    /// When the next waiting task becomes eligible.
    pub fn next_eligible_ms(&self) -> Option<i64> {
        self.later.first().map(|(at, ..)| *at)
    }

    /// Remove a task, ready or waiting for its time (O(n) for the latter,
    /// which only cooldowns use).
    pub fn remove(&mut self, (priority, owner, id): Key) -> bool {
        if self.set.remove(&(priority, id)) {
            if let Some(lane) = self.lanes.get_mut(&(priority, owner)) {
                lane.remove(&id);
                if lane.is_empty() {
                    self.lanes.remove(&(priority, owner));
                }
            }
            self.counts[slot(priority)] -= 1;
            return true;
        }
        let found = self
            .later
            .iter()
            .find(|(_, p, o, i)| *p == priority && *o == owner && *i == id);
        match found.copied() {
            Some(k) => self.later.remove(&k),
            None => false,
        }
    }

    /// Ready ids in priority order (tasks waiting for their time are not listed).
    pub fn iter(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.set.iter().map(|(_, id)| *id)
    }

    /// Every lane with its first `depth` tasks: O(lanes × depth).
    pub fn lanes(&self, depth: usize) -> Vec<Lane> {
        self.lanes
            .iter()
            .map(|(&(priority, owner), ids)| Lane {
                priority,
                owner,
                ids: ids.iter().take(depth).copied().collect(),
            })
            .collect()
    }

    /// Ready tasks of one priority.
    pub fn count(&self, priority: Priority) -> usize {
        self.counts[slot(priority)]
    }

    /// Every queued task, ready or waiting for its time.
    pub fn len(&self) -> usize {
        self.set.len() + self.later.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.later.is_empty()
    }

    /// 1-based position of a task in priority order, if ready.
    pub fn position(&self, priority: Priority, id: TaskId) -> Option<usize> {
        if !self.set.contains(&(priority, id)) {
            return None;
        }
        Some(self.set.range(..(priority, id)).count() + 1)
    }

    /// How many ready tasks of each priority come before a task at
    /// `position` (1-based) of priority `priority`: `[P0, P1, P2]`.
    pub fn ahead(&self, priority: Priority, position: usize) -> [usize; 3] {
        let mut ahead = [0; 3];
        let mut before = position.saturating_sub(1);
        for p in [Priority::P0, Priority::P1, Priority::P2] {
            if p == priority {
                ahead[slot(p)] = before;
                break;
            }
            ahead[slot(p)] = self.counts[slot(p)].min(before);
            before -= ahead[slot(p)];
        }
        ahead
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Priority::*;

    #[test]
    fn priority_first_then_fifo() {
        let mut q = ReadyQueue::new();
        q.push((P2, 1000, 1));
        q.push((P1, 1000, 2));
        q.push((P0, 1000, 3));
        q.push((P1, 1000, 4));
        q.push((P0, 1000, 5));
        assert_eq!(q.position(P1, 4), Some(4));
        let order: Vec<_> = q.iter().collect();
        assert_eq!(order, vec![3, 5, 2, 4, 1]);
    }

    #[test]
    fn waiting_tasks_become_ready_at_their_time() {
        let mut q = ReadyQueue::new();
        q.push((P1, 1000, 1));
        q.push_at((P0, 1000, 2), 100);
        q.push_at((P1, 1000, 3), 50);
        assert_eq!(q.len(), 3);
        assert_eq!(q.peek(), Some(1));
        assert_eq!(q.next_eligible_ms(), Some(50));
        assert_eq!(q.promote(49), 0);
        assert_eq!(q.promote(50), 1);
        assert_eq!(q.position(P1, 3), Some(2));
        assert_eq!(q.promote(1000), 1);
        // The P0 task jumps ahead once eligible.
        assert_eq!(q.peek(), Some(2));
        assert!(q.remove((P1, 1000, 3)));
        q.push_at((P2, 1000, 9), 5000);
        assert!(q.remove((P2, 1000, 9)));
        assert_eq!(q.next_eligible_ms(), None);
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn remove_and_requeue_keep_submission_order() {
        let mut q = ReadyQueue::new();
        for id in 1..=3 {
            q.push((P1, 1000, id));
        }
        assert!(q.remove((P1, 1000, 2)));
        assert!(!q.remove((P1, 1000, 2)));
        assert_eq!(q.len(), 2);
        // A task put back (daemon restarted before it ran) regains its place.
        q.push((P1, 1000, 2));
        assert_eq!(q.peek(), Some(1));
        assert_eq!(q.position(P1, 2), Some(2));
        assert_eq!(q.position(P0, 2), None);
    }

    #[test]
    fn lanes_per_priority_and_owner_and_counts_ahead() {
        let mut q = ReadyQueue::new();
        for id in 1..=5 {
            q.push((P1, 1000, id));
        }
        q.push((P1, 1001, 6));
        q.push((P0, 1001, 7));
        q.push((P2, 1000, 8));
        let lanes = q.lanes(2);
        let ids: Vec<_> = lanes
            .iter()
            .map(|l| (l.priority, l.owner, l.ids.clone()))
            .collect();
        assert_eq!(
            ids,
            vec![
                (P0, 1001, vec![7]),
                (P1, 1000, vec![1, 2]),
                (P1, 1001, vec![6]),
                (P2, 1000, vec![8]),
            ]
        );
        assert_eq!((q.count(P0), q.count(P1), q.count(P2)), (1, 6, 1));
        // Task 6 is 7th: behind 1 P0 and 5 P1.
        assert_eq!(q.position(P1, 6), Some(7));
        assert_eq!(q.ahead(P1, 7), [1, 5, 0]);
        assert_eq!(q.ahead(P2, 8), [1, 6, 0]);
        assert!(q.remove((P0, 1001, 7)));
        assert_eq!(q.lanes(1).len(), 3, "an empty lane is dropped");
        assert_eq!(q.count(P0), 0);
    }
}
