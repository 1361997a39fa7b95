//! Launching: the command runs as the user with exactly the spec's
//! environment; launch errors, signals and invalid input.

use super::*;

#[test]
fn successful_command() {
    let mut run = Run::new(&["sh", "-c", "echo hi; exit 3"]);
    run.spec.attempt = 2;
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    // A relaunch says so in .err and .log; stdout stays the command's own.
    let marker = format!("claudine: attempt 2 of task {TASK}\n");
    assert_eq!(run.out(), "hi\n", "{}", run.logs());
    assert_eq!(run.log(), format!("{marker}hi\n"), "{}", run.logs());
    assert_eq!(run.err(), marker, "{}", run.logs());
    let record = run.record().expect("exit record");
    assert_eq!(record.task_id, TASK);
    assert_eq!(record.attempt, 2);
    assert_eq!(record.exit_code, Some(3));
    assert_eq!(record.signal, None);
    assert_eq!(record.error, None);
    assert!(record.pid.is_some_and(|p| p > 1));
    assert!(record.started_ms > 1_600_000_000_000);
    assert!(record.finished_ms.is_some_and(|f| f >= record.started_ms));
    assert!(record.usage.is_some());
    let output = OutputStats {
        stdout_bytes: 3,
        ..OutputStats::default()
    };
    assert_eq!(record.output, Some(output));
    let mode = std::fs::metadata(&run.spec.exit_path)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn environment_is_exactly_the_spec() {
    let mut run = Run::new(&["env"]);
    run.spec.env.push(("FOO".into(), "bar baz".into()));
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    assert_eq!(run.out(), "PATH=/usr/bin:/bin\nFOO=bar baz\n");
}

#[test]
fn eof_before_go_runs_nothing() {
    let marker_dir = tempfile::tempdir().unwrap();
    let marker = marker_dir.path().join("marker");
    let run = Run::new(&["touch", marker.to_str().unwrap()]);
    let (child, stdin) = run.start(&[&run.spec_line()]);
    drop(stdin);
    assert_eq!(wait(child).code(), Some(0));
    assert!(!marker.exists());
    assert!(run.record().is_none());

    // Anything but `go` is also an abort.
    let (child, stdin) = run.start(&[&run.spec_line(), "stop"]);
    drop(stdin);
    assert_eq!(wait(child).code(), Some(0));
    assert!(!marker.exists());
    assert!(run.record().is_none());
}

#[test]
fn missing_cwd_is_a_launch_error() {
    let mut run = Run::new(&["true"]);
    run.spec.cwd = "/nonexistent/claudine-test".into();
    assert_eq!(run.run().code(), Some(0));
    let record = run.record().unwrap();
    assert_eq!(record.exit_code, Some(127));
    assert_eq!(record.signal, None);
    assert!(record.pid.is_some());
    let error = record.error.unwrap();
    assert_eq!(
        error,
        "cannot enter working directory /nonexistent/claudine-test: \
         No such file or directory (os error 2)"
    );
    let line = format!("claudine: {error}\n");
    assert_eq!(run.err(), line, "{}", run.logs());
    assert_eq!(run.log(), line, "{}", run.logs());
    assert_eq!(run.out(), "", "{}", run.logs());
}

#[test]
fn command_not_found_on_path() {
    let run = Run::new(&["claudine-no-such-command"]);
    assert_eq!(run.run().code(), Some(0));
    let record = run.record().unwrap();
    assert_eq!(record.exit_code, Some(127));
    assert_eq!(
        record.error.as_deref(),
        Some("command not found: claudine-no-such-command (searched PATH /usr/bin:/bin)")
    );
    assert!(run.err().starts_with("claudine: command not found"));
    assert!(run.log().starts_with("claudine: command not found"));
}

#[test]
fn explicit_path_that_cannot_be_executed() {
    // No execute bit at all: refused even to root.
    let mut run = Run::new(&[]);
    let script = run.dir.path().join("script");
    std::fs::write(&script, "#!/bin/sh\necho no\n").unwrap();
    std::fs::set_permissions(&script, PermissionsExt::from_mode(0o644)).unwrap();
    run.spec.argv = vec![script.to_str().unwrap().to_owned()];
    assert_eq!(run.run().code(), Some(0));
    let error = run.record().unwrap().error.unwrap();
    assert_eq!(
        error,
        format!(
            "cannot execute {}: Permission denied (os error 13)",
            script.display()
        )
    );
}

#[test]
fn killed_by_signal() {
    let run = Run::new(&["sh", "-c", "kill -9 $$"]);
    assert_eq!(run.run().code(), Some(0));
    let record = run.record().unwrap();
    assert_eq!(record.signal, Some(9));
    assert_eq!(record.exit_code, None);
    assert_eq!(record.error, None);
}

#[test]
fn drops_privileges() {
    let mut run = Run::new(&[
        "sh",
        "-c",
        "id -u; id -g; id -G; pwd; cat /proc/self/status",
    ]);
    as_nobody(&mut run);
    run.spec.cwd = "/tmp".into();
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    let log = run.out();
    assert!(log.starts_with("65534\n65534\n65534\n/tmp\n"), "log: {log}");
    // Real, effective, saved and filesystem ids all dropped; no capabilities.
    assert!(
        log.contains("\nUid:\t65534\t65534\t65534\t65534\n"),
        "log: {log}"
    );
    assert!(
        log.contains("\nGid:\t65534\t65534\t65534\t65534\n"),
        "log: {log}"
    );
    assert!(log.contains("\nCapEff:\t0000000000000000\n"), "log: {log}");
    assert_eq!(run.record().unwrap().exit_code, Some(0));
}

#[test]
fn enters_cwd_only_after_dropping_privileges() {
    let private = tempfile::tempdir().unwrap();
    std::fs::set_permissions(private.path(), PermissionsExt::from_mode(0o700)).unwrap();
    let mut run = Run::new(&["pwd"]);
    as_nobody(&mut run);
    run.spec.cwd = private.path().to_str().unwrap().into();
    assert_eq!(run.run().code(), Some(0));
    let record = run.record().unwrap();
    assert_eq!(record.exit_code, Some(127));
    assert_eq!(
        record.error.unwrap(),
        format!(
            "cannot enter working directory {}: Permission denied (os error 13)",
            private.path().display()
        )
    );
    assert!(run
        .err()
        .starts_with("claudine: cannot enter working directory"));
}

#[test]
fn supervisor_survives_sigterm_and_records_the_commands_death() {
    let run = Run::new(&["sh", "-c", "echo started $$; exec sleep 30"]);
    let (child, stdin) = run.start(&[&run.spec_line(), GO_LINE]);
    let supervisor = child.id() as i32;
    let pid: i32 = poll("the command to start", || {
        let log = run.log();
        let line = log.lines().find(|l| l.starts_with("started "))?;
        line["started ".len()..].trim().parse().ok()
    });
    // Like `systemctl stop` on the scope: everything gets SIGTERM (and the
    // terminal-ish signals for good measure); the supervisor stays.
    for sig in [libc::SIGHUP, libc::SIGINT, libc::SIGPIPE, libc::SIGTERM] {
        kill(supervisor, sig);
    }
    kill(-pid, libc::SIGTERM); // the command's own session / process group
    let status = wait(child);
    drop(stdin);
    assert_eq!(status.signal(), None, "supervisor was killed: {status:?}");
    assert_eq!(status.code(), Some(0));
    let record = run.record().unwrap();
    assert_eq!(record.pid, Some(pid as u32));
    assert_eq!(record.signal, Some(15));
    assert_eq!(record.exit_code, None);
    // The record says the scope was stopped under the command.
    assert!(record.stopped);
}

#[test]
fn a_command_that_ends_by_itself_is_not_recorded_as_stopped() {
    let run = Run::new(&["sh", "-c", "kill -TERM $$"]);
    let (child, stdin) = run.start(&[&run.spec_line(), GO_LINE]);
    wait(child);
    drop(stdin);
    let record = run.record().unwrap();
    assert_eq!(record.signal, Some(15));
    assert!(!record.stopped);
}

#[test]
fn command_gets_default_signal_dispositions() {
    // The supervisor ignores SIGTERM/SIGPIPE; the command must not inherit it.
    let run = Run::new(&["sh", "-c", "grep -E '^Sig(Ign|Blk)' /proc/self/status"]);
    assert_eq!(run.run().code(), Some(0));
    let log = run.out();
    assert!(log.contains("SigBlk:\t0000000000000000\n"), "log: {log}");
    assert!(log.contains("SigIgn:\t0000000000000000\n"), "log: {log}");
}

#[test]
fn invalid_input_exits_2() {
    let marker_dir = tempfile::tempdir().unwrap();
    let marker = marker_dir.path().join("marker");
    fn rlimit(resource: &str, soft: Option<u64>, hard: Option<u64>) -> RlimitSpec {
        RlimitSpec {
            resource: resource.into(),
            soft,
            hard,
        }
    }
    type Edit = fn(&mut LaunchSpec);
    let cases: [(&str, Edit); 12] = [
        ("other task", |s| s.task_id = TASK + 1),
        ("empty argv", |s| s.argv.clear()),
        ("relative cwd", |s| s.cwd = "tmp".into()),
        ("nul", |s| s.argv.push("a\0b".into())),
        ("env key", |s| s.env.push(("A=B".into(), "c".into()))),
        ("attempt 0", |s| s.attempt = 0),
        ("umask", |s| s.umask = 0o4022),
        ("rlimit name", |s| {
            s.rlimits.push(rlimit("maxlogins", Some(1), Some(1)))
        }),
        ("rlimit order", |s| {
            s.rlimits.push(rlimit("nofile", Some(2), Some(1)))
        }),
        ("rlimit twice", |s| {
            s.rlimits.push(rlimit("core", None, None));
            s.rlimits.push(rlimit("core", Some(0), Some(0)));
        }),
        ("no output kept", |s| s.log_limits.max_bytes_per_stream = 0),
        ("reserve", |s| s.log_limits.min_free_bytes = u64::MAX),
    ];
    for (name, edit) in cases {
        let mut run = Run::new(&["touch", marker.to_str().unwrap()]);
        edit(&mut run.spec);
        let status = run.run();
        assert_eq!(status.code(), Some(2), "{name}: {}", run.logs());
        let err = run.err();
        assert!(
            err.starts_with("claudine-supervise: task 7: "),
            "{name}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(run.record().is_none(), "{name}");
        assert!(!marker.exists(), "{name}");
    }
    for line in ["not json", "{}"] {
        let run = Run::new(&["true"]);
        let (child, stdin) = run.start(&[line, GO_LINE]);
        drop(stdin);
        assert_eq!(wait(child).code(), Some(2), "{line}: {}", run.logs());
        assert!(run.record().is_none());
    }
    let status = Command::new(env!("CARGO_BIN_EXE_claudine-supervise"))
        .env_clear()
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}
