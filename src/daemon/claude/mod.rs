//! Claude Code tasks in the daemon: finding and checking the binary at
//! submit (`binary`), what a launch adds (`launch`: the run's command line,
//! the prompt file, the environment file), judging a run's end (`ending`),
//! the usage governor in the actor (`govern`) and `GET /v1/usage`
//! (`usage`).
//! The pure decisions are in `core::claude` and `core::claude_stream`.

pub mod binary;
pub mod ending;
pub mod govern;
pub mod launch;
pub mod resume;
pub mod submit;
pub mod usage;
