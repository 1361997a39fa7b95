//! One running attempt under watch: what the monitor decides at a sample.
//!
//! [`TaskWatch`] joins the pieces that each decide one thing: the stall
//! watch (output), the memory watch (soft and hard limits, OOM kills) and
//! the bounded history. The daemon's sampler reads the scope and the log and
//! hands an [`Observation`]; the watch answers with the events to record, in
//! order, and keeps the history. Time is an argument, as everywhere in the
//! core. What the events lead to depends on the monitoring [`Level`].

use super::history::{cpu_percent, History, HistoryPolicy, Sample};
use super::limits::Limits;
use super::memwatch::{MemWatch, MemoryPolicy};
use super::stall::{StallPolicy, StallWatch};
use super::task::TaskId;
use super::{EventKind, TaskEvent};
use std::fmt;
use std::str::FromStr;

/// What the monitor does with what it sees (config `level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Level {
    /// Collect the figures and the history, and log events to the journal;
    /// no stored events, no stream, no hooks.
    Passive,
    /// Also record events, stream them and run the hooks.
    #[default]
    Active,
    /// Also act on them to protect the host (freezing tasks comes with
    /// suspend and resume; until then this level behaves as `active`).
    Protective,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Passive => "passive",
            Level::Active => "active",
            Level::Protective => "protective",
        }
    }

    /// Whether events are stored, streamed and handed to hooks.
    pub fn records_events(self) -> bool {
        self != Level::Passive
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Level, String> {
        match s {
            "passive" => Ok(Level::Passive),
            "active" => Ok(Level::Active),
            "protective" => Ok(Level::Protective),
            _ => Err(format!(
                "unknown monitoring level {s:?}: expected passive, active or protective"
            )),
        }
    }
}

/// The thresholds of one task: its own limits, else the daemon's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WatchPolicy {
    pub stall: StallPolicy,
    pub memory: MemoryPolicy,
    pub history: HistoryPolicy,
}

impl WatchPolicy {
    /// The task's `--stall-after` and `--memory-warn` win over the defaults;
    /// a default warning level at or above the task's hard limit is dropped
    /// (the task's own limit says more).
    pub fn for_task(
        limits: &Limits,
        default_stall_after_ms: i64,
        default_memory_warn: Option<u64>,
        default_memory_critical: Option<u64>,
        history: HistoryPolicy,
    ) -> WatchPolicy {
        let default_warn =
            default_memory_warn.filter(|w| limits.memory_max.is_none_or(|max| *w < max));
        WatchPolicy {
            stall: StallPolicy {
                after_ms: limits.stall_after_ms.unwrap_or(default_stall_after_ms),
                ..StallPolicy::default()
            },
            memory: MemoryPolicy {
                warn_bytes: limits.memory_warn.or(default_warn),
                max_bytes: limits.memory_max,
                critical_at: default_memory_critical,
                ..MemoryPolicy::default()
            },
            history,
        }
    }
}

/// One reading of a task's scope and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Observation {
    pub at_ms: i64,
    /// `memory.current`.
    pub memory_bytes: u64,
    /// `memory.peak` (or the highest current seen where the kernel has none).
    pub memory_peak_bytes: u64,
    /// `oom_kill` of `memory.events`.
    pub oom_kills: u64,
    /// `usage_usec` of `cpu.stat`.
    pub cpu_usage_usec: u64,
    /// `pids.current`.
    pub pids: u64,
    /// Bytes in the task's output so far.
    pub output_bytes: u64,
    /// When the task last wrote output; `None` if it never did.
    pub last_output_ms: Option<i64>,
}

/// The watch over one attempt (see the module documentation).
#[derive(Debug, Clone)]
pub struct TaskWatch {
    pub task: TaskId,
    pub attempt: u32,
    stall: StallWatch,
    memory: MemWatch,
    history: History,
    last: Option<Observation>,
}

impl TaskWatch {
    /// A watch for an attempt whose command started at `started_ms`.
    /// `oom_kills_seen` and `restored` carry what an earlier daemon already
    /// reported and recorded for it (a restart); a new attempt has 0 and none.
    pub fn new(
        task: TaskId,
        attempt: u32,
        policy: WatchPolicy,
        started_ms: i64,
        oom_kills_seen: u64,
        restored: Vec<Sample>,
    ) -> TaskWatch {
        TaskWatch {
            task,
            attempt,
            stall: StallWatch::new(policy.stall, started_ms),
            memory: MemWatch::resume(policy.memory, oom_kills_seen),
            history: History::restore(policy.history, restored),
            last: None,
        }
    }

    /// Take up where an earlier daemon left this attempt: its recorded
    /// events, oldest first, and the task's last output as it is now. A
    /// stall or a memory warning it reported is not reported again (new
    /// output or lower usage re-arms them as usual).
    pub fn resume_from(&mut self, recorded: &[TaskEvent], last_output_ms: Option<i64>) {
        let mut stalled = false;
        let (mut high, mut critical) = (None, None);
        for ev in recorded.iter().filter(|e| e.attempt == Some(self.attempt)) {
            match ev.kind {
                EventKind::Stalled => stalled = true,
                EventKind::Active => stalled = false,
                EventKind::HighMemory => high = Some(ev.at_ms),
                EventKind::CriticalMemory => critical = Some(ev.at_ms),
                _ => {}
            }
        }
        self.stall.resume(last_output_ms, stalled);
        self.memory.resume_reported(high, critical);
    }

    /// Feed one reading: memory changes first (high, critical, OOM kill),
    /// then the stall change, each as the event to record.
    pub fn observe(&mut self, obs: Observation) -> Vec<TaskEvent> {
        let (task, attempt, at) = (self.task, self.attempt, obs.at_ms);
        let mut events: Vec<TaskEvent> = self
            .memory
            .observe(
                at,
                obs.memory_bytes,
                obs.memory_peak_bytes.max(obs.memory_bytes),
                obs.oom_kills,
            )
            .iter()
            .map(|c| c.event(task, attempt, at))
            .collect();
        if let Some(c) = self
            .stall
            .observe(at, obs.last_output_ms, obs.cpu_usage_usec)
        {
            events.push(c.event(task, attempt, at));
        }
        self.history.push(Sample {
            at_ms: at,
            memory_bytes: obs.memory_bytes,
            cpu_usage_usec: obs.cpu_usage_usec,
            pids: obs.pids,
            output_bytes: obs.output_bytes,
        });
        self.last = Some(obs);
        events
    }

    /// `memory.events` changed between samples (the kernel told us): an OOM
    /// kill is reported at once, from the counts alone.
    pub fn memory_events(&mut self, at_ms: i64, oom_kills: u64) -> Vec<TaskEvent> {
        let Some(last) = self.last else {
            return Vec::new();
        };
        let (task, attempt) = (self.task, self.attempt);
        self.memory
            .observe(at_ms, last.memory_bytes, last.memory_peak_bytes, oom_kills)
            .iter()
            .map(|c| c.event(task, attempt, at_ms))
            .collect()
    }

    /// The task wrote output at `at_ms` (the log watcher told us between
    /// samples): `task:active` at once if it was stalled.
    pub fn output_seen(&mut self, at_ms: i64) -> Option<TaskEvent> {
        if !self.stall.is_stalled() {
            return None;
        }
        let cpu = self.last.map_or(0, |l| l.cpu_usage_usec);
        self.stall
            .observe(at_ms, Some(at_ms), cpu)
            .map(|c| c.event(self.task, self.attempt, at_ms))
    }

    pub fn is_stalled(&self) -> bool {
        self.stall.is_stalled()
    }

    /// `active: last output 12 s ago`, `busy: 98% CPU, no output for 6 min`...
    pub fn describe_activity(&self) -> String {
        self.stall.describe()
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    pub fn last(&self) -> Option<&Observation> {
        self.last.as_ref()
    }

    pub fn oom_kills(&self) -> u64 {
        self.memory.oom_kills()
    }

    /// The CPU share (100 = one core) over about the last `window_ms`, from
    /// the history; `None` until two points span some time.
    pub fn recent_cpu_percent(&self, window_ms: i64) -> Option<f64> {
        let points = self.history.points();
        let last = points.last()?;
        let first = points
            .iter()
            .rev()
            .find(|p| last.at_ms - p.at_ms >= window_ms)
            .or_else(|| points.first())?;
        let used = last.cpu_usage_usec.checked_sub(first.cpu_usage_usec)?;
        cpu_percent(used, last.at_ms - first.at_ms)
    }
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
