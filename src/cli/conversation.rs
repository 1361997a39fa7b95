//! A Claude Code task's log as a conversation a person can read: what
//! `claude -p --output-format stream-json --verbose` printed (one JSON
//! object per line) shown as the session, what the model said (in full),
//! each tool call with its command or file, each tool's result (its first
//! 20 lines), API retries, rate-limit events and the result line with its
//! turns, cost, time and tokens. `claudinectl logs` uses it unless `--raw`.
//!
//! Pure: [`Renderer::line`] takes one line's bytes and returns the text to
//! print. It reads `serde_json::Value`s, not the daemon's typed parser
//! ([`crate::core::claude_stream`]), which cuts texts to previews and skips
//! tool inputs and outputs. It never fails, never panics and never hides a
//! line: one that is not a JSON object (stderr interleaved in the combined
//! log, a line cut by the log's size cap) or an object of a type not known
//! here is given back as it is, invalid UTF-8 replaced. In the texts decoded
//! from JSON, control characters other than newline and tab are escaped
//! (`\x1b`), so a tool's output cannot drive the terminal.
//!
//! Files: `out.rs` (the text a line renders to: indenting, escaping,
//! cutting), `status.rs` (session, retries, rate limits, the result),
//! `writer.rs`: [`LineRenderWriter`] puts a `Renderer` behind
//! `std::io::Write`: it takes the log's bytes in whatever chunks they
//! arrive and renders each complete line.

mod out;
mod status;
mod writer;

pub use writer::LineRenderWriter;

use chrono::FixedOffset;
use out::{compact, is_empty, str_at, Out};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;

/// Lines of a tool's result (or of a command) shown; the rest are counted.
pub const SHOWN_LINES: usize = 20;
/// Tool uses remembered to label their results (the map is emptied when it
/// reaches this, which only costs labels of results not yet seen).
const MAX_PENDING_TOOLS: usize = 1024;

/// Renders a stream line by line; keeps what later lines need (the names of
/// tools whose results have not come yet).
#[derive(Debug, Clone)]
pub struct Renderer {
    /// Tool-use id → tool name; an entry leaves when its result is shown.
    tools: HashMap<String, String>,
    /// The last text of the main conversation (trimmed): a successful
    /// result whose text is the same is not printed twice.
    last_text: Option<String>,
    /// The offset times (a rate limit's reset) are shown in.
    offset: FixedOffset,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

impl Renderer {
    /// A renderer that shows times in UTC.
    pub fn new() -> Self {
        Self::with_offset(FixedOffset::east_opt(0).expect("zero offset"))
    }

    /// A renderer that shows times at this offset from UTC (the local one
    /// in `claudinectl`).
    pub fn with_offset(offset: FixedOffset) -> Self {
        Renderer {
            tools: HashMap::new(),
            last_text: None,
            offset,
        }
    }

    /// The text to print for one line of the stream (with or without its
    /// `\n`): one or more lines, each ending in `\n`, or `None` when the
    /// line shows nothing (an empty text block).
    pub fn line(&mut self, raw: &[u8]) -> Option<String> {
        let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        let rendered = match serde_json::from_slice::<Value>(raw) {
            Ok(value) => self.render(&value),
            Err(_) => None,
        };
        match rendered {
            Some(text) if text.is_empty() => None,
            Some(text) => Some(text),
            None => {
                let mut text = String::from_utf8_lossy(raw).into_owned();
                text.push('\n');
                Some(text)
            }
        }
    }

    /// `None` when the line is not one known here: it is printed as it is.
    fn render(&mut self, v: &Value) -> Option<String> {
        let kind = str_at(v, "type")?;
        let subagent = str_at(v, "parent_tool_use_id").is_some();
        let mut out = Out::new(if subagent { "  " } else { "" });
        match (kind, str_at(v, "subtype")) {
            ("system", Some("init")) => status::init(v, &mut out),
            ("system", Some("api_retry")) => status::api_retry(v, &mut out),
            ("assistant", _) => self.assistant(v, &mut out, !subagent)?,
            ("user", _) => self.user(v, &mut out)?,
            ("rate_limit_event", _) => status::rate_limit(v, &self.offset, &mut out)?,
            ("result", _) => {
                status::result(v, self.last_text.as_deref(), &mut out);
                self.last_text = None;
            }
            _ => return None,
        }
        Some(out.text)
    }

    fn assistant(&mut self, v: &Value, out: &mut Out, main: bool) -> Option<()> {
        match v.get("message")?.get("content")? {
            Value::String(text) => self.said(out, text, main),
            Value::Array(blocks) => {
                for block in blocks {
                    match str_at(block, "type") {
                        Some("text") => self.said(out, str_at(block, "text").unwrap_or(""), main),
                        Some("tool_use" | "server_tool_use") => self.tool_use(block, out),
                        Some("thinking" | "redacted_thinking") => out.line("(thinking)"),
                        _ => other_block(block, out),
                    }
                }
            }
            _ => return None,
        }
        Some(())
    }

    fn said(&mut self, out: &mut Out, text: &str, main: bool) {
        if text.trim().is_empty() {
            return;
        }
        out.text_block("assistant: ", text);
        if main {
            self.last_text = Some(text.trim().to_string());
        }
    }

    fn tool_use(&mut self, block: &Value, out: &mut Out) {
        let name = str_at(block, "name").unwrap_or("tool");
        if let Some(id) = str_at(block, "id") {
            if self.tools.len() >= MAX_PENDING_TOOLS {
                self.tools.clear();
            }
            self.tools.insert(id.to_string(), name.to_string());
        }
        let input = block.get("input");
        let key = input.and_then(|i| main_input(name).and_then(|k| str_at(i, k)));
        let shown = match (key, input) {
            (Some(s), _) => Cow::Borrowed(s),
            (None, Some(i)) if !is_empty(i) => Cow::Owned(compact(i)),
            (None, _) => Cow::Borrowed(""),
        };
        out.cut_block(&format!("▶ {name}"), &shown);
    }

    fn user(&mut self, v: &Value, out: &mut Out) -> Option<()> {
        match v.get("message")?.get("content")? {
            Value::String(text) => user_text(out, text),
            Value::Array(blocks) => {
                for block in blocks {
                    match str_at(block, "type") {
                        Some("tool_result") => self.tool_result(block, out),
                        Some("text") => user_text(out, str_at(block, "text").unwrap_or("")),
                        _ => other_block(block, out),
                    }
                }
            }
            _ => return None,
        }
        Some(())
    }

    fn tool_result(&mut self, block: &Value, out: &mut Out) {
        let name = str_at(block, "tool_use_id")
            .and_then(|id| self.tools.remove(id))
            .unwrap_or_else(|| "tool".to_string());
        let head = match block.get("is_error").and_then(Value::as_bool) {
            Some(true) => format!("◀ {name} (error)"),
            _ => format!("◀ {name}"),
        };
        let content = result_content(block.get("content"));
        let content = if content.trim().is_empty() {
            Cow::Borrowed("(no output)")
        } else {
            content
        };
        out.cut_block(&head, &content);
    }
}

/// The input field that says what a well-known tool does.
fn main_input(tool: &str) -> Option<&'static str> {
    Some(match tool {
        "Bash" => "command",
        "Read" | "Write" | "Edit" | "MultiEdit" => "file_path",
        "NotebookEdit" => "notebook_path",
        "Glob" | "Grep" => "pattern",
        "WebFetch" => "url",
        "WebSearch" => "query",
        "Task" | "Agent" => "description",
        _ => return None,
    })
}

/// A block of a type not shown otherwise: its type and its JSON, cut.
fn other_block(block: &Value, out: &mut Out) {
    let kind = str_at(block, "type").unwrap_or("block");
    out.line(&format!("({kind}) {}", compact(block)));
}

fn user_text(out: &mut Out, text: &str) {
    if !text.trim().is_empty() {
        out.text_block("user: ", text);
    }
}

/// A `tool_result`'s `content`: a string, or text blocks (others by type).
fn result_content(content: Option<&Value>) -> Cow<'_, str> {
    match content {
        None | Some(Value::Null) => Cow::Borrowed(""),
        Some(Value::String(s)) => Cow::Borrowed(s),
        Some(Value::Array(blocks)) => {
            let parts: Vec<Cow<'_, str>> = blocks
                .iter()
                .map(|b| match (str_at(b, "type"), str_at(b, "text")) {
                    (Some("text"), Some(t)) => Cow::Borrowed(t),
                    (kind, _) => Cow::Owned(format!("({})", kind.unwrap_or("block"))),
                })
                .collect();
            Cow::Owned(parts.join("\n"))
        }
        Some(other) => Cow::Owned(compact(other)),
    }
}

#[cfg(test)]
#[path = "conversation_tests.rs"]
mod tests;
