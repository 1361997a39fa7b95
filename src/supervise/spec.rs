//! What the daemon tells a supervisor, and what the supervisor leaves behind.
//!
//! The daemon spawns `claudine-supervise <task-id>` with:
//! - stdin: a pipe. The daemon writes one line of JSON ([`LaunchSpec`]), then,
//!   once the task's scope exists, the line `go`. End of file before `go`
//!   means "abort": the supervisor exits 0 without running anything.
//! - stdout and stderr: the task's log file, opened by the daemon.
//!
//! After `go` the supervisor forks the command (dropping to the user's
//! uid/gid/groups and entering `cwd` as that user), waits for it, and writes an
//! [`ExitRecord`] to `exit_path` atomically (temp file, fsync, rename, fsync of
//! the directory) before it exits. The record is what survives a daemon that
//! is down when the command ends.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The line the daemon sends once the scope exists.
pub const GO_LINE: &str = "go";

/// Exit status the supervisor gives the command when it could not be started
/// (cannot enter cwd, exec failed, ...), as a shell would for "not found".
pub const LAUNCH_ERROR_EXIT: i32 = 127;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchSpec {
    pub task_id: i64,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (the user's, from the group database).
    pub groups: Vec<u32>,
    pub user: String,
    pub argv: Vec<String>,
    pub cwd: String,
    /// The complete environment of the command.
    pub env: Vec<(String, String)>,
    /// Where the exit record goes (root-owned directory).
    pub exit_path: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    pub task_id: i64,
    /// Pid of the command (the supervisor's child), if it was forked.
    pub pid: Option<u32>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// Set when the command could not be started; names the step and path.
    pub error: Option<String>,
    pub finished_ms: i64,
}
