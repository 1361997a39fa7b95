//! `claudinectl list`: the table, its notes and the truncation notice.

use super::*;

pub(crate) const NOW: i64 = 1_700_000_000_000;

pub(crate) fn view(id: i64, state: TaskState, argv: &[&str]) -> TaskView {
    TaskView {
        id,
        owner_uid: 1000,
        owner: "alice".into(),
        priority: Priority::P1,
        state,
        argv: argv.iter().map(|s| s.to_string()).collect(),
        cwd: "/home/alice/src/app".into(),
        env_keys: vec![],
        inherit_env: false,
        created_ms: NOW - 65_000,
        started_ms: None,
        finished_ms: None,
        exit_code: None,
        signal: None,
        reason: None,
        cancel_requested: None,
        unit: None,
        queue_position: None,
        waiting_reason: None,
        estimated_start_ms: None,
        expected_memory_bytes: None,
        expected_memory_source: None,
        attempts: 0,
        umask: 0o022,
        limits: Default::default(),
        eligible_ms: None,
        attempt_history: None,
        checkpoints: None,
        last_checkpoint: None,
        resources: None,
        claude: None,
        restartable: false,
        worktree: None,
        after: vec![],
        after_any: false,
        dependencies: None,
    }
}

fn sample() -> ListResponse {
    let mut ok = view(7, TaskState::Succeeded, &["cargo", "test"]);
    ok.exit_code = Some(0);
    ok.created_ms = NOW - 2 * 3600 * 1000;
    let mut failed = view(8, TaskState::Failed, &["sh", "-c", "exit 3"]);
    failed.exit_code = Some(3);
    let mut killed = view(9, TaskState::Cancelled, &["sleep", "1000"]);
    killed.signal = Some(15);
    killed.owner = "bob".into();
    let mut running = view(
        10,
        TaskState::Running,
        &["claude", "-p", "fix the flaky test"],
    );
    running.priority = Priority::P0;
    running.cancel_requested = Some("superseded".into());
    let mut queued = view(11, TaskState::Queued, &["make", "it's done"]);
    queued.created_ms = NOW - 5_000;
    queued.priority = Priority::P2;
    queued.queue_position = Some(1);
    queued.waiting_reason = Some("at the hard maximum: 3 of 3 running".into());
    ListResponse {
        tasks: vec![ok, failed, killed, running, queued],
        queued: 1,
        running: 1,
        truncated: false,
        total: None,
    }
}

#[test]
fn table_for_a_fixed_list() {
    let want = "\
ID  PRI  STATE      OWNER  AGE    EXIT     COMMAND
7   P1   succeeded  alice  2h00m  0        cargo test
8   P1   failed     alice  1m05s  3        sh -c 'exit 3'
9   P1   cancelled  bob    1m05s  SIGTERM  sleep 1000
10  P0   running    alice  1m05s  -        claude -p 'fix the flaky test'
    stopping: superseded
11  P2   queued     alice  5s     -        make 'it'\\''s done'
    #1 in queue, waiting: at the hard maximum: 3 of 3 running
1 queued, 1 running
";
    assert_eq!(table(&sample(), NOW, None), want);
}

#[test]
fn rows_are_cut_to_the_terminal_width() {
    let text = table(&sample(), NOW, Some(40));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.iter().all(|l| l.chars().count() <= 40), "{text}");
    assert_eq!(lines[4], "10  P0   running    alice  1m05s  -    …");
    assert_eq!(lines[2], "8   P1   failed     alice  1m05s  3    …");
    assert_eq!(lines[8], "1 queued, 1 running");
}

#[test]
fn empty_list_and_hostile_text() {
    let empty = ListResponse {
        tasks: vec![],
        queued: 0,
        running: 0,
        truncated: false,
        total: None,
    };
    assert_eq!(table(&empty, NOW, None), "no tasks\n0 queued, 0 running\n");
    let mut t = view(1, TaskState::Queued, &["echo", "\x1b[2Jboo\nx"]);
    t.waiting_reason = Some("line\nbreak".into());
    let list = ListResponse {
        tasks: vec![t],
        queued: 1,
        running: 0,
        truncated: false,
        total: None,
    };
    let text = table(&list, NOW, None);
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(!text.contains('\x1b'), "{text}");
    assert!(text.contains(r"echo $'\x1b[2Jboo\nx'"), "{text}");
}

#[test]
fn a_truncated_list_says_how_many_matched() {
    let mut list = sample();
    assert_eq!(truncation_note(&list), None);
    list.truncated = true;
    list.total = Some(10_000);
    assert_eq!(
        truncation_note(&list).unwrap(),
        "(showing 5 of 10000 matching tasks; --limit to change)"
    );
}

#[test]
fn the_table_has_a_default_limit_and_json_has_none() {
    let parse = |args: &[&str]| match crate::cli::parse_args(args).unwrap().command {
        crate::cli::Command::List(a) => a,
        _ => unreachable!(),
    };
    let a = parse(&["claudinectl", "list"]);
    assert_eq!(a.filter(false).limit, Some(DEFAULT_TABLE_LIMIT));
    assert_eq!(a.filter(true), ListFilter::default());
    let a = parse(&[
        "claudinectl",
        "list",
        "--state",
        "queued,running",
        "-s",
        "queued",
        "--priority",
        "p0",
        "--limit",
        "5",
    ]);
    let f = a.filter(true);
    assert_eq!(f.states, Some(vec![TaskState::Queued, TaskState::Running]));
    assert_eq!(f.priorities, Some(vec![Priority::P0]));
    assert_eq!(f.limit, Some(5));
    for bad in [
        &["claudinectl", "list", "--state", "done"][..],
        &["claudinectl", "list", "--priority", "P9"],
        &["claudinectl", "list", "--limit", "0"],
    ] {
        let e = crate::cli::parse_args(bad).unwrap_err().to_string();
        assert!(
            e.contains("allowed") || e.contains("from 1 to 100000"),
            "{e}"
        );
    }
}
