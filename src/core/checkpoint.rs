//! A checkpoint: what is needed to continue a task's work later, taken at
//! every suspend, every `checkpoint_interval` while it runs, and before a
//! cold suspension (protective mode). Stored one row per checkpoint
//! (`checkpoints` table), numbered from 1 per task; `claudinectl
//! checkpoints ID` lists them.
//!
//! For a task in a git repository the working tree is recorded as a commit
//! under `refs/claudine/<id>/<n>`, made as the user with a temporary index
//! (`crate::gitops::snapshot`): the user's branches, index, stash and files
//! are never touched, and a rebase or merge in progress is recorded as
//! such.

use super::task::TaskId;
use serde::{Deserialize, Serialize};

/// Why a checkpoint was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointWhy {
    /// Suspended (by a user or by protective mode).
    Suspend,
    /// Every `checkpoint_interval` of running.
    Interval,
    /// Before a cold suspension: the scope is stopped next.
    Cold,
}

impl CheckpointWhy {
    pub fn name(self) -> &'static str {
        match self {
            CheckpointWhy::Suspend => "suspend",
            CheckpointWhy::Interval => "interval",
            CheckpointWhy::Cold => "cold",
        }
    }
}

/// The git side of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitCheckpoint {
    /// The repository's top directory.
    pub toplevel: String,
    /// The snapshot commit and its ref (`refs/claudine/<id>/<n>`).
    pub commit: String,
    pub ref_name: String,
    /// HEAD when it was taken (`None`: no commit yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// The branch checked out (`None`: detached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// An operation in progress: "a rebase in progress", … (`None`: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_progress: Option<String>,
    /// Files differing from HEAD.
    pub changed: u32,
}

/// One checkpoint of one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub task: TaskId,
    /// 1, 2, … per task (set when stored).
    #[serde(default)]
    pub n: u32,
    pub at_ms: i64,
    pub attempt: u32,
    pub why: CheckpointWhy,
    /// The command (a Claude task: its run's command line, prompt excluded).
    pub argv: Vec<String>,
    pub cwd: String,
    /// The names of the environment it was given (never the values).
    pub env_names: Vec<String>,
    /// A Claude Code task's session: a relaunch continues it (`--resume`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitCheckpoint>,
    /// Why there is no git snapshot ("not in a git repository", or the
    /// error of the snapshot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_note: Option<String>,
    /// How long taking it took, ms.
    pub took_ms: i64,
}

impl Checkpoint {
    /// The ref a snapshot of checkpoint `n` of task `id` goes to.
    pub fn ref_name(id: TaskId, n: u32) -> String {
        format!("refs/claudine/{id}/{n}")
    }
}
