//! [`parse_line`]: one line of stdout to a [`StreamLine`], never an error.
//!
//! The line is read once into the flat [`RawLine`] and then typed by its
//! `type` (and, for `system`, its `subtype`).

use super::lenient::{List, MAX_NAMES};
use super::raw::{RawLine, RawMcpEntry};
use super::{
    ApiRetry, Assistant, Block, Init, Malformed, RateLimit, ResultLine, StreamLine, ToolResult,
    Unknown, Usage, User,
};

/// Reads one line of the stream (with or without its line end).
pub fn parse_line(line: &[u8]) -> StreamLine {
    let trimmed = trim(line);
    let malformed = |reason: String| {
        StreamLine::Malformed(Malformed {
            reason,
            bytes: line.len(),
        })
    };
    match trimmed.first() {
        None => return malformed("empty line".to_owned()),
        Some(b'{') => {}
        Some(&c) => return malformed(not_an_object(c)),
    }
    match serde_json::from_slice::<RawLine>(trimmed) {
        Ok(raw) => typed(raw),
        Err(e) => malformed(json_error(&e)),
    }
}

/// `line` without ASCII white space at either end (`<[u8]>::trim_ascii`
/// is newer than the MSRV).
fn trim(line: &[u8]) -> &[u8] {
    let start = line
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &line[start..end]
}

fn not_an_object(first: u8) -> String {
    let what = match first {
        b'[' => "a JSON array",
        b'"' => "a JSON string",
        b'-' | b'0'..=b'9' => "a number",
        b't' | b'f' | b'n' => "a JSON literal or text",
        0x20..=0x7e => "text",
        _ => "binary or non-ASCII data",
    };
    format!("not a JSON object: {what} (first byte 0x{first:02x})")
}

fn json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Eof => "truncated JSON",
        Category::Syntax => "invalid JSON",
        Category::Data => "unexpected JSON shape",
        Category::Io => "read error",
    };
    format!("{what}: {e}")
}

fn typed(raw: RawLine) -> StreamLine {
    match (raw.kind.as_deref(), raw.subtype.as_deref()) {
        (Some("system"), Some("init")) => StreamLine::Init(init(raw)),
        (Some("system"), Some("api_retry")) => StreamLine::ApiRetry(ApiRetry {
            attempt: raw.attempt,
            max_retries: raw.max_retries,
            retry_delay_ms: raw.retry_delay_ms,
            error_status: status(raw.error_status),
            error: raw.error,
        }),
        (Some("assistant"), _) => StreamLine::Assistant(assistant(raw)),
        (Some("user"), _) => StreamLine::User(user(raw)),
        (Some("result"), _) => StreamLine::Result(result(raw)),
        (Some("rate_limit_event"), _) => {
            let info = raw.rate_limit_info.unwrap_or_default();
            StreamLine::RateLimit(RateLimit {
                status: info.status,
                resets_at_ms: info.resets_at.and_then(epoch_ms),
                limit_type: info.limit_type,
                overage_status: info.overage_status,
            })
        }
        _ => StreamLine::Unknown(Unknown {
            kind: raw.kind,
            subtype: raw.subtype,
        }),
    }
}

/// An HTTP status, if the number is one.
fn status(v: Option<u64>) -> Option<u16> {
    v.and_then(|v| u16::try_from(v).ok())
        .filter(|s| (100..1000).contains(s))
}

/// Unix seconds (or milliseconds, if the number is that large) as
/// milliseconds.
pub(super) fn epoch_ms(v: u64) -> Option<i64> {
    let ms = if v >= 100_000_000_000 {
        v
    } else {
        v.checked_mul(1000)?
    };
    i64::try_from(ms).ok()
}

fn init(raw: RawLine) -> Init {
    let entries = |l: Option<List<RawMcpEntry>>| l.map(|l| l.kept).unwrap_or_default();
    let mcp_servers_not_connected = entries(raw.mcp_servers)
        .into_iter()
        .filter(|s| s.status.as_deref() != Some("connected"))
        .map(|s| {
            format!(
                "{}: {}",
                s.name.as_deref().unwrap_or("?"),
                s.status.as_deref().unwrap_or("no status")
            )
        })
        .collect();
    let mcp_server_errors = entries(raw.mcp_server_errors)
        .into_iter()
        .map(|e| {
            let mut s = e.name.unwrap_or_else(|| "?".to_owned());
            for part in [e.kind, e.message.map(|m| m.preview)].into_iter().flatten() {
                s.push_str(": ");
                s.push_str(&part);
            }
            s
        })
        .collect();
    Init {
        session_id: raw.session_id,
        cwd: raw.cwd,
        model: raw.model,
        tools: raw.tools,
        claude_code_version: raw.claude_code_version,
        mcp_servers_not_connected,
        mcp_server_errors,
    }
}

fn assistant(raw: RawLine) -> Assistant {
    let message = raw.message.unwrap_or_default();
    let blocks = message.content.map(|l| l.kept).unwrap_or_default();
    Assistant {
        message_id: message.id,
        model: message.model,
        parent_tool_use_id: raw.parent_tool_use_id,
        blocks: blocks
            .into_iter()
            .map(|b| match b.kind.as_deref() {
                Some("text") => Block::Text(b.text.unwrap_or_default()),
                Some("tool_use") => Block::ToolUse {
                    id: b.id,
                    name: b.name,
                },
                _ => Block::Other(b.kind),
            })
            .collect(),
    }
}

fn user(raw: RawLine) -> User {
    let message = raw.message.unwrap_or_default();
    let blocks = message.content.map(|l| l.kept).unwrap_or_default();
    User {
        parent_tool_use_id: raw.parent_tool_use_id,
        tool_results: blocks
            .into_iter()
            .filter(|b| b.kind.as_deref() == Some("tool_result"))
            .map(|b| ToolResult {
                tool_use_id: b.tool_use_id,
                is_error: b.is_error.unwrap_or(false),
            })
            .collect(),
    }
}

fn result(raw: RawLine) -> ResultLine {
    let usage = raw.usage.unwrap_or_default();
    let denials = raw.permission_denials.unwrap_or(List {
        kept: Vec::new(),
        total: 0,
    });
    debug_assert!(denials.kept.len() <= MAX_NAMES);
    ResultLine {
        session_id: raw.session_id,
        subtype: raw.subtype,
        is_error: raw.is_error,
        num_turns: raw.num_turns,
        result: raw.result,
        total_cost_usd: raw.total_cost_usd,
        usage: Usage {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cache_creation_input_tokens: usage.cache_creation_input_tokens,
            cache_read_input_tokens: usage.cache_read_input_tokens,
        },
        duration_ms: raw.duration_ms,
        duration_api_ms: raw.duration_api_ms,
        terminal_reason: raw.terminal_reason,
        api_error_status: status(raw.api_error_status),
        permission_denials: denials.total,
        denied_tools: denials
            .kept
            .into_iter()
            .map(|d| d.tool_name.unwrap_or_else(|| "?".to_owned()))
            .collect(),
        errors: raw.errors.map(|l| l.kept).unwrap_or_default(),
    }
}
