//! Tests of `parse_line`: every kind of line, real-shaped, then everything a
//! pipe can deliver instead (truncated, binary, huge, deep, wrongly typed).

use super::fixtures::{self, MODEL, SESSION};
use super::*;
use serde_json::json;

fn parse(s: &str) -> StreamLine {
    parse_line(s.as_bytes())
}

fn malformed(line: &[u8]) -> Malformed {
    match parse_line(line) {
        StreamLine::Malformed(m) => m,
        other => panic!("not malformed: {other:?}"),
    }
}

fn result_of(s: &str) -> ResultLine {
    match parse(s) {
        StreamLine::Result(r) => r,
        other => panic!("not a result: {other:?}"),
    }
}

#[test]
fn init_line() {
    let StreamLine::Init(init) = parse(&fixtures::init()) else {
        panic!("not init")
    };
    assert_eq!(
        init,
        Init {
            session_id: Some(SESSION.into()),
            cwd: Some("/home/ada/src/project".into()),
            model: Some(MODEL.into()),
            tools: Some(15),
            claude_code_version: Some("2.1.330".into()),
            mcp_servers_not_connected: vec![],
            mcp_server_errors: vec![],
        }
    );
}

#[test]
fn init_with_mcp_trouble() {
    let line = json!({
        "type": "system", "subtype": "init", "session_id": SESSION,
        "tools": ["Bash", "mcp__mail__send"],
        "mcp_servers": [{"name": "mail", "status": "connected"},
                        {"name": "db", "status": "failed"}, {"name": "x"}],
        "mcp_server_errors": [{"name": "web", "type": "url_missing_type",
                               "message": "MCP server web: url given without type"}]
    });
    let StreamLine::Init(init) = parse(&line.to_string()) else {
        panic!("not init")
    };
    assert_eq!(init.tools, Some(2));
    assert_eq!(
        init.mcp_servers_not_connected,
        ["db: failed", "x: no status"]
    );
    assert_eq!(
        init.mcp_server_errors,
        ["web: url_missing_type: MCP server web: url given without type"]
    );
}

#[test]
fn assistant_text_and_tool_use() {
    let StreamLine::Assistant(a) = parse(&fixtures::text("msg_01", "Hello.")) else {
        panic!("not assistant")
    };
    assert_eq!(a.message_id.as_deref(), Some("msg_01"));
    assert_eq!(a.model.as_deref(), Some(MODEL));
    assert_eq!(a.parent_tool_use_id, None);
    assert_eq!(
        a.blocks,
        [Block::Text(Text {
            preview: "Hello.".into(),
            bytes: 6
        })]
    );

    let line = fixtures::bash("msg_02", "toolu_01", "ls -la /");
    let StreamLine::Assistant(a) = parse(&line) else {
        panic!("not assistant")
    };
    assert_eq!(
        a.blocks,
        [Block::ToolUse {
            id: Some("toolu_01".into()),
            name: Some("Bash".into())
        }]
    );
}

#[test]
fn several_blocks_in_one_line_and_other_block_types() {
    let line = json!({"type": "assistant", "parent_tool_use_id": "toolu_parent",
        "message": {"id": "m", "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "abc"},
            {"type": "text", "text": "a"},
            {"type": "tool_use", "id": "t1", "name": "Read", "input": {"file_path": "/x"}},
            {"type": "tool_use", "id": "t2", "name": "Grep", "input": {}},
            "stray string", 42, null]}});
    let StreamLine::Assistant(a) = parse(&line.to_string()) else {
        panic!("not assistant")
    };
    assert_eq!(a.parent_tool_use_id.as_deref(), Some("toolu_parent"));
    assert_eq!(a.blocks.len(), 4, "{:?}", a.blocks);
    assert_eq!(a.blocks[0], Block::Other(Some("thinking".into())));
    assert!(matches!(&a.blocks[3], Block::ToolUse { name: Some(n), .. } if n == "Grep"));
}

#[test]
fn blocks_beyond_64_are_skipped() {
    let blocks: Vec<_> = (0..1000)
        .map(|i| json!({"type": "tool_use", "id": format!("t{i}"), "name": "Bash"}))
        .collect();
    let line = json!({"type": "assistant", "message": {"id": "m", "content": blocks}});
    let StreamLine::Assistant(a) = parse(&line.to_string()) else {
        panic!("not assistant")
    };
    assert_eq!(a.blocks.len(), 64);
}

#[test]
fn user_tool_results() {
    let StreamLine::User(u) = parse(&fixtures::tool_result("toolu_01", "hello\n", false)) else {
        panic!("not user")
    };
    assert_eq!(
        u.tool_results,
        [ToolResult {
            tool_use_id: Some("toolu_01".into()),
            is_error: false
        }]
    );
    let StreamLine::User(u) = parse(&fixtures::tool_result("t", "boom", true)) else {
        panic!("not user")
    };
    assert!(u.tool_results[0].is_error);
    // is_error absent: false. A prompt given as a bare string: no results.
    let line =
        r#"{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t"}]}}"#;
    let StreamLine::User(u) = parse(line) else {
        panic!("not user")
    };
    assert!(!u.tool_results[0].is_error);
    let line = r#"{"type":"user","message":{"role":"user","content":"do the thing"}}"#;
    assert_eq!(parse(line), StreamLine::User(User::default()));
}

#[test]
fn api_retry_line() {
    let StreamLine::ApiRetry(r) = parse(&fixtures::api_retry(3, Some(429), 2170)) else {
        panic!("not api_retry")
    };
    assert_eq!(
        (r.attempt, r.max_retries, r.retry_delay_ms, r.error_status),
        (Some(3), Some(10), Some(2170), Some(429))
    );
    assert_eq!(r.error.unwrap().preview, "rate_limit");
    // A connection error has no status.
    let StreamLine::ApiRetry(r) = parse(&fixtures::api_retry(1, None, 500)) else {
        panic!("not api_retry")
    };
    assert_eq!(r.error_status, None);
}

#[test]
fn result_line() {
    let r = result_of(&fixtures::result(false, 2, "Done.", None));
    assert_eq!(r.session_id.as_deref(), Some(SESSION));
    assert_eq!(r.subtype.as_deref(), Some("success"));
    assert_eq!(r.is_error, Some(false));
    assert_eq!(r.num_turns, Some(2));
    assert_eq!(r.result.as_ref().unwrap().preview, "Done.");
    assert_eq!(r.total_cost_usd, Some(0.0234567));
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: Some(12),
            output_tokens: Some(187),
            cache_creation_input_tokens: Some(1520),
            cache_read_input_tokens: Some(23690),
        }
    );
    assert_eq!((r.duration_ms, r.duration_api_ms), (Some(2519), Some(1874)));
    assert_eq!(r.terminal_reason.as_deref(), Some("completed"));
    assert_eq!(r.api_error_status, None);
    assert_eq!((r.permission_denials, r.denied_tools.len()), (0, 0));

    let r = result_of(&fixtures::result(true, 1, "API Error: 500", Some(500)));
    assert_eq!((r.is_error, r.api_error_status), (Some(true), Some(500)));
}

#[test]
fn result_with_denials_and_errors() {
    let denials: Vec<_> = (0..20)
        .map(|i| {
            json!({"tool_name": if i % 2 == 0 { "Bash" } else { "Write" },
                   "tool_use_id": format!("t{i}"), "tool_input": {"command": "rm -rf /"}})
        })
        .collect();
    let line = json!({"type": "result", "subtype": "error_during_execution",
        "is_error": true, "permission_denials": denials,
        "errors": ["No conversation found with session ID: 123", {"not": "a string"}]});
    let r = result_of(&line.to_string());
    assert_eq!(r.permission_denials, 20);
    assert_eq!(r.denied_tools.len(), 16);
    assert_eq!(&r.denied_tools[..2], ["Bash", "Write"]);
    assert_eq!(r.errors.len(), 1);
    assert!(r.errors[0].preview.starts_with("No conversation found"));
}

#[test]
fn rate_limit_event() {
    let line = r#"{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":1784079000,"rateLimitType":"five_hour","overageStatus":"rejected"},"session_id":"s"}"#;
    let StreamLine::RateLimit(rl) = parse(line) else {
        panic!("not rate_limit_event")
    };
    assert!(rl.is_rejected());
    assert_eq!(rl.resets_at_ms, Some(1_784_079_000_000));
    assert_eq!(rl.limit_type.as_deref(), Some("five_hour"));
    // Without its info: a rate-limit line that says nothing.
    assert_eq!(
        parse(r#"{"type":"rate_limit_event"}"#),
        StreamLine::RateLimit(RateLimit::default())
    );
}

#[test]
fn unknown_types_are_kept() {
    let unknown = |kind: Option<&str>, subtype: Option<&str>| {
        StreamLine::Unknown(Unknown {
            kind: kind.map(Into::into),
            subtype: subtype.map(Into::into),
        })
    };
    assert_eq!(
        parse(r#"{"type":"stream_event","event":{"type":"content_block_delta"}}"#),
        unknown(Some("stream_event"), None)
    );
    assert_eq!(
        parse(r#"{"type":"system","subtype":"compact_boundary","compact_metadata":{}}"#),
        unknown(Some("system"), Some("compact_boundary"))
    );
    assert_eq!(parse(r#"{"type":"system"}"#), unknown(Some("system"), None));
    assert_eq!(parse("{}"), unknown(None, None));
    assert_eq!(parse(r#"{"type":7,"x":[1,2]}"#), unknown(None, None));
}

#[test]
fn what_serde_json_allows_beyond_the_fields_read() {
    // A duplicate key of a field read is an error of shape, not a panic.
    let m = malformed(br#"{"type":"result","type":"user"}"#);
    assert!(
        m.reason
            .starts_with("unexpected JSON shape: duplicate field `type`"),
        "{}",
        m.reason
    );
    // Invalid UTF-8 inside a string nobody reads is skipped unchecked.
    let line = b"{\"type\":\"result\",\"x\":\"\xff\xfe\",\"num_turns\":1}";
    assert!(matches!(parse_line(line), StreamLine::Result(r) if r.num_turns == Some(1)));
}

#[test]
fn line_ends_and_spaces_are_ignored() {
    let line = format!("  {}\r\n", fixtures::text("m", "hi"));
    assert!(matches!(parse(&line), StreamLine::Assistant(_)));
}

#[test]
fn malformed_lines_say_what_is_wrong() {
    let cases: [(&[u8], &str); 10] = [
        (b"", "empty line"),
        (b" \t\r\n", "empty line"),
        (b"Error: something went wrong", "not a JSON object: text"),
        (b"[1,2,3]", "not a JSON object: a JSON array"),
        (b"42", "not a JSON object: a number"),
        (b"\"hello\"", "not a JSON object: a JSON string"),
        (b"\xff\xfe\x00\x01binary", "not a JSON object: binary"),
        (
            b"{\"type\": \"result\", oops}",
            "invalid JSON: key must be a string",
        ),
        (
            b"{\"type\":\"result\"} {\"type\":\"result\"}",
            "invalid JSON: trailing characters",
        ),
        (
            b"{\"type\":\"result\",\"result\":\"caf\xc3\"}",
            "invalid JSON: invalid unicode",
        ),
    ];
    for (line, reason) in cases {
        let m = malformed(line);
        assert!(m.reason.starts_with(reason), "{line:?}: {}", m.reason);
        assert_eq!(m.bytes, line.len());
    }
}

#[test]
fn truncated_lines_at_every_cut() {
    let line = fixtures::result(false, 2, "Done.", None);
    for cut in 1..line.len() - 1 {
        match parse(&line[..cut]) {
            StreamLine::Malformed(m) => assert!(
                m.reason.starts_with("truncated JSON") || m.reason.starts_with("invalid JSON"),
                "cut at {cut}: {}",
                m.reason
            ),
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    let m = malformed(&line.as_bytes()[..line.len() / 2]);
    assert!(
        m.reason.starts_with("truncated JSON: EOF while parsing"),
        "{}",
        m.reason
    );
}

#[test]
fn wrong_types_read_as_absent() {
    let line = json!({"type": "result", "subtype": 3, "is_error": "true",
        "num_turns": "4", "total_cost_usd": "0.5", "duration_ms": -5,
        "result": {"text": "no"}, "usage": "lots", "api_error_status": 99999,
        "permission_denials": {"tool_name": "Bash"}, "session_id": ["s"]});
    let r = result_of(&line.to_string());
    assert_eq!(r.subtype, None);
    assert_eq!(r.is_error, Some(true));
    assert_eq!(r.num_turns, Some(4));
    assert_eq!(r.total_cost_usd, Some(0.5));
    assert_eq!(r.duration_ms, None);
    assert_eq!(r.result, None);
    assert_eq!(r.usage, Usage::default());
    assert_eq!(r.api_error_status, None);
    assert_eq!(r.permission_denials, 0);
    assert_eq!(r.session_id, None);
    // A message that is not an object, content that is not an array.
    for message in [json!([1, 2]), json!("text"), json!({"id": 5, "content": 7})] {
        let line = json!({"type": "assistant", "message": message});
        assert_eq!(
            parse(&line.to_string()),
            StreamLine::Assistant(Assistant::default())
        );
    }
    // Floats where integers belong: whole ones count.
    let r = result_of(r#"{"type":"result","num_turns":3.0,"duration_ms":1.5}"#);
    assert_eq!((r.num_turns, r.duration_ms), (Some(3), None));
}

#[test]
fn a_five_megabyte_line_leaves_a_preview() {
    let big: String = "x".repeat(5 << 20);
    let r = result_of(&fixtures::result(false, 1, &big, None));
    let text = r.result.unwrap();
    assert_eq!(text.preview.len(), 200);
    assert_eq!(text.bytes, 5 << 20);
    assert!(!text.is_whole());

    // Escaped (newlines, quotes) and inside fields nobody reads.
    let lines = "line \"quoted\"\n".repeat(400_000);
    let StreamLine::User(u) = parse(&fixtures::tool_result("t", &lines, false)) else {
        panic!("not user")
    };
    assert_eq!(u.tool_results.len(), 1);
    let line = fixtures::tool_use("m", "t", "Write", json!({"content": lines}));
    assert!(matches!(parse(&line), StreamLine::Assistant(a) if a.blocks.len() == 1));
}

#[test]
fn deep_nesting_is_skipped_without_recursion() {
    // serde_json skips a value it is not asked to keep without recursing,
    // and the parser keeps nothing nested deeper than a content block, so
    // depth costs neither stack nor a malformed line. Checked on a 256 KiB
    // stack to be sure.
    let check = || {
        let depth = 100_000;
        let deep =
            |open: &str, mid: &str, close: &str| open.repeat(depth) + mid + &close.repeat(depth);
        for inner in [deep("[", "", "]"), deep("{\"a\":", "1", "}")] {
            for field in [
                "tool_input",
                "result",
                "message",
                "usage",
                "tools",
                "errors",
            ] {
                let line = format!(r#"{{"type":"result","{field}":{inner},"num_turns":1}}"#);
                assert_eq!(result_of(&line).num_turns, Some(1), "{field}");
            }
            let line = format!(
                r#"{{"type":"assistant","message":{{"content":[{{"type":"tool_use","name":"Bash","input":{inner}}}]}}}}"#
            );
            assert!(matches!(parse(&line), StreamLine::Assistant(a) if a.blocks.len() == 1));
            // Unclosed: truncated.
            let line = format!(r#"{{"type":"result","x":{}"#, &inner[..inner.len() / 2]);
            assert!(malformed(line.as_bytes())
                .reason
                .starts_with("truncated JSON"));
        }
        let m = malformed(deep("[", "", "]").as_bytes());
        assert!(m.reason.starts_with("not a JSON object: a JSON array"));
    };
    std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(check)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn unicode_is_cut_on_character_boundaries() {
    let text = "é🦀中".repeat(100);
    let r = result_of(&fixtures::result(false, 1, &text, None));
    let t = r.result.unwrap();
    assert_eq!(t.preview.chars().count(), 200);
    assert!(text.starts_with(&t.preview));
    assert_eq!(t.bytes, text.len());
    // Escapes, surrogate pairs included.
    let r = result_of(r#"{"type":"result","result":"caf\u00e9 \ud83e\udd80"}"#);
    assert_eq!(r.result.unwrap().preview, "café 🦀");
    // A lone surrogate is not a string.
    let m = malformed(br#"{"type":"result","result":"\ud800"}"#);
    assert!(m.reason.starts_with("invalid JSON"), "{}", m.reason);
    // Long names are cut too.
    let line = json!({"type": "system", "subtype": "init", "model": "ü".repeat(1000)});
    let StreamLine::Init(init) = parse(&line.to_string()) else {
        panic!("not init")
    };
    assert_eq!(init.model.unwrap().chars().count(), 128);
}

#[test]
fn epoch_seconds_or_milliseconds() {
    assert_eq!(epoch_ms(1_784_079_000), Some(1_784_079_000_000));
    assert_eq!(epoch_ms(1_784_079_000_123), Some(1_784_079_000_123));
    assert_eq!(epoch_ms(u64::MAX), None);
}
