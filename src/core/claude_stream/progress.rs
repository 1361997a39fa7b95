//! [`Progress`]: one Claude Code run as its stream has shown it so far.
//!
//! The daemon feeds every parsed line to [`Progress::apply`] with the time
//! it read it, and gets back what changed. Only a new turn or a new tool use
//! is worth a `task:progress` event ([`ProgressChange::is_progress`]); text
//! blocks, tool results and unknown lines update the state silently, so a
//! chatty run does not flood the event stream.
//!
//! Counting: a *turn* is one model message of the main conversation — the
//! CLI prints each content block on its own line, and the blocks of one
//! message share `message.id` — so turns are counted by distinct ids (a
//! message without an id starts a turn when the line before it was not an
//! assistant line). A subagent's messages (`parent_tool_use_id` set) are not
//! turns of the task, but their tool uses count. Once the result line has
//! come, its `num_turns` is preferred ([`Progress::turns`]).
//!
//! The state is bounded whatever the stream holds: ids and names are cut by
//! the parser, tool uses are counted per name for the first
//! [`MAX_TOOL_NAMES`] names (later names are counted together), and texts
//! are kept as previews.

use super::{ApiRetry, Block, RateLimit, ResultLine, StreamLine, Text};

/// Tool names counted one by one; uses of later names are counted together.
pub const MAX_TOOL_NAMES: usize = 32;

/// How often one tool was used.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ToolCount {
    pub name: String,
    pub uses: u32,
}

/// An API request being retried: the last `api_retry` line and when it was
/// read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Retry {
    pub attempt: Option<u64>,
    pub max_retries: Option<u64>,
    pub retry_delay_ms: Option<u64>,
    pub error_status: Option<u16>,
    pub at_ms: i64,
}

impl Retry {
    /// `attempt 3 of 10, status 429` (what is known of it).
    pub fn describe(&self) -> String {
        let mut s = match (self.attempt, self.max_retries) {
            (Some(a), Some(m)) => format!("attempt {a} of {m}"),
            (Some(a), None) => format!("attempt {a}"),
            _ => "an attempt".to_owned(),
        };
        match self.error_status {
            Some(st) => s.push_str(&format!(", status {st}")),
            None => s.push_str(", no HTTP status"),
        }
        s
    }
}

/// What one line changed, when it matters to the daemon.
#[derive(Debug, Clone, PartialEq)]
pub enum ProgressChange {
    /// The session id, first seen or changed.
    Session { session_id: String },
    /// A model message of the main conversation began; `turn` counts from 1.
    Turn { turn: u32 },
    /// A tool was called; `uses` counts every tool use so far.
    ToolUse { name: String, uses: u32 },
    /// An API request failed and is being retried.
    Retrying(Retry),
    /// The account's rate-limit state changed (`rate_limit_event`).
    RateLimit(RateLimit),
    /// The result line came.
    Finished { is_error: bool },
}

impl ProgressChange {
    /// Whether this is worth a `task:progress` event: a new turn or a new
    /// tool use.
    pub fn is_progress(&self) -> bool {
        matches!(
            self,
            ProgressChange::Turn { .. } | ProgressChange::ToolUse { .. }
        )
    }
}

/// One run as its stream has shown it so far. Times are those passed to
/// [`Progress::apply`].
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    pub session_id: Option<String>,
    pub model: Option<String>,
    pub claude_code_version: Option<String>,
    pub cwd: Option<String>,
    /// From the init line: MCP servers not connected, MCP entries skipped.
    pub mcp_servers_not_connected: Vec<String>,
    pub mcp_server_errors: Vec<String>,
    /// Model messages of the main conversation seen so far.
    pub messages: u32,
    /// Tool uses so far, all tools.
    pub tool_uses: u32,
    /// Uses per tool, for the first [`MAX_TOOL_NAMES`] names, in the order
    /// first used.
    pub tools: Vec<ToolCount>,
    /// Uses of tools whose names came after the first [`MAX_TOOL_NAMES`].
    pub other_tool_uses: u32,
    pub last_tool: Option<String>,
    /// Tool results with `is_error: true`.
    pub tool_errors: u32,
    /// The last text block of the main conversation.
    pub last_text: Option<Text>,
    /// Lines seen, of which unknown and malformed.
    pub lines: u64,
    pub unknown_lines: u64,
    pub malformed_lines: u64,
    /// Why the last malformed line was.
    pub last_malformed: Option<String>,
    /// When the first and the last line (malformed ones too) were read.
    pub first_line_ms: Option<i64>,
    pub last_activity_ms: Option<i64>,
    /// `api_retry` lines seen.
    pub api_retries: u32,
    /// The retry in progress: the last `api_retry` line, until a model
    /// message shows the request went through.
    pub retrying: Option<Retry>,
    /// The last `rate_limit_event` and when it was read.
    pub rate_limit: Option<(RateLimit, i64)>,
    /// The result line, once it came.
    pub result: Option<ResultLine>,
    /// Parsing state, meaningful only while lines are still applied (a
    /// snapshot written to a file leaves it out).
    #[serde(skip)]
    last_message_id: Option<String>,
    #[serde(skip)]
    in_assistant_message: bool,
}

impl Progress {
    pub fn new() -> Progress {
        Progress::default()
    }

    /// Folds in one line read at `now_ms`; returns what changed that the
    /// daemon may report (most lines: nothing).
    pub fn apply(&mut self, line: &StreamLine, now_ms: i64) -> Vec<ProgressChange> {
        let mut changes = Vec::new();
        self.lines += 1;
        self.first_line_ms.get_or_insert(now_ms);
        self.last_activity_ms = Some(now_ms);
        match line {
            StreamLine::Init(init) => {
                self.note_session(init.session_id.as_deref(), &mut changes);
                set_if_some(&mut self.model, &init.model);
                set_if_some(&mut self.claude_code_version, &init.claude_code_version);
                set_if_some(&mut self.cwd, &init.cwd);
                self.mcp_servers_not_connected = init.mcp_servers_not_connected.clone();
                self.mcp_server_errors = init.mcp_server_errors.clone();
            }
            StreamLine::Assistant(a) => {
                // The request went through.
                self.retrying = None;
                let main = a.parent_tool_use_id.is_none();
                if main {
                    let new_turn = match &a.message_id {
                        Some(id) => self.last_message_id.as_deref() != Some(id.as_str()),
                        None => !self.in_assistant_message,
                    };
                    if new_turn {
                        self.messages = self.messages.saturating_add(1);
                        changes.push(ProgressChange::Turn {
                            turn: self.messages,
                        });
                    }
                    if a.message_id.is_some() {
                        self.last_message_id.clone_from(&a.message_id);
                    }
                    self.in_assistant_message = true;
                    set_if_some(&mut self.model, &a.model);
                }
                for block in &a.blocks {
                    match block {
                        Block::ToolUse { name, .. } => {
                            let name = name.as_deref().unwrap_or("(unnamed)");
                            self.count_tool(name);
                            changes.push(ProgressChange::ToolUse {
                                name: name.to_owned(),
                                uses: self.tool_uses,
                            });
                        }
                        Block::Text(t) if main => self.last_text = Some(t.clone()),
                        _ => {}
                    }
                }
            }
            StreamLine::User(u) => {
                if u.parent_tool_use_id.is_none() {
                    self.in_assistant_message = false;
                }
                let errors = u.tool_results.iter().filter(|r| r.is_error).count();
                self.tool_errors = self
                    .tool_errors
                    .saturating_add(u32::try_from(errors).unwrap_or(u32::MAX));
            }
            StreamLine::ApiRetry(r) => {
                self.api_retries = self.api_retries.saturating_add(1);
                let retry = retry_at(r, now_ms);
                self.retrying = Some(retry);
                changes.push(ProgressChange::Retrying(retry));
            }
            StreamLine::RateLimit(rl) => {
                let changed = self.rate_limit.as_ref().is_none_or(|(old, _)| old != rl);
                self.rate_limit = Some((rl.clone(), now_ms));
                if changed {
                    changes.push(ProgressChange::RateLimit(rl.clone()));
                }
            }
            StreamLine::Result(r) => {
                self.note_session(r.session_id.as_deref(), &mut changes);
                self.in_assistant_message = false;
                self.result = Some(r.clone());
                changes.push(ProgressChange::Finished {
                    is_error: r.is_error != Some(false),
                });
            }
            StreamLine::Unknown(_) => self.unknown_lines += 1,
            StreamLine::Malformed(m) => {
                self.malformed_lines += 1;
                self.last_malformed = Some(m.reason.clone());
            }
        }
        changes
    }

    /// Turns: the result's `num_turns` once it came, else the model messages
    /// counted so far.
    pub fn turns(&self) -> u64 {
        self.result
            .as_ref()
            .and_then(|r| r.num_turns)
            .unwrap_or(u64::from(self.messages))
    }

    /// Uses of the tool `name` (0 for names beyond the first
    /// [`MAX_TOOL_NAMES`]).
    pub fn uses_of(&self, name: &str) -> u32 {
        self.tools
            .iter()
            .find(|t| t.name == name)
            .map_or(0, |t| t.uses)
    }

    /// One line for a `task:progress` message: `turn 3, 5 tool uses (Bash 3,
    /// Write 2), last Bash`.
    pub fn summary(&self) -> String {
        let mut s = format!("turn {}", self.turns());
        if self.tool_uses > 0 {
            let plural = if self.tool_uses == 1 { "" } else { "s" };
            s.push_str(&format!(", {} tool use{plural} (", self.tool_uses));
            let mut parts: Vec<String> = self
                .tools
                .iter()
                .take(5)
                .map(|t| format!("{} {}", t.name, t.uses))
                .collect();
            let shown: u32 = self.tools.iter().take(5).map(|t| t.uses).sum();
            if shown < self.tool_uses {
                parts.push(format!("others {}", self.tool_uses - shown));
            }
            s.push_str(&parts.join(", "));
            s.push(')');
            if let Some(last) = &self.last_tool {
                s.push_str(&format!(", last {last}"));
            }
        }
        if let Some(r) = &self.retrying {
            s.push_str(&format!(", retrying the API ({})", r.describe()));
        }
        s
    }

    fn note_session(&mut self, id: Option<&str>, changes: &mut Vec<ProgressChange>) {
        if let Some(id) = id {
            if self.session_id.as_deref() != Some(id) {
                self.session_id = Some(id.to_owned());
                changes.push(ProgressChange::Session {
                    session_id: id.to_owned(),
                });
            }
        }
    }

    fn count_tool(&mut self, name: &str) {
        self.tool_uses = self.tool_uses.saturating_add(1);
        if let Some(t) = self.tools.iter_mut().find(|t| t.name == name) {
            t.uses = t.uses.saturating_add(1);
        } else if self.tools.len() < MAX_TOOL_NAMES {
            self.tools.push(ToolCount {
                name: name.to_owned(),
                uses: 1,
            });
        } else {
            self.other_tool_uses = self.other_tool_uses.saturating_add(1);
        }
        if self.last_tool.as_deref() != Some(name) {
            self.last_tool = Some(name.to_owned());
        }
    }
}

fn set_if_some(field: &mut Option<String>, value: &Option<String>) {
    if value.is_some() && field != value {
        field.clone_from(value);
    }
}

fn retry_at(r: &ApiRetry, at_ms: i64) -> Retry {
    Retry {
        attempt: r.attempt,
        max_retries: r.max_retries,
        retry_delay_ms: r.retry_delay_ms,
        error_status: r.error_status,
        at_ms,
    }
}

#[cfg(test)]
#[path = "progress_tests.rs"]
mod tests;
