//! Task events: what happened to a task, when, and the figures that go with
//! it (see [`EventDetail`]).
//!
//! One form serves every consumer: the store, the `events` stream, hook
//! commands (JSON on stdin) and the journal. [`TaskEvent::to_json_line`]
//! gives one JSON object without newlines, its detail fields flattened:
//!
//! ```text
//! {"type":"task:stalled","task":42,"attempt":1,"at":"2024-05-01T12:00:00.000Z",
//!  "busy":true,"silent_for_ms":360000,"cpu_percent":98.0,"last_output":"..."}
//! ```
//!
//! `attempt` is left out when the event is about no attempt (`task:queued`);
//! times are RFC 3339 in UTC with milliseconds; durations are integer
//! milliseconds (`*_ms`), sizes integer bytes (`*_bytes`).
//! [`TaskEvent::from_json_line`] reads it back, taking the detail's shape
//! from `type`, so the store can keep that one line per event. The journal
//! gets [`TaskEvent::message`] at [`EventKind::journal_priority`].

use super::task::TaskId;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

pub use super::event_detail::{
    ActiveDetail, CheckpointDetail, EscapedDetail, EventDetail, FinishedDetail, MemoryDetail,
    NoteDetail, OomDetail, ProgressDetail, RateLimitDetail, StallDetail,
};

/// The kinds of task event. Serialized as their [`name`](EventKind::name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// Submitted, or back in the queue ([`NoteDetail`]).
    #[serde(rename = "task:queued")]
    Queued,
    /// An attempt started its command ([`NoteDetail`]).
    #[serde(rename = "task:started")]
    Started,
    /// Output again after a stall ([`ActiveDetail`]).
    #[serde(rename = "task:active")]
    Active,
    /// No output for the stall threshold ([`StallDetail`]).
    #[serde(rename = "task:stalled")]
    Stalled,
    /// Memory over the soft limit ([`MemoryDetail`]).
    #[serde(rename = "task:high-memory")]
    HighMemory,
    /// Memory near the hard limit ([`MemoryDetail`]).
    #[serde(rename = "task:critical-memory")]
    CriticalMemory,
    /// The kernel's OOM killer killed a process of the task ([`OomDetail`]).
    #[serde(rename = "task:oom-kill")]
    OomKill,
    /// The task reported progress ([`ProgressDetail`]).
    #[serde(rename = "task:progress")]
    Progress,
    /// A checkpoint was taken ([`CheckpointDetail`]).
    #[serde(rename = "task:checkpoint")]
    Checkpoint,
    /// Frozen or stopped to make room ([`NoteDetail`]).
    #[serde(rename = "task:suspended")]
    Suspended,
    /// Running again after a suspension ([`NoteDetail`]).
    #[serde(rename = "task:resumed")]
    Resumed,
    /// Reached a terminal state ([`FinishedDetail`]).
    #[serde(rename = "task:finished")]
    Finished,
    /// A process of the task left its scope ([`EscapedDetail`]).
    #[serde(rename = "task:escaped")]
    Escaped,
    /// Held back by a rate limit ([`RateLimitDetail`]).
    #[serde(rename = "task:rate-limited")]
    RateLimited,
    /// Its start took the running count above the soft maximum ([`NoteDetail`]).
    #[serde(rename = "task:over-soft-max")]
    OverSoftMax,
}

impl EventKind {
    pub const ALL: [EventKind; 15] = [
        EventKind::Queued,
        EventKind::Started,
        EventKind::Active,
        EventKind::Stalled,
        EventKind::HighMemory,
        EventKind::CriticalMemory,
        EventKind::OomKill,
        EventKind::Progress,
        EventKind::Checkpoint,
        EventKind::Suspended,
        EventKind::Resumed,
        EventKind::Finished,
        EventKind::Escaped,
        EventKind::RateLimited,
        EventKind::OverSoftMax,
    ];

    /// The wire name: `task:stalled`, `task:high-memory`, ...
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Queued => "task:queued",
            EventKind::Started => "task:started",
            EventKind::Active => "task:active",
            EventKind::Stalled => "task:stalled",
            EventKind::HighMemory => "task:high-memory",
            EventKind::CriticalMemory => "task:critical-memory",
            EventKind::OomKill => "task:oom-kill",
            EventKind::Progress => "task:progress",
            EventKind::Checkpoint => "task:checkpoint",
            EventKind::Suspended => "task:suspended",
            EventKind::Resumed => "task:resumed",
            EventKind::Finished => "task:finished",
            EventKind::Escaped => "task:escaped",
            EventKind::RateLimited => "task:rate-limited",
            EventKind::OverSoftMax => "task:over-soft-max",
        }
    }

    /// The syslog priority of its journal line: 4 (warning) for a stall,
    /// high memory or passing the soft maximum, 3 (err) for critical memory, an OOM kill or an escape,
    /// 6 (info) for the rest.
    pub fn journal_priority(self) -> u8 {
        match self {
            EventKind::Stalled | EventKind::HighMemory | EventKind::OverSoftMax => 4,
            EventKind::CriticalMemory | EventKind::OomKill | EventKind::Escaped => 3,
            _ => 6,
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EventKind {
    type Err = String;
    /// The wire name, or the same without `task:` (`stalled`), as a user
    /// may type it after `--type`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.name() == s || k.name().strip_prefix("task:") == Some(s))
            .ok_or_else(|| {
                let names: Vec<_> = EventKind::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown event type {s:?}: expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// One event about one task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskEvent {
    pub kind: EventKind,
    pub task: TaskId,
    /// The attempt it is about; `None` for events about no attempt (queued).
    pub attempt: Option<u32>,
    /// When it happened, ms since the epoch.
    pub at_ms: i64,
    /// The figures; their shape follows `kind` ([`EventDetail::fits`]).
    pub detail: EventDetail,
}

impl TaskEvent {
    /// An event; `detail` must fit `kind` (checked in debug builds).
    pub fn new(
        kind: EventKind,
        task: TaskId,
        attempt: Option<u32>,
        at_ms: i64,
        detail: EventDetail,
    ) -> TaskEvent {
        debug_assert!(detail.fits(kind), "{kind} cannot carry {detail:?}");
        TaskEvent {
            kind,
            task,
            attempt,
            at_ms,
            detail,
        }
    }

    /// The JSON object on one line (see the module documentation).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("an event always serializes")
    }

    /// Read what [`TaskEvent::to_json_line`] wrote. Unknown fields are
    /// ignored (a newer daemon may add some); missing ones are an error.
    pub fn from_json_line(line: &str) -> Result<TaskEvent, String> {
        serde_json::from_str(line).map_err(|e| format!("invalid event {line:?}: {e}"))
    }

    /// The event in words, for the journal's MESSAGE and the human view of
    /// `claudinectl events`: `task 42 stalled: busy: 98% CPU, no output for
    /// 6 min`.
    pub fn message(&self) -> String {
        let what = self
            .kind
            .name()
            .trim_start_matches("task:")
            .replace('-', " ");
        let mut text = format!("task {} {what}", self.task);
        if let (EventKind::Started, Some(n)) = (self.kind, self.attempt) {
            text.push_str(&format!(" (attempt {n})"));
        }
        match self.detail.describe() {
            Some(words) => format!("{text}: {words}"),
            None => text,
        }
    }
}

/// `ms` since the epoch as RFC 3339 in UTC with milliseconds
/// (`2024-05-01T12:00:00.000Z`). Out of chrono's range, the nearest end.
pub fn rfc3339_ms(ms: i64) -> String {
    let fallback = if ms < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    };
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or(fallback)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An RFC 3339 time (any offset) as ms since the epoch.
pub fn parse_rfc3339_ms(s: &str) -> Result<i64, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("invalid time {s:?}: {e}"))
}

#[derive(Serialize)]
struct WireOut<'a> {
    #[serde(rename = "type")]
    kind: EventKind,
    task: TaskId,
    #[serde(skip_serializing_if = "Option::is_none")]
    attempt: Option<u32>,
    at: String,
    #[serde(flatten)]
    detail: &'a EventDetail,
}

#[derive(Deserialize)]
struct WireIn {
    #[serde(rename = "type")]
    kind: EventKind,
    task: TaskId,
    #[serde(default)]
    attempt: Option<u32>,
    at: String,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

impl Serialize for TaskEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        WireOut {
            kind: self.kind,
            task: self.task,
            attempt: self.attempt,
            at: rfc3339_ms(self.at_ms),
            detail: &self.detail,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for TaskEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let wire = WireIn::deserialize(d)?;
        let at_ms = parse_rfc3339_ms(&wire.at).map_err(D::Error::custom)?;
        let detail = EventDetail::from_fields(wire.kind, wire.rest).map_err(D::Error::custom)?;
        Ok(TaskEvent {
            kind: wire.kind,
            task: wire.task,
            attempt: wire.attempt,
            at_ms,
            detail,
        })
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
