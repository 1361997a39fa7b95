//! The ready queue: P0 before P1 before P2, FIFO (by task id, which the store
//! hands out in submission order) within one priority.
//!
//! Only ids are kept here; the task records live in the daemon's state. The
//! cost of push, pop and remove is O(log n) whatever the queue length.

use super::task::{Priority, TaskId};
use std::collections::BTreeSet;

#[derive(Debug, Default, Clone)]
pub struct ReadyQueue {
    set: BTreeSet<(Priority, TaskId)>,
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

    pub fn pop(&mut self) -> Option<TaskId> {
        self.set.pop_first().map(|(_, id)| id)
    }

    pub fn remove(&mut self, priority: Priority, id: TaskId) -> bool {
        self.set.remove(&(priority, id))
    }

    /// Ids in start order.
    pub fn iter(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.set.iter().map(|(_, id)| *id)
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
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
