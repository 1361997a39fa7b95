//! `top`'s frames from fixed views.

use super::*;
use crate::core::TaskState;
use crate::proto::top::{TopHost, TopPressure, TopSlice};

const NOW: i64 = 1_700_000_000_000;
const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

fn running(id: i64, user: &str, argv: &[&str]) -> TopTask {
    TopTask {
        id,
        user: user.into(),
        state: TaskState::Running,
        priority: Priority::P1,
        started_ms: Some(NOW - 65_000),
        memory_bytes: Some(50 * MIB),
        cpu_percent: Some(98.0),
        activity: Some("busy: 98% CPU, no output for 6 min".into()),
        argv: argv.iter().map(|s| s.to_string()).collect(),
    }
}

fn queued(id: i64, position: usize) -> TopQueued {
    TopQueued {
        id,
        user: "alice".into(),
        priority: Priority::P1,
        position,
        created_ms: NOW - 11_000,
        why: Some("3 tasks running, the most allowed".into()),
        argv: vec!["make".into(), "check".into()],
    }
}

fn view() -> TopView {
    TopView {
        at_ms: NOW,
        host: TopHost {
            cpu_busy_percent: Some(37.4),
            mem_total_bytes: Some(8 * GIB),
            mem_available_bytes: Some(6 * GIB),
            pressure: TopPressure {
                cpu: Some(0.5),
                memory: Some(0.0),
                io: Some(1.25),
            },
        },
        slice: TopSlice {
            memory_current_bytes: Some(100 * MIB),
            memory_max_bytes: None,
        },
        reserved_bytes: 0,
        reserve_bytes: GIB,
        soft_max: None,
        hard_max: Some(3),
        running: 3,
        queued: 2,
        queued_by_priority: [(Priority::P0, 0), (Priority::P1, 2), (Priority::P2, 0)].into(),
        wait_reason: Some("3 tasks running, the most allowed".into()),
        tasks: vec![
            running(41, "alice", &["cargo", "test"]),
            running(42, "alice", &["sleep", "300"]),
        ],
        queue: vec![queued(44, 1), queued(45, 2)],
        queue_more: 0,
    }
}

#[test]
fn a_full_frame() {
    let lines = render(&view(), 200, 40, NOW);
    let want = [
        "host: CPU 37% busy, memory 6 GiB available of 8 GiB, pressure (some, 10 s) cpu 0.5% memory 0.0% io 1.2%",
        "claudine.slice: memory 100 MiB, no ceiling; reserved, not yet used: 0 B; reserve: 1 GiB",
        "tasks: 3 running, 2 queued (P0 0, P1 2, P2 0); cap: soft none, hard 3",
        "waiting: 3 tasks running, the most allowed",
        "",
        "ID  USER   STATE    MEM     CPU  AGE    ACTIVITY                            COMMAND",
        "41  alice  running  50 MiB  98%  1m05s  busy: 98% CPU, no output for 6 min  cargo test",
        "42  alice  running  50 MiB  98%  1m05s  busy: 98% CPU, no output for 6 min  sleep 300",
        "",
        "#  ID  USER   PRI  WAITED  WHY                                COMMAND",
        "1  44  alice  P1   11s     3 tasks running, the most allowed  make check",
        "2  45  alice  P1   11s     3 tasks running, the most allowed  make check",
    ];
    assert_eq!(lines, want);
}

#[test]
fn figures_not_known_and_a_ceiling() {
    let mut v = view();
    v.host = TopHost::default();
    v.slice.memory_max_bytes = Some(4 * GIB);
    v.slice.memory_current_bytes = None;
    v.wait_reason = None;
    v.soft_max = Some(2);
    v.tasks[0].state = TaskState::Starting;
    v.tasks[0].started_ms = None;
    v.tasks[0].memory_bytes = None;
    v.tasks[0].cpu_percent = None;
    v.tasks[0].activity = None;
    let lines = render(&v, 200, 40, NOW);
    assert_eq!(lines[0], "host: not sampled yet, no pressure information");
    assert_eq!(
        lines[1],
        "claudine.slice: memory unknown, ceiling 4 GiB; reserved, not yet used: 0 B; reserve: 1 GiB"
    );
    assert!(lines[2].ends_with("cap: soft 2, hard 3"), "{}", lines[2]);
    assert_eq!(lines[3], "");
    let cells: Vec<&str> = lines[5].split_whitespace().collect();
    assert_eq!(
        cells,
        ["41", "alice", "starting", "-", "-", "-", "-", "cargo", "test"]
    );
}

#[test]
fn lines_are_cut_to_the_width_and_control_characters_escaped() {
    let mut v = view();
    v.tasks[0].argv = vec!["sh".into(), "-c".into(), "echo \x1b[2J; sleep 1000".into()];
    v.tasks[0].user = "al\x07ice".into();
    v.tasks[1].activity = Some("active: \x1b]0;pwned\x07 3 s ago".into());
    v.wait_reason = Some("line\nbreak".into());
    let lines = render(&v, 60, 40, NOW);
    for l in &lines {
        assert!(l.chars().count() <= 60, "{l}");
        assert!(!l.chars().any(char::is_control), "{l:?}");
    }
    assert_eq!(lines[3], "waiting: line\\nbreak");
    assert!(lines[0].ends_with('…'), "{}", lines[0]);
    let wide = render(&v, 300, 40, NOW);
    assert!(wide[6].contains(r"al\x07ice"), "{}", wide[6]);
    assert!(
        wide[6].ends_with(r"sh -c $'echo \x1b[2J; sleep 1000'"),
        "{}",
        wide[6]
    );
    assert!(
        wide[7].contains(r"active: \x1b]0;pwned\x07 3 s ago"),
        "{}",
        wide[7]
    );
}

#[test]
fn a_tiny_terminal_gets_what_fits() {
    let v = view();
    assert_eq!(render(&v, 10, 2, NOW), ["host: CPU…", "claudine.…"]);
    assert!(render(&v, 0, 5, NOW).iter().all(String::is_empty));
    assert!(render(&v, 80, 0, NOW).is_empty());
    // Room for the header, and a few lines more.
    let lines = render(&v, 80, 8, NOW);
    assert_eq!(lines.len(), 8);
    assert_eq!(lines[4], "");
    assert_eq!(lines[5], "2 running not listed: the terminal is too small");
    assert_eq!(lines[6], "");
    assert_eq!(lines[7], "2 queued not listed: the terminal is too small");
    // Two lines more: the running tasks, the queue noted.
    let lines = render(&v, 80, 10, NOW);
    assert!(lines[5].starts_with("ID  USER"), "{}", lines[5]);
    assert!(lines[6].starts_with("41  alice"), "{}", lines[6]);
    assert!(lines[7].starts_with("42  alice"), "{}", lines[7]);
    assert_eq!(lines[8], "");
    assert_eq!(lines[9], "2 queued not listed: the terminal is too small");
    // A third running task does not fit: the first, and how many more.
    let mut v = v;
    v.tasks.push(running(43, "alice", &["true"]));
    let lines = render(&v, 80, 10, NOW);
    assert!(lines[6].starts_with("41  alice"), "{}", lines[6]);
    assert_eq!(lines[7], "... and 2 more running");
}

#[test]
fn no_running_tasks_and_an_empty_queue() {
    let mut v = view();
    v.tasks.clear();
    v.queue.clear();
    v.running = 0;
    v.queued = 0;
    v.wait_reason = None;
    let lines = render(&v, 100, 40, NOW);
    assert_eq!(
        &lines[3..],
        ["", "no task is running", "", "no task is queued"]
    );
    // Other users' tasks are counted in the header but not listed.
    v.running = 2;
    v.queued = 5;
    let lines = render(&v, 100, 40, NOW);
    assert_eq!(
        &lines[3..],
        [
            "",
            "no task of yours is running",
            "",
            "no task of yours is queued"
        ]
    );
    // Queued tasks of yours too far back in the queue to be listed.
    v.queue_more = 3;
    let lines = render(&v, 100, 40, NOW);
    assert_eq!(lines.last().unwrap(), "3 more queued further back");
}

#[test]
fn many_tasks_end_with_how_many_more() {
    let mut v = view();
    v.tasks = (1..=30)
        .map(|i| running(i, "alice", &["sleep", "9"]))
        .collect();
    v.queue = (1..=50).map(|i| queued(100 + i, i as usize)).collect();
    v.queue_more = 950;
    v.running = 30;
    v.queued = 1000;
    let lines = render(&v, 100, 24, NOW);
    assert_eq!(lines.len(), 24);
    // The header (4), then the running tasks, then the queue's 5 lines.
    assert_eq!(lines[4], "");
    assert!(lines[5].starts_with("ID "), "{}", lines[5]);
    assert_eq!(lines[18], "... and 18 more running");
    assert_eq!(lines[19], "");
    assert!(lines[20].starts_with("#  "), "{}", lines[20]);
    assert!(lines[21].starts_with("1   101 "), "{}", lines[21]);
    assert!(lines[22].starts_with("2   102 "), "{}", lines[22]);
    assert_eq!(lines[23], "... and 998 more queued");
    // Without a height limit (--once), every row the answer has.
    let all = render(&v, usize::MAX, usize::MAX, NOW);
    assert_eq!(all.len(), 4 + 1 + 31 + 1 + 51 + 1);
    assert_eq!(all.last().unwrap(), "... and 950 more queued");
}

#[test]
fn the_answer_round_trips_through_json() {
    let v = view();
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(
        json["queued_by_priority"],
        serde_json::json!({"P0": 0, "P1": 2, "P2": 0})
    );
    assert_eq!(json["slice"]["memory_max_bytes"], serde_json::Value::Null);
    assert_eq!(json["tasks"][0]["state"], "running");
    let back: TopView = serde_json::from_value(json).unwrap();
    assert_eq!(back, v);
}

#[test]
fn the_interval_must_be_a_positive_duration() {
    assert_eq!(parse_interval("2s"), Ok(2000));
    assert_eq!(parse_interval("500ms"), Ok(500));
    for bad in ["0", "0s", "abc", "-1s", "10ms"] {
        assert!(parse_interval(bad).is_err(), "{bad}");
    }
    let err = crate::cli::parse_args(["claudinectl", "top", "--interval", "abc"]).unwrap_err();
    assert_eq!(err.exit_code(), exit::USAGE);
    assert!(err.to_string().contains("--interval"), "{err}");
}
