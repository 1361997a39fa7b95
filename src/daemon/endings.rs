//! How an attempt ends, and what follows.
//!
//! - [`Event::ScopeReady`]: the scope exists and `go` was written (Running),
//!   or the launch failed before `go` (Failed; Cancelled if a cancel came
//!   first; queued again, after the old unit is gone, if a unit of the same
//!   name was in the way).
//! - [`Event::SupervisorGone`]: read the record the supervisor left and let
//!   [`recover`] decide: finish, requeue (the command never ran) or
//!   interrupted (it ran and its status is lost). Nothing is invented: a
//!   record that cannot be read is retried, and an end that cannot be
//!   committed is retried on every tick with the record kept on disk.
//! - Requeue always goes through a drain: the task waits outside the ready
//!   queue until `stop_and_wait_gone` says the previous attempt's unit is
//!   unloaded ([`Event::UnitGone`]), so attempt n+1 never meets attempt n.
//!
//! [`Event::ScopeReady`]: super::actor::Event::ScopeReady
//! [`Event::SupervisorGone`]: super::actor::Event::SupervisorGone
//! [`Event::UnitGone`]: super::actor::Event::UnitGone

use super::actor::{now_ms, Actor, Event, LaunchError};
use crate::core::memwatch::kill_reason;
use crate::core::{recover, Evidence, Recovery, Task, TaskId, TaskState, Transition};
use crate::store::AttemptEnd;
use crate::supervise::{exit_record_path, read_exit_record, ExitRecord};
use std::time::Duration;
use tracing::{error, info, warn};

/// A task whose attempts keep failing to start is failed after this many.
pub const MAX_UNSTARTED_ATTEMPTS: u32 = 5;

impl Actor {
    pub(super) fn scope_ready(
        &mut self,
        id: TaskId,
        attempt: u32,
        result: Result<(), LaunchError>,
    ) {
        self.aborts.remove(&id);
        let Some(task) = self.tasks.get(&id).cloned() else {
            return;
        };
        if task.state() != TaskState::Starting || task.attempts != attempt {
            return;
        }
        let now = now_ms();
        match result {
            Ok(()) => {
                #[cfg(feature = "fault-injection")]
                super::fault::point("after-go", id);
                match self.transition(
                    &task,
                    Transition::Started {
                        attempt,
                        now_ms: now,
                    },
                ) {
                    Ok(t) => {
                        info!(
                            claudine_task_id = id,
                            claudine_user = %t.owner_name,
                            claudine_state = "running",
                            claudine_attempt = attempt,
                            "task {id} attempt {attempt} started in {} as {} (uid {})",
                            t.unit_name(),
                            t.owner_name,
                            t.owner_uid
                        );
                    }
                    // The command runs; its end will be recorded from Starting.
                    Err(e) => warn!(
                        claudine_task_id = id,
                        "task {id} runs, but Running was not recorded: {e}"
                    ),
                }
            }
            Err(e) if e.retryable() => {
                self.requeue(
                    &task,
                    attempt,
                    format!(
                        "{}; the unit is stopped and the task queued again",
                        e.message
                    ),
                );
            }
            Err(e) => {
                let ev = Transition::LaunchFailed {
                    attempt,
                    reason: e.message,
                    now_ms: now,
                };
                if let Ok(t) = self.transition(&task, ev) {
                    // The supervisor exits on its own (no `go`); the scope,
                    // if it was made, holds nothing once it has.
                    self.stop_scope(&t);
                }
            }
        }
    }

    pub(super) fn supervisor_gone(&mut self, id: TaskId, attempt: u32) {
        let Some(task) = self.tasks.get(&id).cloned() else {
            return;
        };
        let current = task.active().map(|a| a.attempt);
        if current != Some(attempt) {
            return;
        }
        let record = match self.read_record(id) {
            Ok(r) => r,
            Err(e) => {
                // Unreadable now (I/O error): try again shortly, decide nothing.
                error!(claudine_task_id = id, "{e}; retrying");
                self.retry_later(
                    Event::SupervisorGone { id, attempt },
                    Duration::from_secs(2),
                );
                return;
            }
        };
        self.decide(&task, record, false, false);
    }

    pub(super) fn read_record(&self, id: TaskId) -> Result<Option<ExitRecord>, String> {
        read_exit_record(&exit_record_path(&self.cfg.exit_dir(), id)).map_err(|e| e.to_string())
    }

    /// Act on [`recover`]'s decision for active task `task`.
    pub(super) fn decide(
        &mut self,
        task: &Task,
        record: Option<ExitRecord>,
        supervisor_alive: bool,
        at_start: bool,
    ) -> Recovery {
        let attempt = task.active().map_or(task.attempts, |a| a.attempt);
        let record = record.filter(|r| r.attempt == attempt || r.attempt == 0);
        let finished = record.as_ref().is_some_and(ExitRecord::is_final);
        let stopped = finished && record.as_ref().is_some_and(|r| r.stopped);
        let ev = Evidence {
            started: record.is_some(),
            finished,
            supervisor_alive,
            // Read only when a relaunch may follow (a lost run at start).
            session_seen: at_start
                && (!finished || stopped)
                && !supervisor_alive
                && self.session_seen(task),
            at_start,
            stopped,
        };
        let decision = recover(task, &ev);
        let now = now_ms();
        match &decision {
            Recovery::Adopt => {}
            Recovery::Finish => {
                let r = record.expect("finished implies a record");
                let end = AttemptEnd {
                    usage: r.usage.clone(),
                    output: r.output.clone(),
                    claude: r.claude.clone(),
                };
                // Killed by the kernel at the task's memory limit: say so.
                // (The command itself, or a shell that reports its child's
                // SIGKILL as status 137.)
                let oom_killed = (r.signal == Some(libc::SIGKILL)
                    || r.exit_code == Some(128 + libc::SIGKILL))
                    && r.usage
                        .as_ref()
                        .and_then(|u| u.memory_oom_kill)
                        .is_some_and(|n| n > 0);
                let error = match oom_killed {
                    true => Some(kill_reason(task.limits.memory_max)),
                    false => r.error.clone(),
                };
                let ev = match task.is_claude() {
                    true => self.claude_ended(
                        task,
                        attempt,
                        &r,
                        oom_killed.then_some(error).flatten(),
                        now,
                    ),
                    false => Transition::Exited {
                        attempt,
                        exit_code: r.exit_code,
                        signal: r.signal,
                        error,
                        now_ms: now,
                    },
                };
                // A limited Claude run goes back to the queue.
                if let Some(t) = self.end_attempt(task, attempt, ev, Some(&end)) {
                    self.unrecorded_ends.remove(&(t.id, attempt));
                    if t.state() == TaskState::Queued {
                        self.claude_requeued(&t, attempt);
                    }
                }
            }
            Recovery::Requeue { reason } => self.requeue(task, attempt, reason.clone()),
            Recovery::Relaunch {
                reason,
                session_seen,
            } => {
                let ev = Transition::Relaunch {
                    attempt,
                    reason: reason.clone(),
                    session_seen: *session_seen,
                    now_ms: now,
                };
                if let Some(t) = self.end_attempt(task, attempt, ev, None) {
                    warn!(claudine_task_id = t.id, "task {}: {reason}", t.id);
                }
            }
            Recovery::Interrupted { reason } => {
                let ev = Transition::Vanished {
                    attempt,
                    reason: reason.clone(),
                    now_ms: now,
                };
                match self.transition(task, ev) {
                    Ok(t) => self.stop_scope(&t),
                    Err(_) => {
                        self.unrecorded_ends.insert((task.id, attempt));
                    }
                }
            }
        }
        decision
    }

    /// Whether the progress file of Claude task `t`'s last run shows its
    /// session (the run got as far as claude's first line).
    pub(super) fn session_seen(&self, t: &Task) -> bool {
        let Some(c) = &t.claude else { return false };
        let path = super::claude::launch::progress_path(&self.cfg.exit_dir(), t.id);
        std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<crate::core::claude_stream::Progress>(&b).ok())
            .and_then(|p| p.session_id)
            .is_some_and(|s| s == c.session_id)
    }

    /// Attempt `attempt` never ran its command: queue the task again once the
    /// attempt's unit is gone — or fail it after too many such attempts.
    pub(super) fn requeue(&mut self, task: &Task, attempt: u32, reason: String) {
        let now = now_ms();
        let ev = if attempt >= MAX_UNSTARTED_ATTEMPTS {
            Transition::LaunchFailed {
                attempt,
                reason: format!("{reason}; giving up after {attempt} attempts that never started"),
                now_ms: now,
            }
        } else {
            Transition::Requeue {
                attempt,
                reason,
                eligible_ms: None,
                now_ms: now,
            }
        };
        self.end_attempt(task, attempt, ev, None);
    }

    /// Commits `ev`, which ends attempt `attempt` (with its record's figures
    /// when given). A task queued again is held out of the ready queue from
    /// that moment until the attempt's unit is gone; any other end has its
    /// scope stopped (whatever the command left behind, a double-forked
    /// daemon, goes with it). An end that cannot be committed is retried.
    pub(super) fn end_attempt(
        &mut self,
        task: &Task,
        attempt: u32,
        ev: Transition,
        end: Option<&AttemptEnd>,
    ) -> Option<Task> {
        self.draining.insert(task.id);
        match self.transition_with(task, ev, end) {
            Ok(t) if t.state() == TaskState::Queued => {
                self.drain(&t);
                Some(t)
            }
            Ok(t) => {
                self.draining.remove(&t.id);
                self.stop_scope(&t);
                Some(t)
            }
            Err(_) => {
                self.draining.remove(&task.id);
                self.unrecorded_ends.insert((task.id, attempt));
                None
            }
        }
    }

    /// Stop the task's unit and report when it is gone.
    pub(super) fn drain(&mut self, t: &Task) {
        self.draining.insert(t.id);
        self.queue.remove(t.queue_key());
        let systemd = self.systemd.clone();
        let events = self.events.clone();
        let (id, unit) = (t.id, t.unit_name());
        tokio::spawn(async move {
            let result = systemd
                .stop_and_wait_gone(&unit)
                .await
                .map_err(|e| e.to_string());
            let _ = events.send(Event::UnitGone { id, result }).await;
        });
    }

    pub(super) fn unit_gone(&mut self, id: TaskId, result: Result<(), String>) {
        let Some(task) = self.tasks.get(&id).cloned() else {
            self.draining.remove(&id);
            return;
        };
        match result {
            Ok(()) => {
                self.draining.remove(&id);
                if task.state() == TaskState::Queued {
                    self.enqueue(&task);
                }
            }
            Err(e) => {
                warn!(claudine_task_id = id, "{e}; trying again in 5 s");
                let systemd = self.systemd.clone();
                let events = self.events.clone();
                let unit = task.unit_name();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    let result = systemd
                        .stop_and_wait_gone(&unit)
                        .await
                        .map_err(|e| e.to_string());
                    let _ = events.send(Event::UnitGone { id, result }).await;
                });
            }
        }
    }

    /// Ends whose commit failed (disk full): the record is still on disk.
    pub(super) fn retry_unrecorded_ends(&mut self) {
        let pending: Vec<_> = self.unrecorded_ends.iter().copied().collect();
        for (id, attempt) in pending {
            self.unrecorded_ends.remove(&(id, attempt));
            self.supervisor_gone(id, attempt);
        }
    }

    fn retry_later(&self, ev: Event, after: Duration) {
        let events = self.events.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = events.send(ev).await;
        });
    }
}
