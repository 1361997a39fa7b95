//! Claude Code tasks on the wire: the prompt and options at submit
//! ([`ClaudeRequest`]), `resume` ([`ResumeRequest`]), and what a client sees
//! of one ([`ClaudeView`], in `TaskView::claude`).

use crate::core::claude::{ClaudeOptions, ClaudeTask};
use crate::core::claude_stream::Progress;
use crate::core::TaskId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A Claude Code task as submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaudeRequest {
    /// At most [`crate::core::claude::MAX_PROMPT_BYTES`].
    pub prompt: String,
    /// The `claude` the client found on the user's PATH (absolute); the
    /// daemon's `claude_path` setting, when set, comes first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
    #[serde(default)]
    pub options: ClaudeOptions,
    /// Continue (a fork of) this task's session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continue_from: Option<TaskId>,
}

/// `POST /v1/tasks/{id}/resume`: continue a finished Claude Code task's
/// session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeRequest {
    /// The next run's prompt; a plain "continue" when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Extra environment for the next runs (values given at submit are not
    /// kept once a task ends).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// What a client sees of a Claude Code task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaudeView {
    /// The prompt's first [`PROMPT_PREVIEW_CHARS`] characters, and its size.
    pub prompt: String,
    pub prompt_bytes: usize,
    pub session_id: String,
    /// A run has started the session (later runs resume it).
    pub session_started: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continue_from: Option<TaskId>,
    pub binary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default)]
    pub options: ClaudeOptions,
    /// What the running (or the last) run's stream showed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// A queued task held by the usage governor: why, and until when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
}

/// Characters of a prompt shown in views.
pub const PROMPT_PREVIEW_CHARS: usize = 400;

impl ClaudeView {
    pub fn of(c: &ClaudeTask) -> ClaudeView {
        let preview = |s: &str| {
            let end = s
                .char_indices()
                .nth(PROMPT_PREVIEW_CHARS)
                .map_or(s.len(), |(i, _)| i);
            s[..end].to_owned()
        };
        ClaudeView {
            prompt: preview(&c.prompt),
            prompt_bytes: c.prompt.len(),
            session_id: c.session_id.clone(),
            session_started: c.session_started,
            next_prompt: c.next_prompt.as_deref().map(preview),
            continue_from: c.continue_from.as_ref().map(|(id, _)| *id),
            binary: c.binary.clone(),
            version: c.version.clone(),
            options: c.options.clone(),
            progress: None,
            held: None,
        }
    }
}
