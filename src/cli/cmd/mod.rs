//! One module per subcommand: its clap arguments, its request and how its
//! answer is shown.

pub mod cancel;
pub mod checkpoints;
pub mod clean;
pub mod events;
pub mod list;
pub mod logs;
pub mod mcp;
pub mod metrics;
pub mod resume;
pub mod status;
pub mod status_claude;
pub mod submit;
pub mod submit_claude;
pub mod suspend;
pub mod top;
pub mod usage;
pub mod version;
pub mod wait;

use crate::core::TaskId;

/// clap parser for a task id: a positive integer.
pub(crate) fn parse_id(s: &str) -> Result<TaskId, String> {
    match s.parse::<TaskId>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(format!("invalid task id {s:?}: expected a positive number")),
    }
}
