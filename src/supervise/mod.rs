//! The per-task supervisor (see [`spec`] for its contract with the daemon).

pub mod spec;
pub use spec::{ExitRecord, LaunchSpec, GO_LINE, LAUNCH_ERROR_EXIT};
