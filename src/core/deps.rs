//! Task dependencies (`claudinectl submit --after 41,42`), pure.
//!
//! A task submitted `--after 41,42` stays queued until 41 and 42 have both
//! succeeded. If one of them fails, is cancelled or is interrupted, the
//! dependent is cancelled with a reason naming it ("dependency 41 failed:
//! exited with status 3"); submitted `--after-any`, it runs once all of
//! them have ended, whatever their outcome. An interrupted dependency counts
//! as one that did not succeed, although its user may resume it later: the
//! dependent is decided when the dependency ends, not when it is resumed.
//!
//! [`readiness`] decides from the dependencies' states; [`check_after`]
//! checks the list itself at submit. [`DepIndex`] is the daemon's reverse
//! index (dependency → the tasks waiting for it): a waiting task is kept out
//! of the ready queue, so a scheduling decision never sees it, and a task
//! that ends re-evaluates only its own dependents.
//!
//! Dependencies gate a task's first launch only (it has made no attempt
//! yet): once it was launched, they had all been met, and a later requeue or
//! relaunch of its own does not wait for them again.
//!
//! Why no cycle can form: dependencies are given only at submit, and only
//! on tasks that already exist. Ids are handed out in submission order and
//! never reused, so every dependency has a smaller id than its dependent,
//! and no request changes a task's dependencies afterwards (`resume` keeps
//! them). A chain of dependencies therefore strictly decreases in id and
//! cannot come back to where it started; a task cannot name itself, as its
//! id does not exist yet when it is submitted (that id is "not found").

use super::task::{TaskId, TaskState};
use std::collections::{BTreeSet, HashMap};

/// The most dependencies one task may name.
pub const MAX_AFTER: usize = 64;

/// Waiting words list at most this many dependencies, then "and N more".
const WORDS_LISTED: usize = 5;

/// One dependency as the decision sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepState<'a> {
    pub id: TaskId,
    pub state: TaskState,
    /// Why it ended, if it did and says.
    pub reason: Option<&'a str>,
}

/// What a queued dependent should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Every dependency is done (succeeded, or ended at all with
    /// `--after-any`): it may start.
    Ready,
    /// Some have not ended: their ids, and why it waits in words
    /// ("waiting for tasks 41 (running), 42 (queued)").
    Waiting { pending: Vec<TaskId>, words: String },
    /// A dependency ended without succeeding (and not `--after-any`): the
    /// dependent is cancelled with this reason ("dependency 41 failed: …").
    Cancel { dependency: TaskId, reason: String },
}

/// Whether a queued task may start, from the states of its dependencies.
/// Dependencies already known to have succeeded may be left out.
pub fn readiness(after_any: bool, deps: &[DepState<'_>]) -> Readiness {
    if !after_any {
        if let Some(d) = deps.iter().find(|d| failed(d.state)) {
            return Readiness::Cancel {
                dependency: d.id,
                reason: format!("dependency {} {}", d.id, ending(d, "")),
            };
        }
    }
    let pending: Vec<&DepState<'_>> = deps.iter().filter(|d| !d.state.is_terminal()).collect();
    if pending.is_empty() {
        return Readiness::Ready;
    }
    Readiness::Waiting {
        words: waiting_words(&pending),
        pending: pending.iter().map(|d| d.id).collect(),
    }
}

/// At submit: a dependency that already ended without succeeding is refused
/// (the task would only be cancelled at once), unless `--after-any`.
pub fn refuse_at_submit(after_any: bool, deps: &[DepState<'_>]) -> Result<(), String> {
    match deps.iter().find(|d| failed(d.state)) {
        Some(d) if !after_any => Err(format!(
            "task {} {}; use --after-any to run anyway",
            d.id,
            ending(d, "already ")
        )),
        _ => Ok(()),
    }
}

/// The list of dependencies as given: at most [`MAX_AFTER`], no id twice,
/// ids positive.
pub fn check_after(ids: &[TaskId]) -> Result<(), String> {
    if ids.len() > MAX_AFTER {
        return Err(format!(
            "--after names {} tasks; at most {MAX_AFTER} are allowed",
            ids.len()
        ));
    }
    if let Some(id) = ids.iter().find(|id| **id <= 0) {
        return Err(format!(
            "invalid task id {id} in --after: expected a positive number"
        ));
    }
    let mut seen = BTreeSet::new();
    if let Some(id) = ids.iter().find(|id| !seen.insert(**id)) {
        return Err(format!("task {id} is named twice in --after"));
    }
    Ok(())
}

/// Ended without succeeding.
fn failed(state: TaskState) -> bool {
    state.is_terminal() && state != TaskState::Succeeded
}

/// "failed: <reason>", "was cancelled: <reason>", "was interrupted", with
/// `already` ("already ") put where English wants it.
fn ending(d: &DepState<'_>, already: &str) -> String {
    let what = match d.state {
        TaskState::Failed => format!("{already}failed"),
        TaskState::Cancelled => format!("was {already}cancelled"),
        TaskState::Interrupted => format!("was {already}interrupted"),
        other => format!("is {already}{other}"),
    };
    match d.reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => format!("{what}: {r}"),
        None => what,
    }
}

/// "waiting for task 41 (running)", "waiting for tasks 41 (running), 42
/// (queued) and 3 more".
fn waiting_words(pending: &[&DepState<'_>]) -> String {
    let listed: Vec<String> = pending
        .iter()
        .take(WORDS_LISTED)
        .map(|d| format!("{} ({})", d.id, d.state))
        .collect();
    let more = match pending.len().saturating_sub(WORDS_LISTED) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    format!(
        "waiting for task{} {}{more}",
        if pending.len() == 1 { "" } else { "s" },
        listed.join(", ")
    )
}

/// The daemon's index of queued tasks waiting for their dependencies: for
/// each such task the dependencies that have not ended, and for each of
/// those the tasks waiting for it. Every operation costs the number of
/// edges it touches (at most [`MAX_AFTER`] per dependent), never the
/// length of the queue.
#[derive(Debug, Default, Clone)]
pub struct DepIndex {
    /// Held task → its dependencies that have not ended.
    waiting: HashMap<TaskId, Vec<TaskId>>,
    /// Dependency → the held tasks waiting for it.
    dependents: HashMap<TaskId, BTreeSet<TaskId>>,
}

impl DepIndex {
    /// Hold `dependent` until each of `pending` has ended.
    pub fn hold(&mut self, dependent: TaskId, pending: &[TaskId]) {
        self.forget(dependent);
        for dep in pending {
            self.dependents.entry(*dep).or_default().insert(dependent);
        }
        self.waiting.insert(dependent, pending.to_vec());
    }

    /// Whether `id` is held for its dependencies.
    pub fn is_held(&self, id: TaskId) -> bool {
        self.waiting.contains_key(&id)
    }

    /// The dependencies a held task still waits for.
    pub fn pending(&self, id: TaskId) -> Option<&[TaskId]> {
        self.waiting.get(&id).map(Vec::as_slice)
    }

    /// Whether a task waits for `dep`.
    pub fn has_dependents(&self, dep: TaskId) -> bool {
        self.dependents.contains_key(&dep)
    }

    /// `dep` ended: the tasks that waited for it, in id order, each no
    /// longer waiting for it (they stay held until [`DepIndex::forget`]).
    pub fn ended(&mut self, dep: TaskId) -> Vec<TaskId> {
        let Some(ids) = self.dependents.remove(&dep) else {
            return Vec::new();
        };
        for id in &ids {
            if let Some(p) = self.waiting.get_mut(id) {
                p.retain(|d| *d != dep);
            }
        }
        ids.into_iter().collect()
    }

    /// `id` waits no more (released, cancelled or ended).
    pub fn forget(&mut self, id: TaskId) {
        let Some(pending) = self.waiting.remove(&id) else {
            return;
        };
        for dep in pending {
            if let Some(set) = self.dependents.get_mut(&dep) {
                set.remove(&id);
                if set.is_empty() {
                    self.dependents.remove(&dep);
                }
            }
        }
    }

    /// How many tasks are held.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

#[cfg(test)]
#[path = "deps_tests.rs"]
mod tests;
