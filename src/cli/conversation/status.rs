//! The lines about the run rather than the conversation: the session
//! (`system`/`init`), API retries, rate-limit events and the result.

use super::out::{compact, str_at, Out};
use chrono::{DateTime, FixedOffset};
use serde_json::Value;
use std::fmt::Write as _;

/// `── result: success · 2 turns · $0.1003 · 0.3 s · in 24861 / out 41
/// tokens`, or `── result: error (reasons): text` and the figures below;
/// the tools denied; a successful result's text unless it is `last_text`
/// (the answer just shown).
pub(super) fn result(v: &Value, last_text: Option<&str>, out: &mut Out) {
    let is_error = v.get("is_error").and_then(Value::as_bool);
    let subtype = str_at(v, "subtype");
    let failed = is_error == Some(true) || subtype.is_some_and(|s| s.starts_with("error"));
    let text = str_at(v, "result").filter(|t| !t.trim().is_empty());
    let stats = result_stats(v);
    if failed {
        let head = format!("── result: error ({})", error_reasons(v).join(", "));
        match text {
            Some(t) => out.text_block(&format!("{head}: "), t),
            None => out.line(&head),
        }
        if !stats.is_empty() {
            out.line(&format!("   {}", stats.join(" · ")));
        }
        for error in v
            .get("errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match error.as_str() {
                Some(e) => out.text_block("   error: ", e),
                None => out.line(&format!("   error: {}", compact(error))),
            }
        }
    } else {
        let word = if is_error == Some(false) {
            "success"
        } else {
            "finished"
        };
        let mut head = format!("── result: {word}");
        for s in &stats {
            let _ = write!(head, " · {s}");
        }
        out.line(&head);
    }
    let denied = denied_tools(v);
    if !denied.is_empty() {
        out.line(&format!("permission denied: {}", denied.join(", ")));
    }
    if let (false, Some(t)) = (failed, text) {
        if last_text != Some(t.trim()) {
            out.text_block("", t);
        }
    }
}

/// `… rate limit: rejected (five_hour) · resets … · overage rejected`;
/// `None` without a `rate_limit_info` object.
pub(super) fn rate_limit(v: &Value, offset: &FixedOffset, out: &mut Out) -> Option<()> {
    let info = v.get("rate_limit_info")?;
    if !info.is_object() {
        return None;
    }
    let mut line = format!("… rate limit: {}", str_at(info, "status").unwrap_or("?"));
    if let Some(kind) = str_at(info, "rateLimitType") {
        let _ = write!(line, " ({kind})");
    }
    if let Some(at) = info.get("resetsAt").and_then(Value::as_u64) {
        let _ = write!(line, " · resets {}", time(at, offset));
    }
    if let Some(overage) = str_at(info, "overageStatus") {
        let _ = write!(line, " · overage {overage}");
    }
    out.line(&line);
    Some(())
}

/// Unix seconds (or milliseconds, if the number is that large).
fn time(at: u64, offset: &FixedOffset) -> String {
    let ms = if at >= 100_000_000_000 {
        at
    } else {
        at.saturating_mul(1000)
    };
    match i64::try_from(ms)
        .ok()
        .and_then(DateTime::from_timestamp_millis)
    {
        Some(t) => t
            .with_timezone(offset)
            .format("%Y-%m-%d %H:%M %:z")
            .to_string(),
        None => format!("@{at}"),
    }
}

/// Turns, cost, time and tokens of a result line, those it has.
fn result_stats(v: &Value) -> Vec<String> {
    let num = |key: &str| v.get(key).and_then(Value::as_u64);
    let mut stats = Vec::new();
    if let Some(n) = num("num_turns") {
        stats.push(format!("{n} turn{}", if n == 1 { "" } else { "s" }));
    }
    if let Some(cost) = v.get("total_cost_usd").and_then(Value::as_f64) {
        stats.push(format!("${cost:.4}"));
    }
    if let Some(ms) = num("duration_ms") {
        stats.push(seconds(ms));
    }
    let usage = v.get("usage");
    let tokens = |key: &str| usage.and_then(|u| u.get(key)).and_then(Value::as_u64);
    let cached = tokens("cache_creation_input_tokens").unwrap_or(0)
        + tokens("cache_read_input_tokens").unwrap_or(0);
    if let (Some(i), Some(o)) = (tokens("input_tokens"), tokens("output_tokens")) {
        if cached > 0 {
            stats.push(format!("in {i} + {cached} cached / out {o} tokens"));
        } else {
            stats.push(format!("in {i} / out {o} tokens"));
        }
    }
    stats
}

/// `12.3 s` under a minute, `2m05s` above.
pub(super) fn seconds(ms: u64) -> String {
    if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        crate::cli::format::duration(i64::try_from(ms).unwrap_or(i64::MAX))
    }
}

/// Why a result is an error: its subtype unless `success`, `is_error`, the
/// API's status, how it ended unless that only repeats the status.
fn error_reasons(v: &Value) -> Vec<String> {
    let mut reasons = Vec::new();
    if let Some(subtype) = str_at(v, "subtype").filter(|s| *s != "success") {
        reasons.push(subtype.to_string());
    }
    if v.get("is_error").and_then(Value::as_bool) == Some(true) {
        reasons.push("is_error".to_string());
    }
    let status = v.get("api_error_status").and_then(Value::as_u64);
    if let Some(status) = status {
        reasons.push(format!("api status {status}"));
    }
    match str_at(v, "terminal_reason") {
        Some("completed") | None => {}
        Some("api_error") if status.is_some() => {}
        Some(reason) => reasons.push(reason.to_string()),
    }
    reasons
}

/// The tools of `permission_denials`, each once, in order.
fn denied_tools(v: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for denial in v
        .get("permission_denials")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = str_at(denial, "tool_name").unwrap_or("?");
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// `── session … · model … · claude … · cwd …`, then the MCP servers that
/// did not connect and the configuration entries the CLI skipped.
pub(super) fn init(v: &Value, out: &mut Out) {
    let mut parts = Vec::new();
    for (key, label) in [
        ("session_id", "session"),
        ("model", "model"),
        ("claude_code_version", "claude"),
        ("cwd", "cwd"),
    ] {
        if let Some(value) = str_at(v, key) {
            parts.push(format!("{label} {value}"));
        }
    }
    if parts.is_empty() {
        parts.push("session".to_string());
    }
    out.line(&format!("── {}", parts.join(" · ")));
    let entries = |key: &str| v.get(key).and_then(Value::as_array).into_iter().flatten();
    for server in entries("mcp_servers") {
        let status = str_at(server, "status").unwrap_or("no status");
        if status != "connected" {
            let name = str_at(server, "name").unwrap_or("?");
            out.line(&format!("   MCP server {name}: {status}"));
        }
    }
    for error in entries("mcp_server_errors") {
        let field = |k: &str| str_at(error, k).unwrap_or("?");
        let (name, kind, message) = (field("name"), field("type"), field("message"));
        out.line(&format!("   MCP config {name}: {kind}: {message}"));
    }
}

/// `… API retry 2 of 10 in 1.2 s (status 429)`.
pub(super) fn api_retry(v: &Value, out: &mut Out) {
    let num = |key: &str| v.get(key).and_then(Value::as_u64);
    let mut line = String::from("… API retry");
    if let Some(n) = num("attempt") {
        let _ = write!(line, " {n}");
    }
    if let Some(max) = num("max_retries") {
        let _ = write!(line, " of {max}");
    }
    if let Some(ms) = num("retry_delay_ms") {
        let _ = write!(line, " in {}", seconds(ms));
    }
    match (num("error_status"), str_at(v, "error")) {
        (Some(status), _) => {
            let _ = write!(line, " (status {status})");
        }
        (None, Some(error)) => {
            let _ = write!(line, " ({error})");
        }
        (None, None) => {}
    }
    out.line(&line);
}
