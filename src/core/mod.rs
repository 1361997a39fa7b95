//! The pure core: task model, state machine, priority queue and admission.
//!
//! Nothing in here does I/O, reads a clock or touches async: every function
//! takes the facts it needs (including "now") as arguments, so the whole
//! module is tested with plain, fast unit tests.

pub mod admission;
pub mod queue;
pub mod task;

pub use admission::{admit, Admission, AdmissionPolicy, HostSample};
pub use queue::ReadyQueue;
pub use task::{
    parse_unit_name, unit_name, wait_code, NewTask, Priority, Task, TaskId, TaskState, Transition,
    TransitionError,
};
