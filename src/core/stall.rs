//! Stall detection: a task that prints nothing for a while.
//!
//! The monitor feeds one [`StallWatch`] per running attempt with each
//! sample: the time, the time of the task's last output (from the log
//! watcher) and the scope's CPU counter (`usage_usec` of `cpu.stat`). The
//! watch answers only when something changes:
//!
//! - [`StallChange::Stalled`] once, at the first sample where the task has
//!   printed nothing for `after_ms` (counting from its start when it never
//!   printed). It says whether the task is *busy* (its CPU use over the
//!   silence reached `busy_cpu_percent`; 100% is one core) or *idle*.
//! - [`StallChange::Active`] once, at the first sample that sees new output
//!   after a stall.
//!
//! It is never repeated in between, so a stalled task does not flap. The
//! watch assumes nothing about the sample interval: a stall is reported at
//! most one interval after the threshold (that interval is its latency), and
//! the CPU share is measured between the sample that last saw output (or the
//! first sample) and now, whatever the spacing. A clock that goes back is
//! tolerated: silence never counts negative, a stall is never ended by time
//! alone, and the CPU window restarts. `last_output_ms` must come from the
//! same clock as `now_ms`.

use super::event_detail::{ActiveDetail, EventDetail, StallDetail};
use super::events::{EventKind, TaskEvent};
use super::history::cpu_percent;
use super::task::TaskId;
use super::units::format_duration_ms;

/// When a task counts as stalled, and as busy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StallPolicy {
    /// No output for this long (ms) is a stall.
    pub after_ms: i64,
    /// CPU use over the silence at or above this (100 = one core) is busy.
    pub busy_cpu_percent: f64,
}

impl Default for StallPolicy {
    /// Five minutes; busy from half a core.
    fn default() -> Self {
        StallPolicy {
            after_ms: 5 * 60_000,
            busy_cpu_percent: 50.0,
        }
    }
}

/// What changed at a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StallChange {
    /// No output for `silent_for_ms`; `cpu_percent` over that silence.
    Stalled {
        busy: bool,
        silent_for_ms: i64,
        cpu_percent: f64,
        /// `None` when the task never printed.
        last_output_ms: Option<i64>,
    },
    /// Output again, after `silent_for_ms` of silence.
    Active { silent_for_ms: i64 },
}

impl StallChange {
    /// The event to record and send.
    pub fn event(&self, task: TaskId, attempt: u32, at_ms: i64) -> TaskEvent {
        let (kind, detail) = match *self {
            StallChange::Stalled {
                busy,
                silent_for_ms,
                cpu_percent,
                last_output_ms,
            } => (
                EventKind::Stalled,
                EventDetail::Stall(StallDetail {
                    busy,
                    silent_for_ms,
                    cpu_percent,
                    last_output_ms,
                }),
            ),
            StallChange::Active { silent_for_ms } => (
                EventKind::Active,
                EventDetail::Active(ActiveDetail { silent_for_ms }),
            ),
        };
        TaskEvent::new(kind, task, Some(attempt), at_ms, detail)
    }
}

/// `busy: 98% CPU, no output for 6 min` or `idle: no CPU, no output for
/// 6 min` (under 1% reads as "no CPU").
pub fn describe_stall(busy: bool, cpu_percent: f64, silent_for_ms: i64) -> String {
    let cpu = if cpu_percent < 1.0 {
        "no CPU".to_string()
    } else {
        format!("{cpu_percent:.0}% CPU")
    };
    format!(
        "{}: {cpu}, no output for {}",
        if busy { "busy" } else { "idle" },
        format_duration_ms(silent_for_ms)
    )
}

/// The stall state of one attempt (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct StallWatch {
    policy: StallPolicy,
    started_ms: i64,
    /// The last output as last observed.
    last_output_ms: Option<i64>,
    /// (time, CPU counter) where the current silence began to be measured:
    /// the sample that last saw new output, or the first sample.
    anchor: Option<(i64, u64)>,
    stalled: bool,
    /// As of the last sample.
    silent_for_ms: i64,
    /// CPU share over the silence as of the last sample that could measure it.
    cpu_percent: Option<f64>,
}

impl StallWatch {
    /// A watch for an attempt whose command started at `started_ms`.
    pub fn new(policy: StallPolicy, started_ms: i64) -> StallWatch {
        StallWatch {
            policy,
            started_ms,
            last_output_ms: None,
            anchor: None,
            stalled: false,
            silent_for_ms: 0,
            cpu_percent: None,
        }
    }

    /// Feed one sample; returns the change it brings, if any.
    pub fn observe(
        &mut self,
        now_ms: i64,
        last_output_ms: Option<i64>,
        cpu_usage_usec: u64,
    ) -> Option<StallChange> {
        if last_output_ms.is_some() && last_output_ms != self.last_output_ms {
            // New output: the silence (if any) ends here.
            let since = self.last_output_ms.unwrap_or(self.started_ms);
            let gap = last_output_ms.map_or(0, |t| (t - since).max(0));
            self.last_output_ms = last_output_ms;
            self.anchor = Some((now_ms, cpu_usage_usec));
            self.silent_for_ms = (now_ms - last_output_ms.unwrap_or(now_ms)).max(0);
            self.cpu_percent = None;
            if self.stalled {
                self.stalled = false;
                return Some(StallChange::Active { silent_for_ms: gap });
            }
            return None;
        }
        let (anchor_ms, anchor_usec) = match self.anchor {
            // The clock went back past the anchor, or the counter restarted:
            // measure again from here.
            Some((t, u)) if t <= now_ms && u <= cpu_usage_usec => (t, u),
            _ => {
                self.anchor = Some((now_ms, cpu_usage_usec));
                (now_ms, cpu_usage_usec)
            }
        };
        let since = self.last_output_ms.unwrap_or(self.started_ms);
        self.silent_for_ms = (now_ms - since).max(0);
        if let Some(pc) = cpu_percent(cpu_usage_usec - anchor_usec, now_ms - anchor_ms) {
            self.cpu_percent = Some(pc);
        }
        if self.stalled || self.silent_for_ms < self.policy.after_ms {
            return None;
        }
        // Busy or idle needs a measured CPU share: at the first sample of a
        // silence there is none yet, so decide at the next one.
        let cpu_percent = self.cpu_percent?;
        self.stalled = true;
        Some(StallChange::Stalled {
            busy: cpu_percent >= self.policy.busy_cpu_percent,
            silent_for_ms: self.silent_for_ms,
            cpu_percent,
            last_output_ms: self.last_output_ms,
        })
    }

    /// Take up an attempt an earlier daemon watched: output up to
    /// `last_output_ms` was seen already, and a stall it reported
    /// (`stalled`) is not reported again; new output ends it as usual.
    pub fn resume(&mut self, last_output_ms: Option<i64>, stalled: bool) {
        self.last_output_ms = last_output_ms;
        self.stalled = stalled;
    }

    /// Whether the last change was a stall.
    pub fn is_stalled(&self) -> bool {
        self.stalled
    }

    /// How long without output, as of the last sample.
    pub fn silent_for_ms(&self) -> i64 {
        self.silent_for_ms
    }

    /// CPU share (100 = one core) over the current silence, as of the last
    /// sample; `None` until two samples measured it.
    pub fn cpu_percent(&self) -> Option<f64> {
        self.cpu_percent
    }

    /// Whether the CPU use over the current silence counts as busy.
    pub fn is_busy(&self) -> bool {
        self.cpu_percent
            .is_some_and(|pc| pc >= self.policy.busy_cpu_percent)
    }

    /// The state in words, as of the last sample, for `status`: `busy: 98%
    /// CPU, no output for 6 min` or `idle: no CPU, no output for 6 min` when
    /// stalled; `active: last output 12 s ago` or `active: no output yet
    /// (started 40 s ago)` otherwise.
    pub fn describe(&self) -> String {
        let silent = format_duration_ms(self.silent_for_ms);
        if self.stalled {
            let cpu = self.cpu_percent.unwrap_or(0.0);
            describe_stall(self.is_busy(), cpu, self.silent_for_ms)
        } else if self.last_output_ms.is_some() {
            format!("active: last output {silent} ago")
        } else {
            format!("active: no output yet (started {silent} ago)")
        }
    }
}

#[cfg(test)]
#[path = "stall_tests.rs"]
mod tests;
