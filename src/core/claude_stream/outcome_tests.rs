//! Tests of the verdict, and of reading usage-limit messages.

use super::super::fixtures;
use super::super::parse_line;
use super::super::WallTime;
use super::*;
use serde_json::json;

fn progress(lines: &[String]) -> Progress {
    let mut p = Progress::new();
    for (i, l) in lines.iter().enumerate() {
        p.apply(&parse_line(l.as_bytes()), 1000 * i as i64);
    }
    p
}

fn failed(o: ClaudeOutcome) -> String {
    match o {
        ClaudeOutcome::Failed { reason } => reason,
        other => panic!("not a failure: {other:?}"),
    }
}

fn limited(o: ClaudeOutcome) -> (Limit, String) {
    match o {
        ClaudeOutcome::Limited { limit, reason } => (limit, reason),
        other => panic!("not limited: {other:?}"),
    }
}

/// A run that ends with an error result carrying `text` and `status`.
fn error_run(text: &str, status: Option<u16>) -> Progress {
    progress(&[fixtures::init(), fixtures::result(true, 1, text, status)])
}

#[test]
fn success_needs_exit_0_and_a_result_without_error() {
    let p = progress(&fixtures::bash_session());
    let o = outcome(Some(0), None, &p);
    assert!(o.is_success());
    assert_eq!(o.reason(), None);
    assert_eq!(
        failed(outcome(Some(1), None, &p)),
        "claude exited with status 1 after a result line without error"
    );
    assert_eq!(
        failed(outcome(None, Some(9), &p)),
        "claude was killed by signal 9 (SIGKILL) after a result line without error"
    );
}

#[test]
fn exit_0_without_a_result_line() {
    let mut lines = fixtures::bash_session();
    lines.pop();
    let o = outcome(Some(0), None, &progress(&lines));
    assert_eq!(failed(o), "claude exited 0 without a result line");
}

#[test]
fn nonzero_exit_or_signal_without_a_result_line() {
    let p = progress(&[fixtures::init(), fixtures::text("m", "working")]);
    assert_eq!(
        failed(outcome(Some(143), None, &p)),
        "claude exited with status 143 without a result line"
    );
    assert_eq!(
        failed(outcome(None, Some(15), &p)),
        "claude was killed by signal 15 (SIGTERM) without a result line"
    );
    assert_eq!(
        failed(outcome(None, Some(64), &p)),
        "claude was killed by signal 64 without a result line"
    );
    assert_eq!(
        failed(outcome(None, None, &p)),
        "claude ended in an unknown way without a result line"
    );
    let p = progress(&[fixtures::init(), "{\"type\":\"ass".to_owned()]);
    let reason = failed(outcome(Some(1), None, &p));
    assert!(
        reason.starts_with(
            "claude exited with status 1 without a result line; 1 malformed line, the last: truncated JSON"
        ),
        "{reason}"
    );
}

#[test]
fn api_error_with_exit_1() {
    // As measured: the CLI ends an API failure with subtype "success".
    let p = error_run("API Error: 500 {\"type\":\"error\"}", Some(500));
    assert_eq!(
        failed(outcome(Some(1), None, &p)),
        "claude's result is an error (API status 500, subtype success, terminal reason \
         completed, exited with status 1): API Error: 500 {\"type\":\"error\"}"
    );
}

#[test]
fn the_result_text_is_one_line_of_200_characters_at_most() {
    let text = format!("API Error:\n\n  500\t{}", "é".repeat(500));
    let reason = failed(outcome(Some(1), None, &error_run(&text, Some(500))));
    let (_, tail) = reason.split_once("): ").unwrap();
    assert!(tail.starts_with("API Error: 500 éé"), "{tail}");
    // 200 characters of the text, its four blanks after "Error:" now one.
    assert_eq!(tail.chars().count(), 200 - 3);
}

#[test]
fn sigint_exits_0_with_an_error_result() {
    let line = json!({"type": "result", "subtype": "success", "is_error": true,
        "num_turns": 1, "result": "", "terminal_reason": "aborted_tools"});
    let p = progress(&[fixtures::init(), line.to_string()]);
    assert_eq!(
        failed(outcome(Some(0), None, &p)),
        "claude's result is an error (subtype success, terminal reason aborted_tools, exited 0)"
    );
}

#[test]
fn a_result_without_is_error_is_no_success() {
    let p = progress(&[r#"{"type":"result","subtype":"success","result":"hm"}"#.to_owned()]);
    assert_eq!(
        failed(outcome(Some(0), None, &p)),
        "claude's result line does not say is_error (subtype success, exited 0): hm"
    );
}

#[test]
fn error_during_execution_names_its_error() {
    let line = json!({"type": "result", "subtype": "error_during_execution",
        "is_error": true, "num_turns": 0,
        "errors": ["No conversation found with session ID: 4f2b"]});
    let p = progress(&[line.to_string()]);
    let reason = failed(outcome(Some(1), None, &p));
    assert_eq!(
        reason,
        "claude's result is an error (subtype error_during_execution, exited with status 1): \
         No conversation found with session ID: 4f2b"
    );
}

#[test]
fn rate_limited_and_overloaded() {
    let mut lines = vec![fixtures::init()];
    lines.extend((1..=10).map(|a| fixtures::api_retry(a, Some(429), 500 * a)));
    lines.push(fixtures::result(
        true,
        1,
        "API Error: 429 rate_limit_error",
        Some(429),
    ));
    let (limit, reason) = limited(outcome(Some(1), None, &progress(&lines)));
    assert_eq!(limit, Limit::RateLimited);
    assert!(
        reason.starts_with(
            "rate limited by the API (HTTP 429); claude's result is an error (API status 429"
        ),
        "{reason}"
    );
    let (limit, _) = limited(outcome(Some(1), None, &error_run("Overloaded", Some(529))));
    assert_eq!(limit, Limit::Overloaded);
}

#[test]
fn a_retry_in_progress_explains_a_run_without_result() {
    let p = progress(&[fixtures::init(), fixtures::api_retry(4, Some(529), 8000)]);
    let (limit, reason) = limited(outcome(None, Some(15), &p));
    assert_eq!(limit, Limit::Overloaded);
    assert_eq!(
        reason,
        "the API is overloaded (HTTP 529); claude was killed by signal 15 (SIGTERM) without a \
         result line, while retrying the API (attempt 4 of 10, status 529)"
    );
    // Other statuses are failures, with the retry in the reason.
    let p = progress(&[fixtures::init(), fixtures::api_retry(2, Some(500), 1000)]);
    assert!(failed(outcome(Some(1), None, &p))
        .ends_with("while retrying the API (attempt 2 of 10, status 500)"));
    // A retry that went through explains nothing.
    let p = progress(&[
        fixtures::api_retry(1, Some(429), 500),
        fixtures::text("m", "ok"),
    ]);
    assert!(matches!(
        outcome(Some(1), None, &p),
        ClaudeOutcome::Failed { .. }
    ));
}

#[test]
fn usage_limit_with_an_epoch() {
    let p = error_run("Claude AI usage limit reached|1762952400", Some(429));
    let o = outcome(Some(1), None, &p);
    assert_eq!(o.limited_until_ms(), Some(1_762_952_400_000));
    let (limit, reason) = limited(o);
    assert!(matches!(limit, Limit::UsageLimit(_)));
    assert!(
        reason.starts_with("usage limit reached, resets at 2025-11-12 13:00 UTC; claude's result"),
        "{reason}"
    );
}

#[test]
fn usage_limit_with_a_wall_clock_time() {
    let p = error_run(
        "You've hit your limit · resets 6:20pm (Europe/Berlin)",
        None,
    );
    let (limit, reason) = limited(outcome(Some(1), None, &p));
    let Limit::UsageLimit(reset) = limit else {
        panic!("{limit:?}")
    };
    assert_eq!(reset.at_ms, None);
    assert_eq!(
        reset.wall,
        Some(WallTime {
            month: None,
            day: None,
            hour: 18,
            minute: 20
        })
    );
    assert_eq!(reset.zone.as_deref(), Some("Europe/Berlin"));
    assert!(
        reason.starts_with("usage limit reached, resets 6:20pm (Europe/Berlin); "),
        "{reason}"
    );
}

#[test]
fn a_rejected_rate_limit_event_gives_the_reset() {
    let event = r#"{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":1784079000,"rateLimitType":"five_hour"}}"#;
    // With a usage-limit text that gives no instant, and with none at all.
    for text in ["You've hit your limit · resets 3pm", "API Error"] {
        let p = progress(&[event.to_owned(), fixtures::result(true, 1, text, Some(429))]);
        let o = outcome(Some(1), None, &p);
        assert_eq!(o.limited_until_ms(), Some(1_784_079_000_000), "{text}");
    }
    // Allowed: says nothing.
    let allowed = event.replace("rejected", "allowed");
    let p = progress(&[allowed, fixtures::result(true, 1, "API Error", Some(500))]);
    assert!(matches!(
        outcome(Some(1), None, &p),
        ClaudeOutcome::Failed { .. }
    ));
}

#[test]
fn talk_of_limits_in_a_successful_answer_is_success() {
    let p = progress(&[fixtures::result(
        false,
        1,
        "The usage limit reached its maximum; it resets at 5pm.",
        None,
    )]);
    assert!(outcome(Some(0), None, &p).is_success());
}

#[test]
fn usage_limit_texts() {
    let wall = |month, day, hour, minute| {
        Some(WallTime {
            month,
            day,
            hour,
            minute,
        })
    };
    let cases = [
        (
            "Claude usage limit reached. Your limit will reset at 9am (America/Chicago).",
            wall(None, None, 9, 0),
            Some("America/Chicago"),
            Some("9am (America/Chicago)"),
        ),
        (
            "You've hit your limit · resets Apr 23 at 4pm (America/Recife)",
            wall(Some(4), Some(23), 16, 0),
            Some("America/Recife"),
            Some("Apr 23 at 4pm (America/Recife)"),
        ),
        (
            "5-hour limit reached ∙ resets 3pm",
            wall(None, None, 15, 0),
            None,
            Some("3pm"),
        ),
        (
            "You're out of extra usage · resets 12am (America/Los_Angeles)",
            wall(None, None, 0, 0),
            Some("America/Los_Angeles"),
            Some("12am (America/Los_Angeles)"),
        ),
        (
            "You've hit your limit for Claude messages. Limits will reset at 9:30 AM.",
            wall(None, None, 9, 30),
            None,
            Some("9:30 AM"),
        ),
        (
            "Weekly limit reached ∙ resets Oct 9, 14:00 UTC",
            wall(Some(10), Some(9), 14, 0),
            Some("UTC"),
            Some("Oct 9, 14:00 UTC"),
        ),
        ("Claude usage limit reached", None, None, None),
        (
            "Usage limit reached · resets soon",
            None,
            None,
            Some("soon"),
        ),
        (
            "Usage limit reached · resets 25pm",
            None,
            None,
            Some("25pm"),
        ),
        ("Usage limit reached (presets 3pm)", None, None, None),
    ];
    for (text, wall, zone, phrase) in cases {
        let reset = parse_usage_limit(text).unwrap_or_else(|| panic!("{text}"));
        assert_eq!(reset.wall, wall, "{text}");
        assert_eq!(reset.zone.as_deref(), zone, "{text}");
        assert_eq!(reset.text.as_deref(), phrase, "{text}");
        assert_eq!(reset.at_ms, None, "{text}");
    }
    for text in [
        "Approaching usage limit · resets at 2am",
        "API Error: 500 Internal server error",
        "",
    ] {
        assert_eq!(parse_usage_limit(text), None, "{text}");
    }
    let reset = parse_usage_limit("Claude AI usage limit reached|1762952400").unwrap();
    assert_eq!(reset.at_ms, Some(1_762_952_400_000));
    assert_eq!(
        parse_usage_limit("Claude AI usage limit reached|soon").unwrap(),
        Reset::default()
    );
}
