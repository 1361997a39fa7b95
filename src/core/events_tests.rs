//! Tests of the event model and its JSON form.

use super::*;
use crate::core::task::TaskState;

/// 2024-05-01T12:00:00Z.
const NOON: i64 = 1_714_564_800_000;

/// One event of every kind, with the detail it carries.
fn one_of_each() -> Vec<TaskEvent> {
    let note = |reason: Option<&str>| {
        EventDetail::Note(NoteDetail {
            reason: reason.map(Into::into),
        })
    };
    let memory = EventDetail::Memory(MemoryDetail {
        current_bytes: 3 << 30,
        threshold_bytes: 2 << 30,
        limit_bytes: Some(4 << 30),
        peak_bytes: 3 << 30,
    });
    let details = [
        (EventKind::Queued, note(None)),
        (EventKind::Started, note(None)),
        (
            EventKind::Active,
            EventDetail::Active(ActiveDetail {
                silent_for_ms: 400_000,
            }),
        ),
        (
            EventKind::Stalled,
            EventDetail::Stall(StallDetail {
                busy: false,
                silent_for_ms: 300_500,
                cpu_percent: 0.25,
                last_output_ms: None,
            }),
        ),
        (EventKind::HighMemory, memory.clone()),
        (EventKind::CriticalMemory, memory),
        (
            EventKind::OomKill,
            EventDetail::Oom(OomDetail {
                oom_kills: 2,
                limit_bytes: None,
            }),
        ),
        (
            EventKind::Progress,
            EventDetail::Progress(ProgressDetail {
                message: Some("tests pass".into()),
                percent: Some(42.5),
                turn: Some(3),
                tool_uses: Some(5),
                last_tool: Some("Bash".into()),
            }),
        ),
        (
            EventKind::Checkpoint,
            EventDetail::Checkpoint(CheckpointDetail {
                name: Some("before-refactor".into()),
                n: Some(3),
                why: Some("suspend".into()),
                git_ref: Some("refs/claudine/42/3".into()),
            }),
        ),
        (EventKind::Suspended, note(Some("host memory low"))),
        (EventKind::Resumed, note(None)),
        (
            EventKind::Finished,
            EventDetail::Finished(FinishedDetail {
                state: TaskState::Failed,
                exit_code: None,
                signal: Some(9),
                reason: Some("killed by the kernel: memory limit 4 GiB reached".into()),
                memory_peak_bytes: Some(4 << 30),
                oom_kills: Some(1),
            }),
        ),
        (
            EventKind::Escaped,
            EventDetail::Escaped(EscapedDetail {
                pid: 4242,
                cgroup: "/user.slice/user-1000.slice/run-r1.scope".into(),
            }),
        ),
        (
            EventKind::RateLimited,
            EventDetail::RateLimited(RateLimitDetail {
                until_ms: Some(NOON + 3_600_000),
                reason: Some("usage limit".into()),
            }),
        ),
    ];
    details
        .into_iter()
        .enumerate()
        .map(|(i, (kind, detail))| {
            let attempt = (kind != EventKind::Queued).then_some(1);
            TaskEvent::new(kind, 42, attempt, NOON + i as i64, detail)
        })
        .collect()
}

#[test]
fn names_parse_back_and_are_unique() {
    let mut seen = std::collections::HashSet::new();
    for kind in EventKind::ALL {
        let name = kind.name();
        assert!(name.starts_with("task:"), "{name}");
        assert!(seen.insert(name), "{name} twice");
        assert_eq!(name.parse::<EventKind>(), Ok(kind));
        assert_eq!(name["task:".len()..].parse::<EventKind>(), Ok(kind));
        assert_eq!(kind.to_string(), name);
        assert_eq!(serde_json::to_string(&kind).unwrap(), format!("{name:?}"));
        assert_eq!(
            serde_json::from_str::<EventKind>(&format!("{name:?}")).unwrap(),
            kind
        );
    }
    assert_eq!(EventKind::OomKill.name(), "task:oom-kill");
    assert_eq!(EventKind::HighMemory.name(), "task:high-memory");
    assert_eq!(EventKind::CriticalMemory.name(), "task:critical-memory");
    assert_eq!(EventKind::Escaped.name(), "task:escaped");
    let err = "task:exploded".parse::<EventKind>().unwrap_err();
    assert!(err.starts_with(r#"unknown event type "task:exploded": expected one of task:queued, "#));
    assert!("Task:Stalled".parse::<EventKind>().is_err());
    assert!("".parse::<EventKind>().is_err());
}

#[test]
fn journal_priorities() {
    for kind in EventKind::ALL {
        let want = match kind {
            EventKind::Stalled | EventKind::HighMemory | EventKind::OverSoftMax => 4,
            EventKind::CriticalMemory | EventKind::OomKill | EventKind::Escaped => 3,
            _ => 6,
        };
        assert_eq!(kind.journal_priority(), want, "{kind}");
    }
}

#[test]
fn stalled_json_line() {
    let event = TaskEvent::new(
        EventKind::Stalled,
        42,
        Some(1),
        NOON,
        EventDetail::Stall(StallDetail {
            busy: true,
            silent_for_ms: 360_000,
            cpu_percent: 98.0,
            last_output_ms: Some(NOON - 360_000),
        }),
    );
    assert_eq!(
        event.to_json_line(),
        r#"{"type":"task:stalled","task":42,"attempt":1,"at":"2024-05-01T12:00:00.000Z","busy":true,"silent_for_ms":360000,"cpu_percent":98.0,"last_output":"2024-05-01T11:54:00.000Z"}"#
    );
    assert_eq!(TaskEvent::from_json_line(&event.to_json_line()), Ok(event));
}

#[test]
fn queued_json_line_has_no_attempt() {
    let event = TaskEvent::new(
        EventKind::Queued,
        7,
        None,
        1,
        EventDetail::Note(NoteDetail::default()),
    );
    assert_eq!(
        event.to_json_line(),
        r#"{"type":"task:queued","task":7,"at":"1970-01-01T00:00:00.001Z"}"#
    );
}

#[test]
fn every_kind_round_trips_and_fits_only_its_kind() {
    for event in one_of_each() {
        let line = event.to_json_line();
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["type"], event.kind.name(), "{line}");
        assert_eq!(value["task"], 42);
        assert_eq!(
            TaskEvent::from_json_line(&line).as_ref(),
            Ok(&event),
            "{line}"
        );
        // serde through a Value gives the same as the line.
        assert_eq!(serde_json::to_value(&event).unwrap(), value);
        for kind in EventKind::ALL {
            let same_shape = kind == event.kind
                || matches!(
                    (kind, event.kind),
                    (EventKind::HighMemory, EventKind::CriticalMemory)
                        | (EventKind::CriticalMemory, EventKind::HighMemory)
                )
                || [kind, event.kind].iter().all(|k| {
                    matches!(
                        k,
                        EventKind::Queued
                            | EventKind::Started
                            | EventKind::Suspended
                            | EventKind::Resumed
                            | EventKind::OverSoftMax
                    )
                });
            assert_eq!(event.detail.fits(kind), same_shape, "{kind} {line}");
        }
    }
}

#[test]
fn bad_lines_are_refused_with_the_line() {
    for line in [
        "",
        "[]",
        r#"{"type":"task:exploded","task":1,"at":"2024-05-01T12:00:00.000Z"}"#,
        r#"{"type":"task:queued","at":"2024-05-01T12:00:00.000Z"}"#,
        r#"{"type":"task:queued","task":1}"#,
        r#"{"type":"task:queued","task":1,"at":"yesterday"}"#,
        r#"{"type":"task:queued","task":"1","at":"2024-05-01T12:00:00.000Z"}"#,
        // A stall without its figures.
        r#"{"type":"task:stalled","task":1,"at":"2024-05-01T12:00:00.000Z","busy":true}"#,
        r#"{"type":"task:oom-kill","task":1,"at":"2024-05-01T12:00:00.000Z","oom_kills":-1}"#,
        r#"{"type":"task:stalled","task":1,"at":"2024-05-01T12:00:00Z","busy":true,"silent_for_ms":1,"cpu_percent":1,"last_output":"soon"}"#,
    ] {
        let err = TaskEvent::from_json_line(line).unwrap_err();
        assert!(
            err.starts_with(&format!("invalid event {line:?}: ")),
            "{err}"
        );
    }
}

#[test]
fn newer_fields_are_ignored_and_offsets_accepted() {
    let line = r#"{"type":"task:active","task":3,"attempt":2,"at":"2024-05-01T14:00:00.250+02:00","silent_for_ms":5000,"extra":[1,2]}"#;
    let event = TaskEvent::from_json_line(line).unwrap();
    assert_eq!(event.at_ms, NOON + 250);
    assert_eq!(event.attempt, Some(2));
    assert_eq!(
        event.detail,
        EventDetail::Active(ActiveDetail {
            silent_for_ms: 5000
        })
    );
}

#[test]
fn times_in_rfc3339() {
    assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(rfc3339_ms(NOON + 7), "2024-05-01T12:00:00.007Z");
    assert_eq!(rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
    assert_eq!(parse_rfc3339_ms("2024-05-01T12:00:00.007Z"), Ok(NOON + 7));
    // Out of chrono's range: no panic, the nearest end.
    assert!(rfc3339_ms(i64::MAX).starts_with("+262"));
    assert!(rfc3339_ms(i64::MIN).starts_with("-262"));
}

#[test]
fn messages_in_words() {
    let words: Vec<String> = one_of_each().iter().map(TaskEvent::message).collect();
    assert_eq!(
        words,
        [
            "task 42 queued",
            "task 42 started (attempt 1)",
            "task 42 active: output again after 6 min 40 s of silence",
            "task 42 stalled: idle: no CPU, no output for 5 min",
            "task 42 high memory: 3 GiB in use, over 2 GiB (limit 4 GiB, peak 3 GiB)",
            "task 42 critical memory: 3 GiB in use, over 2 GiB (limit 4 GiB, peak 3 GiB)",
            "task 42 oom kill: the kernel killed a process for lack of memory (2 kills so far)",
            "task 42 progress: tests pass (42%)",
            "task 42 checkpoint: before-refactor",
            "task 42 suspended: host memory low",
            "task 42 resumed",
            "task 42 finished: failed, signal 9 (killed by the kernel: memory limit 4 GiB reached)",
            "task 42 escaped: process 4242 left its scope for /user.slice/user-1000.slice/run-r1.scope",
            "task 42 rate limited: until 2024-05-01T13:00:00.000Z: usage limit",
        ]
    );
    let oom = TaskEvent::new(
        EventKind::OomKill,
        1,
        Some(1),
        0,
        EventDetail::Oom(OomDetail {
            oom_kills: 1,
            limit_bytes: Some(4 << 30),
        }),
    );
    assert_eq!(
        oom.message(),
        "task 1 oom kill: the kernel killed a process at the 4 GiB memory limit (1 kill so far)"
    );
}
