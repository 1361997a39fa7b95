//! The per-task supervisor (see [`spec`] for its contract with the daemon).
//!
//! - [`input`] reads the argument, the spec line and the `go` line, and
//!   validates them.
//! - `child` and `launch` fork, drop privileges and exec the command.
//! - [`run`] is the main flow of `claudine-supervise`.
//! - [`exitfile`] writes the exit record here and reads it in the daemon.

mod child;
pub mod exitfile;
pub mod input;
mod launch;
pub mod run;
pub mod spec;

pub use exitfile::{exit_record_path, read_exit_record, write_exit_record, ExitFileError};
pub use spec::{
    ExitRecord, FinalUsage, LaunchSpec, LogLimits, OutputStats, RlimitSpec, GO_LINE,
    LAUNCH_ERROR_EXIT,
};
