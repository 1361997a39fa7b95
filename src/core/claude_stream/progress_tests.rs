//! Tests of `Progress`: recorded-shape sessions fed line by line.

use super::super::fixtures::{self, MODEL, SESSION};
use super::super::{parse_line, Malformed};
use super::*;
use serde_json::json;

/// Feeds `lines` one second apart from t=1000; returns every change with
/// the time of its line.
fn feed(p: &mut Progress, lines: &[String]) -> Vec<(i64, ProgressChange)> {
    let start = p.last_activity_ms.unwrap_or(0) + 1000;
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let t = start + 1000 * i as i64;
        for c in p.apply(&parse_line(l.as_bytes()), t) {
            out.push((t, c));
        }
    }
    out
}

#[test]
fn two_turn_bash_session() {
    let mut p = Progress::new();
    let changes = feed(&mut p, &fixtures::bash_session());
    assert_eq!(
        changes,
        [
            (
                1000,
                ProgressChange::Session {
                    session_id: SESSION.into()
                }
            ),
            (2000, ProgressChange::Turn { turn: 1 }),
            (
                2000,
                ProgressChange::ToolUse {
                    name: "Bash".into(),
                    uses: 1
                }
            ),
            (4000, ProgressChange::Turn { turn: 2 }),
            (5000, ProgressChange::Finished { is_error: false }),
        ]
    );
    let progress: Vec<_> = changes.iter().filter(|(_, c)| c.is_progress()).collect();
    assert_eq!(progress.len(), 3);
    assert_eq!(p.session_id.as_deref(), Some(SESSION));
    assert_eq!(p.model.as_deref(), Some(MODEL));
    assert_eq!(p.claude_code_version.as_deref(), Some("2.1.330"));
    assert_eq!((p.messages, p.turns(), p.tool_uses), (2, 2, 1));
    assert_eq!(p.uses_of("Bash"), 1);
    assert_eq!(p.last_tool.as_deref(), Some("Bash"));
    assert_eq!(
        p.last_text.as_ref().unwrap().preview,
        "The command printed hello."
    );
    assert_eq!(
        (p.first_line_ms, p.last_activity_ms),
        (Some(1000), Some(5000))
    );
    assert_eq!((p.lines, p.unknown_lines, p.malformed_lines), (5, 0, 0));
    let r = p.result.as_ref().unwrap();
    assert_eq!(r.usage.output_tokens, Some(187));
    assert_eq!(r.total_cost_usd, Some(0.0234567));
    assert_eq!(p.summary(), "turn 2, 1 tool use (Bash 1), last Bash");
}

#[test]
fn blocks_of_one_message_are_one_turn() {
    let mut p = Progress::new();
    let changes = feed(
        &mut p,
        &[
            fixtures::text("msg_A", "Let me look."),
            fixtures::bash("msg_A", "t1", "ls"),
            fixtures::bash("msg_A", "t2", "pwd"),
            fixtures::tool_result("t1", "a b", false),
            // A late block of the same message after a tool result.
            fixtures::tool_use("msg_A", "t3", "Read", json!({"file_path": "/a"})),
            fixtures::tool_result("t2", "/", true),
            fixtures::text("msg_B", "Done."),
        ],
    );
    let turns: Vec<_> = changes
        .iter()
        .filter(|(_, c)| matches!(c, ProgressChange::Turn { .. }))
        .collect();
    assert_eq!(turns.len(), 2);
    assert_eq!((p.messages, p.tool_uses, p.tool_errors), (2, 3, 1));
    assert_eq!((p.uses_of("Bash"), p.uses_of("Read")), (2, 1));
    assert_eq!(p.last_tool.as_deref(), Some("Read"));
}

#[test]
fn messages_without_ids_split_on_user_lines() {
    let no_id = |text: &str| {
        json!({"type": "assistant", "message": {"content": [{"type": "text", "text": text}]}})
            .to_string()
    };
    let mut p = Progress::new();
    feed(
        &mut p,
        &[
            no_id("a"),
            no_id("b"),
            fixtures::tool_result("t", "", false),
            no_id("c"),
        ],
    );
    assert_eq!(p.messages, 2);
}

#[test]
fn subagent_messages_are_not_turns_but_their_tools_count() {
    let sub = json!({"type": "assistant", "parent_tool_use_id": "toolu_task",
        "message": {"id": "msg_sub", "content": [
            {"type": "text", "text": "subagent talk"},
            {"type": "tool_use", "id": "t9", "name": "Grep", "input": {}}]}})
    .to_string();
    let mut p = Progress::new();
    feed(
        &mut p,
        &[
            fixtures::tool_use("msg_A", "toolu_task", "Task", json!({"prompt": "find it"})),
            sub.clone(),
            sub,
            fixtures::text("msg_A", "still A"),
        ],
    );
    assert_eq!((p.messages, p.tool_uses), (1, 3));
    assert_eq!(p.uses_of("Grep"), 2);
    assert_eq!(p.last_text.as_ref().unwrap().preview, "still A");
}

#[test]
fn num_turns_of_the_result_wins() {
    let mut p = Progress::new();
    feed(
        &mut p,
        &[
            fixtures::text("m1", "x"),
            fixtures::result(false, 7, "ok", None),
        ],
    );
    assert_eq!((p.messages, p.turns()), (1, 7));
}

#[test]
fn retries_in_progress_until_a_message_comes() {
    let mut p = Progress::new();
    let changes = feed(
        &mut p,
        &[
            fixtures::init(),
            fixtures::api_retry(1, Some(429), 544),
            fixtures::api_retry(2, Some(429), 1130),
        ],
    );
    let retry = Retry {
        attempt: Some(2),
        max_retries: Some(10),
        retry_delay_ms: Some(1130),
        error_status: Some(429),
        at_ms: 3000,
    };
    assert_eq!(changes.last().unwrap().1, ProgressChange::Retrying(retry));
    assert!(!changes.last().unwrap().1.is_progress());
    assert_eq!((p.retrying, p.api_retries), (Some(retry), 2));
    assert_eq!(
        p.summary(),
        "turn 0, retrying the API (attempt 2 of 10, status 429)"
    );
    feed(&mut p, &[fixtures::text("m1", "finally")]);
    assert_eq!((p.retrying, p.api_retries), (None, 2));
}

#[test]
fn rate_limit_events_are_reported_when_they_change() {
    let event = |status: &str| {
        json!({"type": "rate_limit_event", "rate_limit_info":
            {"status": status, "resetsAt": 1784079000, "rateLimitType": "five_hour"}})
        .to_string()
    };
    let mut p = Progress::new();
    let changes = feed(
        &mut p,
        &[
            event("allowed"),
            event("allowed"),
            event("allowed_warning"),
            event("allowed_warning"),
        ],
    );
    assert_eq!(changes.len(), 2);
    let (rl, at) = p.rate_limit.as_ref().unwrap();
    assert_eq!((rl.status.as_deref(), *at), (Some("allowed_warning"), 4000));
}

#[test]
fn a_repeated_init_is_no_new_session() {
    let mut p = Progress::new();
    let changes = feed(&mut p, &[fixtures::init(), fixtures::init()]);
    assert_eq!(changes.len(), 1);
}

#[test]
fn tool_names_are_bounded() {
    let lines: Vec<String> = (0..40)
        .map(|i| {
            fixtures::tool_use(
                &format!("m{i}"),
                "t",
                &format!("mcp__s__tool{i}"),
                json!({}),
            )
        })
        .chain(std::iter::once(fixtures::tool_use(
            "m99",
            "t",
            "mcp__s__tool39",
            json!({}),
        )))
        .collect();
    let mut p = Progress::new();
    let changes = feed(&mut p, &lines);
    assert_eq!(p.tools.len(), MAX_TOOL_NAMES);
    assert_eq!((p.tool_uses, p.other_tool_uses), (41, 9));
    assert_eq!(p.uses_of("mcp__s__tool39"), 0);
    assert_eq!(p.last_tool.as_deref(), Some("mcp__s__tool39"));
    // Every use is still reported.
    let uses = changes
        .iter()
        .filter(|(_, c)| matches!(c, ProgressChange::ToolUse { .. }))
        .count();
    assert_eq!(uses, 41);
    assert!(p
        .summary()
        .starts_with("turn 41, 41 tool uses (mcp__s__tool0 1,"));
    assert!(p.summary().contains("others 36)"), "{}", p.summary());
}

#[test]
fn unknown_and_malformed_lines_are_counted() {
    let mut p = Progress::new();
    let changes = feed(
        &mut p,
        &[
            r#"{"type":"stream_event"}"#.to_owned(),
            "{\"type\":\"assi".to_owned(),
            String::new(),
        ],
    );
    assert!(changes.is_empty());
    assert_eq!((p.lines, p.unknown_lines, p.malformed_lines), (3, 1, 2));
    assert_eq!(p.last_malformed.as_deref(), Some("empty line"));
    assert_eq!(p.last_activity_ms, Some(3000));
    let m = StreamLine::Malformed(Malformed {
        reason: "x".into(),
        bytes: 1,
    });
    assert!(p.apply(&m, 9000).is_empty());
}

#[test]
fn an_error_result_finishes_with_is_error() {
    let mut p = Progress::new();
    let changes = feed(&mut p, &[fixtures::result(true, 1, "API Error", Some(500))]);
    assert_eq!(
        changes.last().unwrap().1,
        ProgressChange::Finished { is_error: true }
    );
    // A result that does not say is_error is not counted as fine.
    let changes = feed(&mut p, &[r#"{"type":"result"}"#.to_owned()]);
    assert_eq!(
        changes.last().unwrap().1,
        ProgressChange::Finished { is_error: true }
    );
}
