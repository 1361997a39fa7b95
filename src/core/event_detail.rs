//! The figures each kind of [`TaskEvent`](super::events::TaskEvent) carries.
//!
//! Each shape is a plain struct whose fields appear flattened in the event's
//! JSON; [`EventDetail`] holds one of them. Which shape goes with which
//! kind is fixed ([`EventDetail::fits`]), and reading JSON back takes the
//! shape from the kind ([`EventDetail::from_fields`]), never by guessing.
//! Optional fields are left out of the JSON when absent.

use super::events::{parse_rfc3339_ms, rfc3339_ms, EventKind};
use super::stall::describe_stall;
use super::task::TaskState;
use super::units::{format_bytes, format_duration_ms};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Queued, started, suspended, resumed: at most a reason in words.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NoteDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Stalled: no output for `silent_for_ms`; `busy` when the CPU use over
/// that silence (`cpu_percent`, 100 = one core) reached the busy threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StallDetail {
    pub busy: bool,
    pub silent_for_ms: i64,
    pub cpu_percent: f64,
    /// The last output; absent when the task never printed (the silence
    /// then counts from its start). JSON: `last_output`, RFC 3339.
    #[serde(
        rename = "last_output",
        with = "opt_time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_output_ms: Option<i64>,
}

/// Active: output again after `silent_for_ms` of silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveDetail {
    pub silent_for_ms: i64,
}

/// High or critical memory: `current_bytes` reached `threshold_bytes` (the
/// soft limit, or the critical share of the hard limit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryDetail {
    pub current_bytes: u64,
    pub threshold_bytes: u64,
    /// The hard limit (`MemoryMax`), if the task has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_bytes: Option<u64>,
    pub peak_bytes: u64,
}

/// OOM kill: the scope's `oom_kill` count is now `oom_kills`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OomDetail {
    pub oom_kills: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_bytes: Option<u64>,
}

/// Progress reported by the task (for example from Claude Code's stream).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProgressDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// 0..=100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// A Claude Code run: the turn it is in, its tool uses so far and the
    /// last tool it called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_uses: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tool: Option<String>,
}

/// A checkpoint was taken.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CheckpointDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its number (`claudinectl checkpoints ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// suspend, interval or cold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// The git snapshot's ref (`refs/claudine/<id>/<n>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
}

/// Finished: the terminal state and how the command ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinishedDetail {
    pub state: TaskState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Why, in words ("killed by the kernel: memory limit 4 GiB reached").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_peak_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_kills: Option<u64>,
}

/// Escaped: process `pid` of the task is now in `cgroup`, outside its scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscapedDetail {
    pub pid: u32,
    pub cgroup: String,
}

/// Rate limited, until a time if known. JSON: `until`, RFC 3339.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RateLimitDetail {
    #[serde(
        rename = "until",
        with = "opt_time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub until_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The figures of one event. Serialized as the inner struct's fields alone.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EventDetail {
    Note(NoteDetail),
    Stall(StallDetail),
    Active(ActiveDetail),
    Memory(MemoryDetail),
    Oom(OomDetail),
    Progress(ProgressDetail),
    Checkpoint(CheckpointDetail),
    Finished(FinishedDetail),
    Escaped(EscapedDetail),
    RateLimited(RateLimitDetail),
}

impl EventDetail {
    /// Whether this shape is the one `kind` carries.
    pub fn fits(&self, kind: EventKind) -> bool {
        use EventKind as K;
        match self {
            EventDetail::Note(_) => {
                matches!(
                    kind,
                    K::Queued | K::Started | K::Suspended | K::Resumed | K::OverSoftMax
                )
            }
            EventDetail::Stall(_) => kind == K::Stalled,
            EventDetail::Active(_) => kind == K::Active,
            EventDetail::Memory(_) => matches!(kind, K::HighMemory | K::CriticalMemory),
            EventDetail::Oom(_) => kind == K::OomKill,
            EventDetail::Progress(_) => kind == K::Progress,
            EventDetail::Checkpoint(_) => kind == K::Checkpoint,
            EventDetail::Finished(_) => kind == K::Finished,
            EventDetail::Escaped(_) => kind == K::Escaped,
            EventDetail::RateLimited(_) => kind == K::RateLimited,
        }
    }

    /// The detail of a `kind` event from its JSON fields (other fields, such
    /// as `type` or `task`, are ignored).
    pub fn from_fields(
        kind: EventKind,
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> Result<EventDetail, String> {
        fn de<T: DeserializeOwned>(
            kind: EventKind,
            fields: serde_json::Map<String, serde_json::Value>,
        ) -> Result<T, String> {
            serde_json::from_value(serde_json::Value::Object(fields))
                .map_err(|e| format!("invalid {kind} event: {e}"))
        }
        use EventKind as K;
        Ok(match kind {
            K::Queued | K::Started | K::Suspended | K::Resumed | K::OverSoftMax => {
                EventDetail::Note(de(kind, fields)?)
            }
            K::Stalled => EventDetail::Stall(de(kind, fields)?),
            K::Active => EventDetail::Active(de(kind, fields)?),
            K::HighMemory | K::CriticalMemory => EventDetail::Memory(de(kind, fields)?),
            K::OomKill => EventDetail::Oom(de(kind, fields)?),
            K::Progress => EventDetail::Progress(de(kind, fields)?),
            K::Checkpoint => EventDetail::Checkpoint(de(kind, fields)?),
            K::Finished => EventDetail::Finished(de(kind, fields)?),
            K::Escaped => EventDetail::Escaped(de(kind, fields)?),
            K::RateLimited => EventDetail::RateLimited(de(kind, fields)?),
        })
    }

    /// The figures in words, or `None` when there is nothing to say.
    pub fn describe(&self) -> Option<String> {
        match self {
            EventDetail::Note(n) => n.reason.clone(),
            EventDetail::Stall(s) => Some(describe_stall(s.busy, s.cpu_percent, s.silent_for_ms)),
            EventDetail::Active(a) => Some(format!(
                "output again after {} of silence",
                format_duration_ms(a.silent_for_ms)
            )),
            EventDetail::Memory(m) => {
                let limit = m
                    .limit_bytes
                    .map(|l| format!("limit {}, ", format_bytes(l)));
                Some(format!(
                    "{} in use, over {} ({}peak {})",
                    format_bytes(m.current_bytes),
                    format_bytes(m.threshold_bytes),
                    limit.unwrap_or_default(),
                    format_bytes(m.peak_bytes)
                ))
            }
            EventDetail::Oom(o) => Some(format!(
                "the kernel killed a process {} ({} so far)",
                match o.limit_bytes {
                    Some(l) => format!("at the {} memory limit", format_bytes(l)),
                    None => "for lack of memory".into(),
                },
                match o.oom_kills {
                    1 => "1 kill".into(),
                    n => format!("{n} kills"),
                }
            )),
            EventDetail::Progress(p) => match (&p.message, p.percent) {
                (Some(m), Some(pc)) => Some(format!("{m} ({pc:.0}%)")),
                (Some(m), None) => Some(m.clone()),
                (None, Some(pc)) => Some(format!("{pc:.0}%")),
                (None, None) => None,
            },
            EventDetail::Checkpoint(c) => c.name.clone(),
            EventDetail::Finished(f) => {
                let mut words = f.state.to_string();
                if let Some(code) = f.exit_code {
                    words.push_str(&format!(", exit code {code}"));
                }
                if let Some(sig) = f.signal {
                    words.push_str(&format!(", signal {sig}"));
                }
                if let Some(reason) = &f.reason {
                    words.push_str(&format!(" ({reason})"));
                }
                Some(words)
            }
            EventDetail::Escaped(e) => {
                Some(format!("process {} left its scope for {}", e.pid, e.cgroup))
            }
            EventDetail::RateLimited(r) => {
                let until = r.until_ms.map(|t| format!("until {}", rfc3339_ms(t)));
                let words: Vec<String> = until.into_iter().chain(r.reason.clone()).collect();
                (!words.is_empty()).then(|| words.join(": "))
            }
        }
    }
}

/// `Option<i64>` ms as an optional RFC 3339 string.
mod opt_time {
    use super::{parse_rfc3339_ms, rfc3339_ms};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(ms) => s.serialize_some(&rfc3339_ms(*ms)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| parse_rfc3339_ms(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}
