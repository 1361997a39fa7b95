//! What the fake model sends back: the SSE events of a reply, and the error
//! bodies and headers of a scripted failure.

use crate::script::StatusDirective;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub fn fresh_id(prefix: &str) -> String {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_fake{:08x}{n:06}", std::process::id())
}

/// One content block of a reply.
pub enum Block {
    Text(String),
    ToolUse { name: String, input: Value },
}

/// The SSE events of a whole reply, in order.
pub fn sse_events(
    model: &str,
    input_tokens: u64,
    blocks: &[Block],
    stop: &str,
) -> Vec<(&'static str, Value)> {
    let mut ev = vec![
        (
            "message_start",
            json!({"type": "message_start", "message": {
                "id": fresh_id("msg"), "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": input_tokens, "cache_creation_input_tokens": 0,
                          "cache_read_input_tokens": 0, "output_tokens": 1}}}),
        ),
        ("ping", json!({"type": "ping"})),
    ];
    let mut out_bytes = 0;
    for (i, b) in blocks.iter().enumerate() {
        let (start, deltas) = match b {
            Block::Text(t) => {
                out_bytes += t.len();
                let deltas = chunks(t, 2)
                    .into_iter()
                    .map(|c| json!({"type": "text_delta", "text": c}))
                    .collect::<Vec<_>>();
                (json!({"type": "text", "text": ""}), deltas)
            }
            Block::ToolUse { name, input } => {
                let js = input.to_string();
                out_bytes += js.len();
                let deltas = chunks(&js, 2)
                    .into_iter()
                    .map(|c| json!({"type": "input_json_delta", "partial_json": c}))
                    .collect::<Vec<_>>();
                let id = fresh_id("toolu");
                (
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                    deltas,
                )
            }
        };
        ev.push((
            "content_block_start",
            json!({"type": "content_block_start", "index": i, "content_block": start}),
        ));
        for d in deltas {
            ev.push((
                "content_block_delta",
                json!({"type": "content_block_delta", "index": i, "delta": d}),
            ));
        }
        ev.push((
            "content_block_stop",
            json!({"type": "content_block_stop", "index": i}),
        ));
    }
    ev.push((
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
               "usage": {"output_tokens": (out_bytes as u64 / 4).max(1)}}),
    ));
    ev.push(("message_stop", json!({"type": "message_stop"})));
    ev
}

/// `s` cut into at most `n` pieces on character boundaries (deltas arrive in pieces).
fn chunks(s: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    let size = chars.len().div_ceil(n.max(1));
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

pub fn error_type(code: u16) -> &'static str {
    match code {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

pub fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        529 => "Overloaded",
        _ => "Error",
    }
}

pub fn error_body(code: u16, message: &str) -> String {
    json!({"type": "error", "error": {"type": error_type(code), "message": message}}).to_string()
}

/// The extra headers of an `@status` answer (rate-limit resets for 429).
pub fn status_headers(d: &StatusDirective, now: u64) -> Vec<(String, String)> {
    let mut h = Vec::new();
    let reset = d.reset.map(|r| r.at(now));
    let retry_after = d
        .retry_after
        .unwrap_or(reset.map(|t| t.saturating_sub(now)));
    if let Some(s) = retry_after {
        h.push(("retry-after".to_string(), s.to_string()));
    }
    if let Some(b) = d.should_retry {
        h.push(("x-should-retry".to_string(), b.to_string()));
    }
    if let (429, Some(t)) = (d.code, reset) {
        let claim = d.claim.clone().unwrap_or_else(|| "five_hour".to_string());
        let rfc3339 = chrono::DateTime::from_timestamp(t as i64, 0)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        for (k, v) in [
            ("anthropic-ratelimit-unified-status", "rejected".to_string()),
            ("anthropic-ratelimit-unified-reset", t.to_string()),
            ("anthropic-ratelimit-unified-representative-claim", claim),
            ("anthropic-ratelimit-requests-limit", "50".to_string()),
            ("anthropic-ratelimit-requests-remaining", "0".to_string()),
            ("anthropic-ratelimit-requests-reset", rfc3339),
        ] {
            h.push((k.to_string(), v));
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{model_reply, parse_status, Conversation, Reset, Script};

    #[test]
    fn status_with_reset_and_times() {
        let s =
            Script::parse("@status 429 reset=1700000000 claim=seven_day\n@status-times 2").unwrap();
        let d = s.status.clone().unwrap();
        assert_eq!(
            (d.code, d.reset, s.status_times),
            (429, Some(Reset::At(1_700_000_000)), Some(2))
        );
        let h = status_headers(&d, 1_699_999_900);
        let get = |k: &str| h.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("retry-after"), Some("100"));
        assert_eq!(get("anthropic-ratelimit-unified-reset"), Some("1700000000"));
        assert_eq!(
            get("anthropic-ratelimit-unified-representative-claim"),
            Some("seven_day")
        );
        assert_eq!(
            get("anthropic-ratelimit-requests-reset"),
            Some("2023-11-14T22:13:20Z")
        );
        let rel = parse_status("529 reset=+30").unwrap();
        assert_eq!(rel.reset.map(|r| r.at(100)), Some(130));
        let quiet = parse_status("429 reset=+30 retry-after=none").unwrap();
        assert!(status_headers(&quiet, 100)
            .iter()
            .all(|(k, _)| k != "retry-after"));
        assert!(status_headers(&rel, 100)
            .iter()
            .all(|(k, _)| k == "retry-after"));
        assert_eq!(parse_status("429 bogus"), None);
    }

    #[test]
    fn sse_sequence_and_tool_input_round_trip() {
        let conv = Conversation::read(&[json!({"role": "user", "content": "@write /tmp/a hello"})]);
        let (blocks, stop) = model_reply(&conv, &conv.script());
        let ev = sse_events("m", 10, &blocks, stop);
        let names: Vec<&str> = ev.iter().map(|(n, _)| *n).collect();
        assert_eq!(names.first(), Some(&"message_start"));
        assert_eq!(
            &names[names.len() - 2..],
            &["message_delta", "message_stop"]
        );
        assert_eq!(
            names
                .iter()
                .filter(|n| **n == "content_block_start")
                .count(),
            2
        );
        let json: String = ev
            .iter()
            .filter_map(|(_, d)| d["delta"]["partial_json"].as_str())
            .collect();
        let input: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(input, json!({"file_path": "/tmp/a", "content": "hello\n"}));
        assert_eq!(ev[ev.len() - 2].1["delta"]["stop_reason"], "tool_use");
    }
}
