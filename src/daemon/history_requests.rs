//! Requests about a task's metrics history: `GET /v1/tasks/{id}/metrics`.
//!
//! The history itself is written by the monitor (one sample a second of
//! each running task, folded as `core::history` says) into the store's
//! `samples` table; this module only reads it back for a client.

use super::actor::{internal, Actor};
use super::users::Caller;
use crate::core::TaskId;
use crate::proto::{ErrorInfo, MetricsView};

impl Actor {
    /// The task's points, oldest first, with their rates. Another user's
    /// task is "not found", as for every other request.
    pub(super) fn metrics(&self, caller: &Caller, id: TaskId) -> Result<MetricsView, ErrorInfo> {
        let task = self.visible(caller, id)?;
        let samples = self.store.samples(id).map_err(internal)?;
        Ok(MetricsView::new(id, task.state(), &samples))
    }
}
