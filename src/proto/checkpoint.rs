//! `GET /v1/tasks/{id}/checkpoints`: a task's checkpoints
//! (`core::checkpoint`), oldest first.

use crate::core::checkpoint::Checkpoint;
use crate::core::{TaskId, TaskState};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointsView {
    pub id: TaskId,
    pub state: TaskState,
    pub checkpoints: Vec<Checkpoint>,
}
