//! Admission and launching: start queued tasks while [`admit`] says so.
//!
//! The decision itself is pure ([`crate::core::admission`]); this file
//! gathers its inputs (the load, the freshest host sample) and carries out
//! the answer: launch the head of the queue, remember why it waits, or ask
//! the loop for a new host sample at a given time.

use super::actor::{now_ms, Actor};
use super::launch;
use crate::core::{admit, Admission, Load, TaskState};

impl Actor {
    /// Start queued tasks while admission allows.
    pub fn schedule(&mut self) {
        self.queue.promote(now_ms());
        while let Some(id) = self.queue.peek() {
            let starting = self
                .active
                .iter()
                .filter(|id| self.tasks[*id].state() == TaskState::Starting)
                .count();
            let load = Load {
                active: self.active.len(),
                starting,
                // A sample can only miss a task that still runs.
                last_start_ms: self.last_start_ms.filter(|_| !self.active.is_empty()),
            };
            let decision = admit(&self.cfg.admission_policy(), self.sample.as_ref(), &load);
            self.counters.admission(&decision);
            match decision {
                Admission::Wait(why) => {
                    self.wait_reason = Some(why);
                    return;
                }
                Admission::Measure { not_before_ms } => {
                    self.sample_due_ms = Some(not_before_ms);
                    self.wait_reason = Some("measuring the host after the last start".into());
                    return;
                }
                Admission::Start => {
                    self.wait_reason = None;
                    let task = self.tasks[&id].clone();
                    match launch::launch(self, task) {
                        launch::Launched::Yes => {
                            // The next decision needs a sample measured from now.
                            let now = now_ms();
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
        }
        self.wait_reason = None;
    }

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
