//! The parser on what the real CLI printed: `claude` 2.1.330 against the
//! fake Messages API (`tests/claude/smoke.sh`, recorded with KEEP=1 into
//! `recorded/`). Every line parses as a known kind, and the verdicts are
//! the ones the smoke test saw from the exit codes and result lines.

use super::*;

/// Parse a recorded stream; returns the progress and how many lines.
fn replay(stream: &[u8]) -> Progress {
    let mut p = Progress::new();
    for (i, line) in stream
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let parsed = parse_line(line);
        assert!(
            !matches!(
                parsed,
                StreamLine::Unknown { .. } | StreamLine::Malformed { .. }
            ),
            "line {}: {parsed:?}",
            i + 1
        );
        p.apply(&parsed, i as i64 * 100);
    }
    assert_eq!((p.unknown_lines, p.malformed_lines), (0, 0));
    p
}

#[test]
fn a_bash_tool_call_session_succeeds_with_two_turns() {
    let p = replay(include_bytes!("recorded/a.jsonl"));
    assert_eq!(p.turns(), 2);
    assert_eq!(p.uses_of("Bash"), 1);
    assert!(p.session_id.is_some());
    assert_eq!(outcome(Some(0), None, &p), ClaudeOutcome::Succeeded);
    let r = p.result.as_ref().expect("a result line");
    assert_eq!(r.is_error, Some(false));
    assert!(r.total_cost_usd.is_some_and(|c| c > 0.0), "{r:?}");
}

#[test]
fn its_resume_keeps_the_session_and_succeeds() {
    let first = replay(include_bytes!("recorded/a.jsonl"));
    let p = replay(include_bytes!("recorded/a-resume.jsonl"));
    assert_eq!(p.session_id, first.session_id);
    assert_eq!(outcome(Some(0), None, &p), ClaudeOutcome::Succeeded);
}

#[test]
fn a_429_is_rate_limited_with_or_without_a_retry_first() {
    for stream in [
        &include_bytes!("recorded/c.jsonl")[..],
        &include_bytes!("recorded/c-retry.jsonl")[..],
    ] {
        let p = replay(stream);
        match outcome(Some(1), None, &p) {
            ClaudeOutcome::Limited {
                limit: Limit::RateLimited,
                reason,
            } => assert!(reason.contains("429"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_529_is_overloaded_and_one_retried_to_success_succeeds() {
    let p = replay(include_bytes!("recorded/d.jsonl"));
    assert!(matches!(
        outcome(Some(1), None, &p),
        ClaudeOutcome::Limited {
            limit: Limit::Overloaded,
            ..
        }
    ));
    let p = replay(include_bytes!("recorded/d-once.jsonl"));
    assert_eq!(outcome(Some(0), None, &p), ClaudeOutcome::Succeeded);
}
