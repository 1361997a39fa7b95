//! The ready queue: P0 before P1 before P2, FIFO (by task id, which the store
//! hands out in submission order) within one priority.
//!
//! A task that must not start before a time (a cooldown, a retry backoff)
//! waits in a second set ordered by that time, and moves to the ready set
//! when [`ReadyQueue::promote`] is called at or after it.
//!
//! Only ids are kept here; the task records live in the daemon's state. The
//! cost of push, pop and remove is O(log n) whatever the queue length.

use super::task::{Priority, TaskId};
use std::collections::BTreeSet;

#[derive(Debug, Default, Clone)]
pub struct ReadyQueue {
    set: BTreeSet<(Priority, TaskId)>,
    /// (eligible at ms, priority, id) of tasks not yet eligible.
    later: BTreeSet<(i64, Priority, TaskId)>,
}

impl ReadyQueue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, priority: Priority, id: TaskId) {
        self.set.insert((priority, id));
    }

    /// The task that should start next, without removing it.
    pub fn peek(&self) -> Option<TaskId> {
        self.set.first().map(|(_, id)| *id)
    }

    /// Queue a task that may not start before `eligible_ms`.
    pub fn push_at(&mut self, priority: Priority, id: TaskId, eligible_ms: i64) {
        self.later.insert((eligible_ms, priority, id));
    }

    /// Move every task eligible at `now_ms` to the ready set; returns how many.
    pub fn promote(&mut self, now_ms: i64) -> usize {
        let mut n = 0;
        while let Some(&(at, p, id)) = self.later.first() {
            if at > now_ms {
                break;
            }
            self.later.pop_first();
            self.set.insert((p, id));
            n += 1;
        }
        n
    }

    /// When the next waiting task becomes eligible.
    pub fn next_eligible_ms(&self) -> Option<i64> {
        self.later.first().map(|(at, _, _)| *at)
    }

    pub fn pop(&mut self) -> Option<TaskId> {
        self.set.pop_first().map(|(_, id)| id)
    }

    /// Remove a task, ready or waiting for its time (O(n) for the latter,
    /// which only cooldowns use).
    pub fn remove(&mut self, priority: Priority, id: TaskId) -> bool {
        if self.set.remove(&(priority, id)) {
            return true;
        }
        let found = self
            .later
            .iter()
            .find(|(_, p, i)| *p == priority && *i == id);
        match found.copied() {
            Some(k) => self.later.remove(&k),
            None => false,
        }
    }

    /// Ready ids in start order (tasks waiting for their time are not listed).
    pub fn iter(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.set.iter().map(|(_, id)| *id)
    }

    /// Every queued task, ready or waiting for its time.
    pub fn len(&self) -> usize {
        self.set.len() + self.later.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.later.is_empty()
    }

    /// 1-based position of a task in start order, if queued.
    pub fn position(&self, priority: Priority, id: TaskId) -> Option<usize> {
        if !self.set.contains(&(priority, id)) {
            return None;
        }
        Some(self.set.range(..(priority, id)).count() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Priority::*;

    #[test]
    fn priority_first_then_fifo() {
        let mut q = ReadyQueue::new();
        q.push(P2, 1);
        q.push(P1, 2);
        q.push(P0, 3);
        q.push(P1, 4);
        q.push(P0, 5);
        assert_eq!(q.position(P1, 4), Some(4));
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![3, 5, 2, 4, 1]);
    }

    #[test]
    fn waiting_tasks_become_ready_at_their_time() {
        let mut q = ReadyQueue::new();
        q.push(P1, 1);
        q.push_at(P0, 2, 100);
        q.push_at(P1, 3, 50);
        assert_eq!(q.len(), 3);
        assert_eq!(q.peek(), Some(1));
        assert_eq!(q.next_eligible_ms(), Some(50));
        assert_eq!(q.promote(49), 0);
        assert_eq!(q.promote(50), 1);
        assert_eq!(q.position(P1, 3), Some(2));
        assert_eq!(q.promote(1000), 1);
        // The P0 task jumps ahead once eligible.
        assert_eq!(q.peek(), Some(2));
        assert!(q.remove(P1, 3));
        q.push_at(P2, 9, 5000);
        assert!(q.remove(P2, 9));
        assert_eq!(q.next_eligible_ms(), None);
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn remove_and_requeue_keep_submission_order() {
        let mut q = ReadyQueue::new();
        for id in 1..=3 {
            q.push(P1, id);
        }
        assert!(q.remove(P1, 2));
        assert!(!q.remove(P1, 2));
        assert_eq!(q.len(), 2);
        // A task put back (daemon restarted before it ran) regains its place.
        q.push(P1, 2);
        assert_eq!(q.peek(), Some(1));
        assert_eq!(q.position(P1, 2), Some(2));
        assert_eq!(q.position(P0, 2), None);
    }
}
