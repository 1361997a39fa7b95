//! Claude Code's stream: what `claude -p --output-format stream-json
//! --verbose` prints, line by line, and what it means for a task.
//!
//! Three pure steps, none of which reads a clock or a file:
//!
//! - [`parse_line`] turns one stdout line into a [`StreamLine`]. It never
//!   fails and never panics: a line that is not a JSON object is
//!   [`StreamLine::Malformed`] with the reason, a JSON object of a type (or
//!   `system` subtype) not known here is [`StreamLine::Unknown`], a known
//!   line with fields missing or of the wrong type has those fields `None`.
//!   The work per line is one scan: long strings are cut to a preview as
//!   they are read ([`Text`]), and what nobody reads (tool inputs, tool
//!   output, the list of tools) is skipped without being stored.
//! - [`Progress::apply`] folds the lines into what the daemon shows and
//!   records (session, model, turns, tool uses, API retries, the result) and
//!   says when something worth a `task:progress` event happened
//!   ([`ProgressChange::is_progress`]: a new turn or a new tool use, not every
//!   line).
//! - [`outcome`] judges the run from the process's exit and the progress:
//!   success only for exit 0 *and* a result line with `is_error: false`
//!   (the CLI ends an API failure with `subtype: "success"`, `is_error: true`
//!   and exit 1); a rate limit, an overload or a usage limit is its own
//!   [`ClaudeOutcome::Limited`], so a governor can wait instead of failing.
//!
//! The shapes are those measured with CLI 2.1.330 against a fake Messages
//! API: every line one JSON object carrying `session_id`; `system`/`init`
//! first; each content block of a model message on a line of its own, the
//! blocks of one message sharing `message.id`; `system`/`api_retry` while a
//! request is retried; `result` last. Not seen here, taken from what users
//! of the CLI report (the fake API has no accounts): the `rate_limit_event`
//! line and the wording of usage-limit results.
//!
//! Files: `parse.rs` (a line to its type), `raw.rs` (the serde shape of a
//! line), `lenient.rs` (field readers that never fail a line over one
//! field), `progress.rs`, `outcome.rs`, `limit.rs` (usage-limit texts).

mod lenient;
mod limit;
mod outcome;
mod parse;
mod progress;
mod raw;

pub use lenient::Text;
pub use limit::{parse_usage_limit, Reset, WallTime};
pub use outcome::{outcome, ClaudeOutcome, Limit};
pub use parse::parse_line;
pub use progress::{Progress, ProgressChange, Retry, ToolCount, MAX_TOOL_NAMES};

use lenient::clip;
use parse::epoch_ms;

/// One line of the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamLine {
    /// `system`/`init`, the first line.
    Init(Init),
    /// `assistant`: one content block (or several) of a model message.
    Assistant(Assistant),
    /// `user`: tool results going back to the model.
    User(User),
    /// `system`/`api_retry`: a request failed and will be retried.
    ApiRetry(ApiRetry),
    /// `rate_limit_event`: the account's rate-limit state.
    RateLimit(RateLimit),
    /// `result`: the last line of a run.
    Result(ResultLine),
    /// A JSON object of a type not known here; kept, never an error.
    Unknown(Unknown),
    /// Not a JSON object (empty, binary, truncated, not JSON).
    Malformed(Malformed),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Init {
    pub session_id: Option<String>,
    pub cwd: Option<String>,
    pub model: Option<String>,
    /// How many tools the session offers.
    pub tools: Option<u32>,
    pub claude_code_version: Option<String>,
    /// MCP servers listed in `mcp_servers` whose `status` is not
    /// `connected`, as `name: status` (at most 16).
    pub mcp_servers_not_connected: Vec<String>,
    /// `mcp_server_errors` (configuration entries the CLI skipped), as
    /// `name: type: message` (at most 16); empty when absent.
    pub mcp_server_errors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Assistant {
    /// `message.id`, shared by the blocks of one model message.
    pub message_id: Option<String>,
    pub model: Option<String>,
    /// Set for a subagent's message (`parent_tool_use_id`).
    pub parent_tool_use_id: Option<String>,
    /// The first 64 blocks.
    pub blocks: Vec<Block>,
}

/// A content block of an assistant message.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Text(Text),
    ToolUse {
        id: Option<String>,
        name: Option<String>,
    },
    /// Any other block (`thinking`, …), by its `type`.
    Other(Option<String>),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct User {
    pub parent_tool_use_id: Option<String>,
    /// The message's `tool_result` blocks (at most 64); other blocks (a
    /// prompt's text) are not kept.
    pub tool_results: Vec<ToolResult>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolResult {
    pub tool_use_id: Option<String>,
    /// `is_error`, false when absent.
    pub is_error: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApiRetry {
    pub attempt: Option<u64>,
    pub max_retries: Option<u64>,
    pub retry_delay_ms: Option<u64>,
    /// The HTTP status that failed (`None` for a connection error).
    pub error_status: Option<u16>,
    pub error: Option<Text>,
}

/// `rate_limit_event`'s `rate_limit_info` (shape as reported by users:
/// `status` `allowed`/`allowed_warning`/`rejected`, `resetsAt` in Unix
/// seconds, `rateLimitType` such as `five_hour`).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct RateLimit {
    pub status: Option<String>,
    pub resets_at_ms: Option<i64>,
    pub limit_type: Option<String>,
    pub overage_status: Option<String>,
}

impl RateLimit {
    /// Whether the account is refused until the reset.
    pub fn is_rejected(&self) -> bool {
        self.status.as_deref() == Some("rejected")
    }
}

#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct ResultLine {
    pub session_id: Option<String>,
    /// `success`, `error_during_execution`, `error_max_turns`, …; says
    /// nothing about success on its own (see [`outcome`]).
    pub subtype: Option<String>,
    pub is_error: Option<bool>,
    pub num_turns: Option<u64>,
    /// `result`: the final text (or the error's).
    pub result: Option<Text>,
    pub total_cost_usd: Option<f64>,
    pub usage: Usage,
    pub duration_ms: Option<u64>,
    pub duration_api_ms: Option<u64>,
    pub terminal_reason: Option<String>,
    pub api_error_status: Option<u16>,
    /// How many tool calls were denied, and the first 16 tools' names.
    pub permission_denials: usize,
    pub denied_tools: Vec<String>,
    /// `errors`, when the CLI lists some (the first 16).
    pub errors: Vec<Text>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_creation_input_tokens: Option<u64>,
    pub cache_read_input_tokens: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Unknown {
    /// `type`, `None` when the object has none (or not a string).
    pub kind: Option<String>,
    pub subtype: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// What was wrong, e.g. `truncated JSON: EOF while parsing a string at
    /// line 1 column 5000`.
    pub reason: String,
    /// The line's length.
    pub bytes: usize,
}

#[cfg(test)]
pub(crate) mod fixtures;

#[cfg(test)]
#[path = "claude_stream_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "claude_stream/recorded_tests.rs"]
mod recorded_tests;
