//! What the daemon tells a supervisor, and what the supervisor leaves behind.
//!
//! The daemon spawns `claudine-supervise <task-id>` with:
//! - stdin: a pipe. The daemon writes one line of JSON ([`LaunchSpec`]), then,
//!   once the task's scope exists, the line `go`. End of file before `go`
//!   means "abort": the supervisor exits 0 without running anything.
//! - stdout: the task's stdout log (`logs/<id>.out`), stderr: its stderr log
//!   (`logs/<id>.err`), fd 3: the combined log (`logs/<id>.log`), all opened
//!   by the daemon for appending. The command never writes to them itself:
//!   its stdout and stderr are pipes that the supervisor relays into the files
//!   (stdout → `.out` and `.log`, stderr → `.err` and `.log`), enforcing the
//!   per-stream size cap and the free-space reserve of [`LogLimits`], and
//!   saying in the log where and why output was cut.
//!
//! After `go` the supervisor first records, durably, that attempt
//! [`LaunchSpec::attempt`] is starting (an [`ExitRecord`] with
//! `finished_ms: None`), and only then forks the command (dropping to the
//! user's uid/gid/groups, rlimits, umask and a fresh session keyring, and
//! entering `cwd` as that user). It waits for the command, reads the scope's
//! final cgroup figures, and writes the complete [`ExitRecord`] to
//! `exit_path` atomically (temp file, fsync, rename, fsync of the directory)
//! before it exits. The record is what survives a daemon that is down when
//! the command ends, and it is how a restarted daemon tells "never ran" from
//! "ran, outcome unknown".

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The line the daemon sends once the scope exists.
pub const GO_LINE: &str = "go";

/// Exit status the supervisor gives the command when it could not be started
/// (cannot enter cwd, exec failed, ...), as a shell would for "not found".
pub const LAUNCH_ERROR_EXIT: i32 = 127;

/// The file descriptor the combined log arrives on.
pub const COMBINED_LOG_FD: i32 = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchSpec {
    pub task_id: i64,
    /// The launch attempt (1 for the first launch); in the exit record too.
    pub attempt: u32,
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
    /// The command's umask (the submitter's, 0o022 by default).
    pub umask: u32,
    /// Resource limits the command gets, as a login of the user would.
    pub rlimits: Vec<RlimitSpec>,
    /// Caps on what the supervisor writes to the log files.
    pub log_limits: LogLimits,
    /// Set for a run of Claude Code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claude: Option<ClaudeRun>,
    /// The task's own git worktree: created (as the user) before the
    /// command runs if it does not exist yet; `cwd` is inside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<WorktreeRun>,
}

/// A task's git worktree, as the supervisor makes sure of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorktreeRun {
    /// The repository's top directory.
    pub repo: String,
    pub path: String,
    pub branch: String,
}

/// What a Claude Code run needs beyond a command's launch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaudeRun {
    /// The prompt, in a root-owned file (daemon's state directory): the
    /// supervisor opens it, removes it and gives it to the command as stdin.
    pub prompt_path: PathBuf,
    /// Where the run's progress (`core::claude_stream::Progress`, JSON) is
    /// replaced at each turn, tool use, API retry and at the end, for the
    /// daemon's monitor (root-owned directory; not synced).
    pub progress_path: PathBuf,
    /// The user's environment file (`~/.config/claudine/env`), read as the
    /// user; a missing file is no error.
    pub env_file: Option<String>,
    /// Variables the file does not override (those given at submit).
    #[serde(default)]
    pub keep_env: Vec<String>,
}

/// One resource limit. `None` is unlimited (RLIM_INFINITY).
///
/// The values are what `setrlimit(2)` takes, not the units of
/// `limits.conf`: bytes for the sizes (core, data, fsize, memlock, rss,
/// stack, as, msgqueue; limits.conf counts KiB for most of them), seconds
/// for cpu, and `20 - nice` for nice (the kernel's 1..=40 scale). The
/// supervisor sets them as root, before dropping privileges, so a hard limit
/// may be raised. A soft limit above the hard one (an unlimited soft limit
/// under a finite hard one included), a name given twice and an unknown name
/// are refused before `go`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RlimitSpec {
    /// The limits.conf name: core, data, fsize, memlock, nofile, rss, stack,
    /// cpu, nproc, as, locks, sigpending, msgqueue, nice, rtprio.
    pub resource: String,
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogLimits {
    /// Most bytes kept per stream (stdout, stderr) and attempt; the rest is
    /// read and dropped, and the log says so. At least 1.
    pub max_bytes_per_stream: u64,
    /// Stop writing while the log filesystem has less than this free (the
    /// reserve that keeps the daemon's database writable). 0 turns the check
    /// off. Free space is read at most once a second and once per MiB
    /// written, so the reserve can be overrun by about one second of output
    /// (never more than 64 MiB).
    pub min_free_bytes: u64,
}

/// What the supervisor records about one attempt: first only that it started
/// (`finished_ms: None`), then how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExitRecord {
    pub task_id: i64,
    #[serde(default)]
    pub attempt: u32,
    #[serde(default)]
    pub started_ms: i64,
    /// Pid of the command (the supervisor's child), if it was forked.
    pub pid: Option<u32>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// Set when the command could not be started; names the step and path.
    pub error: Option<String>,
    /// `None` while the command has started and not yet ended.
    pub finished_ms: Option<i64>,
    /// The scope's cgroup figures read after the command ended.
    #[serde(default)]
    pub usage: Option<FinalUsage>,
    /// What the command wrote, and whether output was cut.
    #[serde(default)]
    pub output: Option<OutputStats>,
    /// What a Claude Code run's stream showed, to its last line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claude: Option<crate::core::claude_stream::Progress>,
    /// The supervisor was sent SIGTERM while the command ran: its scope was
    /// stopped (by systemd at a shutdown or reboot, or from outside).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stopped: bool,
}

impl ExitRecord {
    /// True once the record says how the command ended.
    pub fn is_final(&self) -> bool {
        self.finished_ms.is_some()
    }
}

/// The scope's final cgroup figures (the scope vanishes right after).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalUsage {
    /// `memory.peak`, bytes.
    pub memory_peak: Option<u64>,
    /// `memory.events`: counts of high, max, oom and oom_kill.
    pub memory_high: Option<u64>,
    pub memory_max: Option<u64>,
    pub memory_oom: Option<u64>,
    pub memory_oom_kill: Option<u64>,
    /// `cpu.stat`: microseconds.
    pub cpu_usage_usec: Option<u64>,
    pub cpu_user_usec: Option<u64>,
    pub cpu_system_usec: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputStats {
    /// Bytes the command wrote, kept or not.
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    /// Bytes dropped by the size cap or the free-space reserve.
    pub stdout_dropped: u64,
    pub stderr_dropped: u64,
    /// The last non-blank line the command wrote to stderr (300 characters
    /// at most): what a failing program last said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr_last_line: Option<String>,
}
