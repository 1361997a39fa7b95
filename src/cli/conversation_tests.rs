//! The conversation view on what the real CLI printed (`recorded/`), on
//! synthetic lines for what it has not been seen to print here, and on
//! lines that are not the CLI's at all.

use super::*;
use crate::core::claude_stream::fixtures;
use serde_json::json;
use std::io::Write as _;

/// Every line of a stream through one renderer, as `claudinectl` prints it.
fn render(stream: &[u8]) -> String {
    let mut r = Renderer::new();
    stream
        .split_inclusive(|b| *b == b'\n')
        .filter_map(|line| r.line(line))
        .collect()
}

fn render_lines(lines: &[String]) -> String {
    let mut r = Renderer::new();
    lines.iter().filter_map(|l| r.line(l.as_bytes())).collect()
}

fn one(line: &Value) -> String {
    Renderer::new()
        .line(line.to_string().as_bytes())
        .expect("something printed")
}

fn assistant(blocks: Value) -> Value {
    json!({"type": "assistant", "message": {"id": "m", "content": blocks},
           "parent_tool_use_id": null, "session_id": "s"})
}

fn tool_result(id: &str, content: Value, is_error: bool) -> Value {
    json!({"type": "user", "message": {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": id, "content": content, "is_error": is_error}
    ]}, "parent_tool_use_id": null, "session_id": "s"})
}

const SESSION_A: &str = "── session 806fe12a-1648-4d71-ac4d-1d9d20c5eb1e · model claude-opus-5-5 \
                         · claude 2.1.330 · cwd /tmp/claude-smoke.ntk0no/work\n";

#[test]
fn a_recorded_bash_session_reads_as_a_conversation() {
    let text = render(include_bytes!("../core/claude_stream/recorded/a.jsonl"));
    let expected = format!(
        "{SESSION_A}\
         assistant: Running: touch /tmp/claude-smoke.ntk0no/work/made-by-claude\n\
         ▶ Bash: touch /tmp/claude-smoke.ntk0no/work/made-by-claude\n\
         ◀ Bash: (Bash completed with no output)\n\
         assistant: done\n\
         ── result: success · 2 turns · $0.1003 · 0.3 s · in 24861 / out 41 tokens\n"
    );
    assert_eq!(text, expected);
}

#[test]
fn its_resume_reads_the_same_with_its_own_figures() {
    let text = render(include_bytes!(
        "../core/claude_stream/recorded/a-resume.jsonl"
    ));
    assert!(text.starts_with(SESSION_A), "{text}");
    assert!(text.contains("▶ Bash: touch /tmp/claude-smoke.ntk0no/work/made-by-claude\n"));
    assert!(text
        .ends_with("── result: success · 2 turns · $0.2016 · 0.2 s · in 25132 / out 41 tokens\n"));
}

#[test]
fn recorded_errors_show_as_errors_with_their_status() {
    let text = render(include_bytes!("../core/claude_stream/recorded/c.jsonl"));
    assert!(text.contains(
        "── result: error (is_error, api status 429): API Error: Request rejected (429) · \
         scripted error 429 (1 of this session)\n   1 turn · $0.0000 · 0.2 s · in 0 / out 0 tokens\n"
    ));
    let text = render(include_bytes!(
        "../core/claude_stream/recorded/c-retry.jsonl"
    ));
    assert!(
        text.contains("… API retry 1 of 1 in 1.1 s (status 429)\n"),
        "{text}"
    );
    assert!(text.contains("── result: error (is_error, api status 429): API Error"));
    let text = render(include_bytes!("../core/claude_stream/recorded/d.jsonl"));
    assert!(text.contains("── result: error (is_error, api status 529): API Error: 529"));
}

#[test]
fn a_retry_then_success_shows_both() {
    let text = render(include_bytes!(
        "../core/claude_stream/recorded/d-once.jsonl"
    ));
    assert!(text.contains("… API retry 1 of 1 in 0.6 s (status 529)\nassistant: recovered\n"));
    assert!(
        text.contains("── result: success · 1 turn · $0.0495"),
        "{text}"
    );
    assert_eq!(text.matches("recovered").count(), 1, "{text}");
}

#[test]
fn no_recorded_line_falls_through_as_json() {
    for stream in [
        &include_bytes!("../core/claude_stream/recorded/a.jsonl")[..],
        include_bytes!("../core/claude_stream/recorded/a-resume.jsonl"),
        include_bytes!("../core/claude_stream/recorded/c.jsonl"),
        include_bytes!("../core/claude_stream/recorded/c-retry.jsonl"),
        include_bytes!("../core/claude_stream/recorded/d.jsonl"),
        include_bytes!("../core/claude_stream/recorded/d-once.jsonl"),
    ] {
        let text = render(stream);
        assert!(!text.lines().any(|l| l.starts_with('{')), "{text}");
    }
}

#[test]
fn the_synthetic_session_shows_cached_tokens_and_its_result_once() {
    let text = render_lines(&fixtures::bash_session());
    assert_eq!(
        text,
        format!(
            "── session {} · model {} · claude 2.1.330 · cwd /home/ada/src/project\n\
             ▶ Bash: echo hello\n\
             ◀ Bash: hello\n\
             assistant: The command printed hello.\n\
             ── result: success · 2 turns · $0.0235 · 2.5 s \
             · in 12 + 25210 cached / out 187 tokens\n",
            fixtures::SESSION,
            fixtures::MODEL
        )
    );
}

#[test]
fn a_result_text_other_than_the_last_answer_is_printed_in_full() {
    let text = render_lines(&[
        fixtures::text("m1", "first"),
        fixtures::result(false, 1, "summary\nline two", None),
    ]);
    assert!(text.ends_with("tokens\nsummary\nline two\n"), "{text}");
}

#[test]
fn permission_denials_are_listed_once_per_tool() {
    let mut result: Value = serde_json::from_str(&fixtures::result(false, 1, "x", None)).unwrap();
    result["permission_denials"] = json!([
        {"tool_name": "Bash", "tool_use_id": "t1", "tool_input": {"command": "rm -rf /"}},
        {"tool_name": "Write", "tool_use_id": "t2", "tool_input": {}},
        {"tool_name": "Bash", "tool_use_id": "t3", "tool_input": {}},
    ]);
    let text = one(&result);
    assert!(
        text.contains("\npermission denied: Bash, Write\nx\n"),
        "{text}"
    );
}

#[test]
fn error_results_name_their_reasons_and_errors() {
    let text = one(
        &json!({"type": "result", "subtype": "error_max_turns", "is_error": false,
                           "num_turns": 10, "terminal_reason": "max_turns"}),
    );
    assert_eq!(
        text,
        "── result: error (error_max_turns, max_turns)\n   10 turns\n"
    );
    let text = one(
        &json!({"type": "result", "subtype": "error_during_execution",
                           "is_error": true, "errors": ["No conversation found", 7]}),
    );
    assert_eq!(
        text,
        "── result: error (error_during_execution, is_error)\n   \
         error: No conversation found\n   error: 7\n"
    );
    let text = one(
        &json!({"type": "result", "subtype": "success", "is_error": true,
                           "terminal_reason": "aborted_tools", "result": "stopped"}),
    );
    assert_eq!(
        text,
        "── result: error (is_error, aborted_tools): stopped\n"
    );
}

#[test]
fn tool_calls_show_what_they_act_on() {
    let mut r = Renderer::new();
    let line = |r: &mut Renderer, v: Value| r.line(v.to_string().as_bytes()).unwrap();
    let text = line(
        &mut r,
        assistant(json!([
            {"type": "tool_use", "id": "t1", "name": "Read", "input": {"file_path": "/src/main.rs", "limit": 5}},
            {"type": "tool_use", "id": "t2", "name": "mcp__db__query", "input": {"sql": "select 1"}},
            {"type": "tool_use", "id": "t3", "name": "Bash", "input": {"command": "cd /x &&\n  make"}},
            {"type": "tool_use", "id": "t4", "name": "Glob", "input": {}},
        ])),
    );
    assert_eq!(
        text,
        "▶ Read: /src/main.rs\n\
         ▶ mcp__db__query: {\"sql\":\"select 1\"}\n\
         ▶ Bash:\n  cd /x &&\n    make\n\
         ▶ Glob\n"
    );
    let long = "x".repeat(500);
    let text = line(
        &mut r,
        assistant(json!([{"type": "tool_use", "id": "t5", "name": "Other", "input": {"a": long}}])),
    );
    assert_eq!(
        text.chars().count(),
        "▶ Other: ".chars().count() + 200 + 1,
        "{text}"
    );
    assert!(text.ends_with("…\n"));
    // Results are labelled with their tool's name, and errors as errors.
    let text = line(&mut r, tool_result("t1", json!("fn main() {}"), false));
    assert_eq!(text, "◀ Read: fn main() {}\n");
    let text = line(
        &mut r,
        tool_result(
            "t3",
            json!([{"type": "text", "text": "make: *** Error 2"}]),
            true,
        ),
    );
    assert_eq!(text, "◀ Bash (error): make: *** Error 2\n");
    let text = line(
        &mut r,
        tool_result(
            "t2",
            json!([{"type": "text", "text": "a"}, {"type": "image"}]),
            false,
        ),
    );
    assert_eq!(text, "◀ mcp__db__query:\n  a\n  (image)\n");
    let text = line(&mut r, tool_result("unseen", json!(""), false));
    assert_eq!(text, "◀ tool: (no output)\n");
}

#[test]
fn a_ten_thousand_line_result_is_cut_to_twenty_lines() {
    let output: String = (1..=10_000).map(|i| format!("line {i}\n")).collect();
    let mut r = Renderer::new();
    r.line(fixtures::bash("m", "t", "seq").as_bytes());
    let text = r
        .line(fixtures::tool_result("t", &output, false).as_bytes())
        .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 22, "{text}");
    assert_eq!(lines[0], "◀ Bash:");
    assert_eq!(lines[1], "  line 1");
    assert_eq!(lines[20], "  line 20");
    assert_eq!(lines[21], "  … (9980 more lines)");
    // One very long line is cut too.
    let text = r
        .line(fixtures::tool_result("t", &"y".repeat(100_000), false).as_bytes())
        .unwrap();
    assert!(text.len() < 1100 && text.ends_with("…\n"), "{}", text.len());
}

#[test]
fn assistant_texts_are_shown_in_full_and_thinking_as_one_line() {
    let long: String = (1..=100).map(|i| format!("paragraph {i}\n")).collect();
    let text = one(&assistant(json!([
        {"type": "thinking", "thinking": "secret plan", "signature": "x"},
        {"type": "text", "text": long},
    ])));
    assert!(text.starts_with("(thinking)\nassistant: paragraph 1\nparagraph 2\n"));
    assert!(text.ends_with("paragraph 100\n"));
    assert!(!text.contains("secret plan"));
    assert_eq!(
        Renderer::new().line(
            assistant(json!([{"type": "text", "text": ""}]))
                .to_string()
                .as_bytes()
        ),
        None
    );
}

#[test]
fn subagent_messages_are_indented() {
    let mut line = assistant(json!([
        {"type": "text", "text": "looking\nat it"},
        {"type": "tool_use", "id": "t9", "name": "Grep", "input": {"pattern": "TODO"}},
    ]));
    line["parent_tool_use_id"] = json!("toolu_parent");
    assert_eq!(
        one(&line),
        "  assistant: looking\n  at it\n  ▶ Grep: TODO\n"
    );
    let mut user = json!({"type": "user", "message": {"content": "search for TODOs"}});
    user["parent_tool_use_id"] = json!("toolu_parent");
    assert_eq!(one(&user), "  user: search for TODOs\n");
}

#[test]
fn retries_and_rate_limits_are_one_line() {
    assert_eq!(
        one(&serde_json::from_str(&fixtures::api_retry(2, Some(529), 1234)).unwrap()),
        "… API retry 2 of 10 in 1.2 s (status 529)\n"
    );
    assert_eq!(
        one(
            &json!({"type": "system", "subtype": "api_retry", "attempt": 3,
                    "error_status": null, "error": "connection_error"})
        ),
        "… API retry 3 (connection_error)\n"
    );
    let event = json!({"type": "rate_limit_event", "rate_limit_info": {"status": "rejected",
        "resetsAt": 1784079000, "rateLimitType": "five_hour", "overageStatus": "rejected"}});
    assert_eq!(
        one(&event),
        "… rate limit: rejected (five_hour) · resets 2026-07-15 01:30 +00:00 · overage rejected\n"
    );
    let mut paris = Renderer::with_offset(FixedOffset::east_opt(2 * 3600).unwrap());
    let text = paris.line(event.to_string().as_bytes()).unwrap();
    assert!(text.contains("resets 2026-07-15 03:30 +02:00"), "{text}");
    assert_eq!(
        one(&json!({"type": "rate_limit_event", "rate_limit_info": {"status": "allowed"}})),
        "… rate limit: allowed\n"
    );
}

#[test]
fn init_lists_mcp_servers_that_did_not_connect() {
    let init = json!({"type": "system", "subtype": "init", "session_id": "s1",
        "mcp_servers": [{"name": "db", "status": "connected"}, {"name": "web", "status": "failed"}],
        "mcp_server_errors": [{"name": "x", "type": "url_missing_type", "message": "no url"}]});
    assert_eq!(
        one(&init),
        "── session s1\n   MCP server web: failed\n   MCP config x: url_missing_type: no url\n"
    );
}

#[test]
fn lines_not_understood_pass_through_as_they_are() {
    let mut r = Renderer::new();
    let full = fixtures::bash("m", "t", "make");
    for raw in [
        "warning: something on stderr".to_string(),
        full[..full.len() / 2].to_string(),
        r#"{"type":"stream_event","event":{"type":"message_start"}}"#.to_string(),
        r#"{"type":"system","subtype":"compact_boundary","compact_metadata":{}}"#.to_string(),
        r#"{"type":"assistant"}"#.to_string(),
        r#"{"type":"user","message":{"content":7}}"#.to_string(),
        r#"{"type":"rate_limit_event"}"#.to_string(),
        r#"{"no":"type"}"#.to_string(),
        "[1,2,3]".to_string(),
        "42".to_string(),
        String::new(),
        "{\"type\":\"assistant\"} trailing".to_string(),
    ] {
        assert_eq!(r.line(raw.as_bytes()), Some(format!("{raw}\n")), "{raw}");
        let with_newline = format!("{raw}\n");
        assert_eq!(r.line(with_newline.as_bytes()), Some(with_newline.clone()));
    }
}

#[test]
fn invalid_utf8_is_printed_lossily_and_control_characters_escaped() {
    let mut r = Renderer::new();
    assert_eq!(
        r.line(b"\xff\xfe half \xe2\x80"),
        Some("\u{fffd}\u{fffd} half \u{fffd}\n".to_string())
    );
    let mut bad_json = br#"{"type":"assistant","message":{"content":"caf"#.to_vec();
    bad_json.extend_from_slice(b"\xc3\"}}");
    let text = r.line(&bad_json).unwrap();
    assert!(
        text.starts_with("{\"type\"") && text.contains('\u{fffd}'),
        "{text}"
    );
    let text = one(&assistant(
        json!([{"type": "text", "text": "\u{1b}[31mred\u{7}\tok\r\n"}]),
    ));
    assert_eq!(text, "assistant: \\x1b[31mred\\x07\tok\n");
}

#[test]
fn unknown_blocks_are_named_not_dropped() {
    let text = one(&assistant(
        json!([{"type": "web_search_tool_result", "content": []}]),
    ));
    assert_eq!(
        text,
        "(web_search_tool_result) {\"content\":[],\"type\":\"web_search_tool_result\"}\n"
    );
}

/// A writer that records what reached it.
fn write_in_chunks(stream: &[u8], sizes: &mut dyn Iterator<Item = usize>) -> String {
    let mut w = LineRenderWriter::new(Vec::new(), Renderer::new());
    let mut rest = stream;
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
        w.write_all(&rest[..n]).unwrap();
        w.flush().unwrap();
        rest = &rest[n..];
    }
    String::from_utf8(w.finish().unwrap()).unwrap()
}

#[test]
fn the_writer_renders_lines_split_anywhere_across_chunks() {
    let mut stream = fixtures::bash_session().join("\n").into_bytes();
    stream.extend_from_slice(b"\nstderr: caf\xc3\xa9 \xe2\x80\x94 done\n");
    // A text with multi-byte characters, so some cuts fall inside one.
    stream.extend_from_slice(fixtures::text("m2", "naïve — ünïcödé").as_bytes());
    stream.extend_from_slice(b"\n{\"type\":\"result\",\"is_error\":false"); // no newline at the end
    let whole = render(&stream);
    assert!(
        whole.contains("stderr: café — done\nassistant: naïve — ünïcödé\n"),
        "{whole}"
    );
    assert!(
        whole.ends_with("{\"type\":\"result\",\"is_error\":false\n"),
        "{whole}"
    );
    for size in [1, 2, 3, 5, 7, 64, 4096] {
        let text = write_in_chunks(&stream, &mut std::iter::repeat(size));
        assert_eq!(text, whole, "chunks of {size}");
    }
    let mut odd = [13usize, 1, 250, 2, 3, 999, 1, 1].into_iter().cycle();
    assert_eq!(write_in_chunks(&stream, &mut odd), whole);
}

#[test]
fn the_writer_shows_complete_lines_at_once_and_keeps_the_partial_one() {
    let mut w = LineRenderWriter::new(Vec::new(), Renderer::new());
    let line = fixtures::bash("m", "t", "ls");
    let (head, tail) = line.as_bytes().split_at(10);
    w.write_all(b"plain\n").unwrap();
    w.write_all(head).unwrap();
    assert_eq!(w.get_ref(), b"plain\n");
    w.write_all(tail).unwrap();
    assert_eq!(w.get_ref(), b"plain\n");
    w.write_all(b"\n").unwrap();
    assert_eq!(String::from_utf8_lossy(w.get_ref()), "plain\n▶ Bash: ls\n");
    assert_eq!(w.finish().unwrap(), "plain\n▶ Bash: ls\n".as_bytes());
}

#[test]
fn the_writer_copies_a_line_too_long_to_keep() {
    let mut w = LineRenderWriter::new(Vec::new(), Renderer::new());
    let big = vec![b'z'; writer::MAX_LINE_BYTES / 2 + 1];
    w.write_all(&big).unwrap();
    assert_eq!(w.get_ref().len(), 0);
    w.write_all(&big).unwrap();
    assert_eq!(w.get_ref().len(), 2 * big.len(), "copied once too long");
    w.write_all(b"zz\nafter\n{\"type\":\"rate_limit_event\",\"rate_limit_info\":{}}\nend")
        .unwrap();
    let out = w.finish().unwrap();
    assert_eq!(
        out.len(),
        2 * big.len() + "zz\nafter\n… rate limit: ?\nend\n".len()
    );
    assert!(out.ends_with(b"zz\nafter\n\xe2\x80\xa6 rate limit: ?\nend\n"));
}
