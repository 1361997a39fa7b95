//! Runs the real `claudine-supervise` binary (as root, like the daemon does)
//! and checks what the command sees, what lands in the log and the exit
//! record.

use claudine::supervise::{read_exit_record, ExitRecord, LaunchSpec, GO_LINE};
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(20);
const TASK: i64 = 7;

struct Run {
    dir: tempfile::TempDir,
    spec: LaunchSpec,
}

impl Run {
    fn new(argv: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let spec = LaunchSpec {
            task_id: TASK,
            uid: 0,
            gid: 0,
            groups: vec![0],
            user: "root".into(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            cwd: "/".into(),
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            exit_path: dir.path().join(format!("{TASK}.json")),
            attempt: 1,
            umask: 0o022,
            rlimits: vec![],
            log_limits: claudine::supervise::LogLimits {
                max_bytes_per_stream: 1 << 30,
                min_free_bytes: 0,
            },
        };
        Run { dir, spec }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn record(&self) -> Option<ExitRecord> {
        read_exit_record(&self.spec.exit_path).unwrap()
    }

    /// Starts the supervisor (in its own process group) and sends `lines`.
    fn start(&self, lines: &[&str]) -> (Child, ChildStdin) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_claudine-supervise"))
            .arg(TASK.to_string())
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        for line in lines {
            writeln!(stdin, "{line}").unwrap();
        }
        (child, stdin)
    }

    fn spec_line(&self) -> String {
        serde_json::to_string(&self.spec).unwrap()
    }

    /// Runs spec + `go` to the end; returns the supervisor's status.
    fn run(&self) -> ExitStatus {
        let (child, stdin) = self.start(&[&self.spec_line(), GO_LINE]);
        drop(stdin);
        wait(child)
    }
}

fn wait(mut child: Child) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("supervisor did not exit within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `check` until it returns Some, or panics after the deadline.
fn poll<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn kill(pid: i32, sig: i32) {
    // SAFETY: plain kill(2).
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill {pid} {sig}");
}

#[test]
fn successful_command() {
    let run = Run::new(&["sh", "-c", "echo hi; exit 3"]);
    assert_eq!(run.run().code(), Some(0), "log: {}", run.log());
    assert!(run.log().contains("hi\n"), "log: {}", run.log());
    let record = run.record().expect("exit record");
    assert_eq!(record.task_id, TASK);
    assert_eq!(record.exit_code, Some(3));
    assert_eq!(record.signal, None);
    assert_eq!(record.error, None);
    assert!(record.pid.is_some_and(|p| p > 1));
    assert!(record.finished_ms.unwrap() > 1_600_000_000_000);
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
    assert_eq!(run.run().code(), Some(0), "log: {}", run.log());
    assert_eq!(run.log(), "PATH=/usr/bin:/bin\nFOO=bar baz\n");
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
    assert!(
        run.log().contains(&format!("claudine: {error}\n")),
        "log: {}",
        run.log()
    );
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
    assert!(run.log().contains("claudine: command not found"));
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

fn as_nobody(run: &mut Run) {
    run.spec.uid = 65534;
    run.spec.gid = 65534;
    run.spec.groups = vec![65534];
    run.spec.user = "nobody".into();
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
    assert_eq!(run.run().code(), Some(0), "log: {}", run.log());
    let log = run.log();
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
        .log()
        .contains("claudine: cannot enter working directory"));
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
}

#[test]
fn command_gets_default_signal_dispositions() {
    // The supervisor ignores SIGTERM/SIGPIPE; the command must not inherit it.
    let run = Run::new(&["sh", "-c", "grep -E '^Sig(Ign|Blk)' /proc/self/status"]);
    assert_eq!(run.run().code(), Some(0));
    let log = run.log();
    assert!(log.contains("SigBlk:\t0000000000000000\n"), "log: {log}");
    assert!(log.contains("SigIgn:\t0000000000000000\n"), "log: {log}");
}

#[test]
fn symlinked_temp_file_is_not_followed() {
    let run = Run::new(&["true"]);
    let target = run.dir.path().join("target");
    std::fs::write(&target, "precious").unwrap();
    let tmp = PathBuf::from(format!("{}.tmp", run.spec.exit_path.display()));
    symlink(&target, &tmp).unwrap();
    assert_eq!(run.run().code(), Some(1));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    assert!(!run.spec.exit_path.exists());
    let expected = format!("create exit record {}: ", tmp.display());
    assert!(run.log().contains(&expected), "log: {}", run.log());
}

#[test]
fn invalid_input_exits_2() {
    type Edit = fn(&mut LaunchSpec);
    let cases: [(&str, Edit); 5] = [
        ("other task", |s| s.task_id = TASK + 1),
        ("empty argv", |s| s.argv.clear()),
        ("relative cwd", |s| s.cwd = "tmp".into()),
        ("nul", |s| s.argv.push("a\0b".into())),
        ("env key", |s| s.env.push(("A=B".into(), "c".into()))),
    ];
    for (name, edit) in cases {
        let mut run = Run::new(&["true"]);
        edit(&mut run.spec);
        let status = run.run();
        assert_eq!(status.code(), Some(2), "{name}: {}", run.log());
        assert!(
            run.log().starts_with("claudine-supervise: task 7: "),
            "{name}"
        );
        assert!(run.record().is_none(), "{name}");
    }
    for line in ["not json", "{}"] {
        let run = Run::new(&["true"]);
        let (child, stdin) = run.start(&[line, GO_LINE]);
        drop(stdin);
        assert_eq!(wait(child).code(), Some(2), "{line}: {}", run.log());
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
