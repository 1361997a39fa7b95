//! The pure core: task model, state machine, priority queue, the scheduler
//! (`scheduler`: order and admission, over memory reservations `reserve` and
//! what ended tasks taught `learn`), dependencies between tasks (`deps`) and
//! recovery decisions.
//!
//! Nothing in here does I/O, reads a clock or touches async: every function
//! takes the facts it needs (including "now") as arguments and returns what
//! to do, so the whole module is tested with plain, fast unit tests.
//!
//! Monitoring's decisions live here too: the event model (`events`,
//! `event_detail`), stall detection (`stall`), memory thresholds with
//! hysteresis (`memwatch`), the two joined over one attempt (`watch`), the bounded metrics history (`history`) and the
//! sizes and durations users type and read (`units`).
//!
//! Claude Code tasks: `claude` is what makes a task one (prompt, session,
//! options) and builds each run's command line; `claude_stream` reads the
//! CLI's stream-json output into typed lines, folds them into a run's
//! progress and judges its end; `governor` decides when an account's Claude
//! tasks may start (cooldowns after rate, overload and usage limits, holds
//! while a sibling retries, budgets of tokens and cost, a global start
//! rate); `envfile` reads the per-user environment file.

pub mod admission;
pub mod checkpoint;
pub mod claude;
pub mod claude_stream;
pub mod deps;
pub mod envfile;
pub mod event_detail;
pub mod events;
pub mod governor;
pub mod history;
pub mod learn;
pub mod lifecycle;
pub mod limits;
pub mod memwatch;
pub mod protect;
pub mod queue;
pub mod recovery;
pub mod reserve;
pub mod scheduler;
pub mod stall;
pub mod task;
pub mod transition;
pub mod units;
pub mod watch;
pub mod worktree;

pub use admission::HostSample;
pub use events::{EventDetail, EventKind, TaskEvent};
pub use history::{History, HistoryPolicy, Sample};
pub use limits::Limits;
pub use memwatch::{MemWatch, MemoryChange, MemoryPolicy};
pub use queue::ReadyQueue;
pub use recovery::{recover, Evidence, Recovery};
pub use reserve::{Ledger, ReservePolicy};
pub use stall::{StallChange, StallPolicy, StallWatch};
pub use task::{
    parse_unit_name, unit_name, Active, NewTask, Outcome, Priority, Status, StatusFields,
    Suspension, Task, TaskId, TaskState, Waiting, DEFAULT_UMASK,
};
pub use transition::{wait_code, ClaudeEnd, ClaudeVerdict, Transition, TransitionError};
pub use watch::{Level, Observation, TaskWatch, WatchPolicy};
