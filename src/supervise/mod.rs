//! The per-task supervisor (see [`spec`] for its contract with the daemon).
//!
//! - [`input`] reads the argument, the spec line and the `go` line, and
//!   validates them.
//! - [`run`] is the main flow of `claudine-supervise`: the start record,
//!   the command, the final record.
//! - `prepare` builds, before the fork, everything the child uses; `child`
//!   is the child between `fork` and `execve` (privileges, limits, keyring,
//!   umask, cwd); `launch` forks, relays and reaps.
//! - `relay` copies the command's stdout and stderr pipes into the log
//!   files (`logs`), within the size cap and the free-space reserve
//!   (`reserve`).
//! - `usage` reads the scope's final cgroup figures (through
//!   [`crate::cgroup`]).
//! - `claude_tap` reads a Claude Code run's stdout as it is relayed (the
//!   stream parser, a progress file for the monitor, the final progress in
//!   the exit record); `envfile` reads the user's environment file as the
//!   user.
//! - [`exitfile`] writes the exit record here and reads it in the daemon.

mod child;
mod claude_tap;
mod envfile;
pub mod exitfile;
pub mod input;
mod launch;
mod logs;
mod prepare;
mod relay;
mod reserve;
pub mod run;
pub mod spec;
mod usage;

pub use exitfile::{exit_record_path, read_exit_record, write_exit_record, ExitFileError};
pub use spec::{
    ClaudeRun, ExitRecord, FinalUsage, LaunchSpec, LogLimits, OutputStats, RlimitSpec, WorktreeRun,
    COMBINED_LOG_FD, GO_LINE, LAUNCH_ERROR_EXIT,
};
