//! `GET /v1/top`: one frame of `claudinectl top`, the host and the queue.
//!
//! ```json
//! {"at_ms": 1795528201000,
//!  "host": {"cpu_busy_percent": 37.5, "mem_total_bytes": 8319852544,
//!           "mem_available_bytes": 6012416000,
//!           "pressure": {"cpu": 0.5, "memory": 0.0, "io": 1.25}},
//!  "slice": {"memory_current_bytes": 104857600, "memory_max_bytes": null},
//!  "reserved_bytes": 0, "reserve_bytes": 1073741824,
//!  "soft_max": null, "hard_max": 4,
//!  "running": 3, "queued": 7, "queued_by_priority": {"P0": 0, "P1": 7, "P2": 0},
//!  "wait_reason": "3 tasks running, the most allowed (max_running)",
//!  "tasks": [{"id": 41, "user": "alice", "state": "running", "priority": "P1",
//!             "started_ms": 1795528101000, "memory_bytes": 52428800,
//!             "cpu_percent": 98.0, "activity": "busy: 98% CPU, no output for 6 min",
//!             "argv": ["cargo", "test"]}],
//!  "queue": [{"id": 44, "user": "alice", "priority": "P1", "position": 1,
//!             "created_ms": 1795528190000,
//!             "why": "3 tasks running, the most allowed (max_running)",
//!             "argv": ["make"]}],
//!  "queue_more": 6}
//! ```
//!
//! The host figures (`host`, `slice`, the scheduler's figures and the counts
//! `running`, `queued`, `queued_by_priority`) are the whole host's, every
//! user's tasks counted. The rows are not: `tasks` (every Starting or Running
//! task) and `queue` (the first queued tasks in start order, with their
//! 1-based place in the whole queue) hold only the caller's own tasks, or
//! everyone's for root and the admin group. `queue_more` says how many more
//! queued tasks the caller may see than `queue` lists.
//!
//! Figures the daemon does not have are `null`: the host before its first
//! sample, pressure where the kernel has no PSI, a running task before the
//! monitor's first reading of it. `slice.memory_max_bytes` is `null` when
//! `claudine.slice` has no ceiling (`max`) or it cannot be read.

use crate::core::{Priority, TaskId, TaskState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// At most this many queued rows in one answer.
pub const TOP_QUEUE_ROWS: usize = 50;

/// One frame of `top` (see the module documentation for the JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TopView {
    /// When the daemon built the answer (Unix ms).
    pub at_ms: i64,
    pub host: TopHost,
    pub slice: TopSlice,
    /// Memory admission has promised to started tasks that they do not use
    /// yet.
    pub reserved_bytes: u64,
    /// Memory admission keeps free for the host.
    pub reserve_bytes: u64,
    /// The concurrency the scheduler aims at now (`None`: none).
    pub soft_max: Option<usize>,
    /// The most tasks that may run at once (`max_running`; `None`: no cap).
    pub hard_max: Option<usize>,
    /// Starting or Running tasks, every user's.
    pub running: usize,
    /// Queued tasks, every user's.
    pub queued: usize,
    pub queued_by_priority: BTreeMap<Priority, usize>,
    /// Why the head of the queue has not started, if it waits.
    pub wait_reason: Option<String>,
    /// Starting and Running tasks the caller may see, by id.
    pub tasks: Vec<TopTask>,
    /// The first queued tasks the caller may see, in start order.
    pub queue: Vec<TopQueued>,
    /// Queued tasks the caller may see that `queue` leaves out.
    pub queue_more: usize,
}

/// The host, from the daemon's latest sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TopHost {
    /// 0..=100 over the last sample's window.
    pub cpu_busy_percent: Option<f64>,
    pub mem_total_bytes: Option<u64>,
    pub mem_available_bytes: Option<u64>,
    /// `/proc/pressure/*`, the "some" line's avg10 (percent of time).
    pub pressure: TopPressure,
}

/// Pressure stall information, "some" avg10, per resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TopPressure {
    pub cpu: Option<f64>,
    pub memory: Option<f64>,
    pub io: Option<f64>,
}

/// `claudine.slice`, where every task runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TopSlice {
    /// Its `memory.current`.
    pub memory_current_bytes: Option<u64>,
    /// Its `memory.max`; `None` when it is `max` (no ceiling) or unknown.
    pub memory_max_bytes: Option<u64>,
}

/// A Starting or Running task, with the monitor's latest reading of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopTask {
    pub id: TaskId,
    pub user: String,
    pub state: TaskState,
    pub priority: Priority,
    /// When its command started (`None` while Starting).
    pub started_ms: Option<i64>,
    /// `memory.current` of its scope.
    pub memory_bytes: Option<u64>,
    /// CPU share over about the last 10 s, 100 = one core.
    pub cpu_percent: Option<f64>,
    /// The monitor's words: `active: last output 3 s ago`, `busy: 98% CPU,
    /// no output for 6 min`...
    pub activity: Option<String>,
    pub argv: Vec<String>,
}

/// A queued task and why it waits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopQueued {
    pub id: TaskId,
    pub user: String,
    pub priority: Priority,
    /// 1-based place in the whole queue (every user's tasks).
    pub position: usize,
    pub created_ms: i64,
    pub why: Option<String>,
    pub argv: Vec<String>,
}
