//! Runs the real `claudine-supervise` binary (as root, like the daemon does)
//! and checks what the command sees, what lands in the logs (`.out`, `.err`
//! and the combined `.log` on fd 3) and the exit record.

use claudine::supervise::{
    read_exit_record, ExitRecord, LaunchSpec, LogLimits, OutputStats, RlimitSpec, GO_LINE,
};
use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(20);
const TASK: i64 = 7;
/// The supervisor's warning when it cannot lower its own oom_score_adj
/// (a sandbox without CAP_SYS_RESOURCE); see `oom_score_adj_*`.
const OOM_WARNING: &str = "claudine: warning: cannot protect the supervisor from the OOM killer";

struct Run {
    dir: tempfile::TempDir,
    spec: LaunchSpec,
    /// Where the three logs go (the temp dir unless a test moves them).
    log_dir: PathBuf,
    /// The oom_score_adj the supervisor starts with, if set.
    oom_score_adj: Option<i32>,
    /// Whether fd 3 is passed.
    combined_fd: bool,
}

impl Run {
    fn new(argv: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let spec = LaunchSpec {
            task_id: TASK,
            attempt: 1,
            uid: 0,
            gid: 0,
            groups: vec![0],
            user: "root".into(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            cwd: "/".into(),
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            exit_path: dir.path().join(format!("{TASK}.json")),
            umask: 0o022,
            rlimits: Vec::new(),
            log_limits: LogLimits {
                max_bytes_per_stream: 1 << 30,
                min_free_bytes: 0,
            },
        };
        let log_dir = dir.path().to_owned();
        Run {
            dir,
            spec,
            log_dir,
            oom_score_adj: None,
            combined_fd: true,
        }
    }

    fn path(&self, ext: &str) -> PathBuf {
        self.log_dir.join(format!("{TASK}.{ext}"))
    }

    fn read(&self, ext: &str) -> String {
        String::from_utf8_lossy(&std::fs::read(self.path(ext)).unwrap_or_default()).into_owned()
    }

    /// The stdout log.
    fn out(&self) -> String {
        self.read("out")
    }

    /// The stderr log, without the supervisor's OOM warning.
    fn err(&self) -> String {
        without_oom_warning(&self.read("err"))
    }

    /// The combined log.
    fn log(&self) -> String {
        self.read("log")
    }

    /// All three, for failure messages.
    fn logs(&self) -> String {
        format!(
            "\n.out: {:?}\n.err: {:?}\n.log: {:?}",
            self.out(),
            self.read("err"),
            self.log()
        )
    }

    fn record(&self) -> Option<ExitRecord> {
        read_exit_record(&self.spec.exit_path).unwrap()
    }

    /// Starts the supervisor (in its own process group) with the three logs
    /// on fds 1, 2 and 3, and sends `lines`.
    fn start(&self, lines: &[&str]) -> (Child, ChildStdin) {
        let open = |ext| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.path(ext))
                .unwrap()
        };
        let (out, err, log) = (open("out"), open("err"), open("log"));
        let log_fd = log.as_raw_fd();
        let combined_fd = self.combined_fd;
        let oom = self.oom_score_adj.map(|adj| format!("{adj}"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_claudine-supervise"));
        command
            .arg(TASK.to_string())
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        // SAFETY: only async-signal-safe calls (dup2, fcntl, open, write,
        // close) on data prepared before the fork.
        unsafe {
            command.pre_exec(move || {
                if combined_fd {
                    if log_fd == 3 {
                        libc::fcntl(3, libc::F_SETFD, 0);
                    } else if libc::dup2(log_fd, 3) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                if let Some(adj) = &oom {
                    let fd = libc::open(
                        b"/proc/self/oom_score_adj\0".as_ptr().cast(),
                        libc::O_WRONLY,
                    );
                    if fd < 0 || libc::write(fd, adj.as_ptr().cast(), adj.len()) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    libc::close(fd);
                }
                Ok(())
            })
        };
        let mut child = command.spawn().unwrap();
        drop(log);
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

fn without_oom_warning(text: &str) -> String {
    text.split_inclusive('\n')
        .filter(|line| !line.starts_with(OOM_WARNING))
        .collect()
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
    let mut run = Run::new(&["sh", "-c", "echo hi; exit 3"]);
    run.spec.attempt = 2;
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    assert_eq!(run.out(), "hi\n", "{}", run.logs());
    assert_eq!(run.log(), "hi\n", "{}", run.logs());
    assert_eq!(run.err(), "", "{}", run.logs());
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
fn symlinked_temp_file_is_not_followed() {
    // A stale temp name is unlinked and created afresh: the link goes, what
    // it points to stays.
    let run = Run::new(&["true"]);
    let target = run.dir.path().join("target");
    std::fs::write(&target, "precious").unwrap();
    let tmp = PathBuf::from(format!("{}.tmp", run.spec.exit_path.display()));
    symlink(&target, &tmp).unwrap();
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    assert!(run.record().unwrap().is_final());
    assert!(!tmp.exists());
}

#[test]
fn no_start_record_no_command() {
    let marker_dir = tempfile::tempdir().unwrap();
    let marker = marker_dir.path().join("marker");
    let mut run = Run::new(&["touch", marker.to_str().unwrap()]);
    run.spec.attempt = 4;
    run.spec.exit_path = run.dir.path().join("missing/7.json");
    assert_eq!(run.run().code(), Some(1), "{}", run.logs());
    assert!(!marker.exists());
    let tmp = format!("{}.tmp", run.spec.exit_path.display());
    let start =
        format!("claudine: cannot record the start of attempt 4: create exit record {tmp}: ");
    let end = format!("claudine: cannot record the end of attempt 4: create exit record {tmp}: ");
    let err = run.err();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.logs());
    assert!(lines[0].starts_with(&start), "{}", run.logs());
    assert!(lines[1].starts_with(&end), "{}", run.logs());
    assert_eq!(run.log(), err);
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

#[test]
fn stdout_and_stderr_land_apart_and_together() {
    let run = Run::new(&["sh", "-c", "echo out1; echo err1 >&2; echo out2"]);
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    assert_eq!(run.out(), "out1\nout2\n", "{}", run.logs());
    assert_eq!(run.err(), "err1\n", "{}", run.logs());
    let log = run.log();
    assert_eq!(log.len(), 15, "{}", run.logs());
    for line in ["out1\n", "err1\n", "out2\n"] {
        assert!(log.contains(line), "{}", run.logs());
    }
    assert!(log.find("out1").unwrap() < log.find("out2").unwrap());
    let output = run.record().unwrap().output.unwrap();
    assert_eq!((output.stdout_bytes, output.stderr_bytes), (10, 5));
}

#[test]
fn output_past_the_cap_is_dropped_without_blocking_the_command() {
    const CAP: usize = 1000;
    const WRITTEN: u64 = 5 << 20;
    let mut run = Run::new(&["sh", "-c", "head -c 5M /dev/zero; echo done >&2"]);
    run.spec.log_limits.max_bytes_per_stream = CAP as u64;
    let start = Instant::now();
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    assert!(start.elapsed() < Duration::from_secs(10));
    let marker = format!(
        "\nclaudine: stdout cut at {CAP} bytes (log_max_bytes); further output is dropped\n"
    );
    let expected_out = format!("{}{marker}", "\0".repeat(CAP));
    assert_eq!(run.out(), expected_out);
    assert_eq!(run.err(), "done\n");
    assert_eq!(run.log(), format!("{expected_out}done\n"));
    let record = run.record().unwrap();
    assert_eq!(record.exit_code, Some(0));
    assert_eq!(
        record.output,
        Some(OutputStats {
            stdout_bytes: WRITTEN,
            stderr_bytes: 5,
            stdout_dropped: WRITTEN - CAP as u64,
            stderr_dropped: 0,
        })
    );
}

#[test]
fn a_grandchild_holding_stdout_does_not_delay_the_record() {
    // The command leaves a background process that keeps its stdout and
    // stderr open for a minute.
    let run = Run::new(&["sh", "-c", "sleep 60 & echo $!; exit 5"]);
    let start = Instant::now();
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    let elapsed = start.elapsed();
    let grandchild: i32 = run.out().trim().parse().expect("grandchild pid");
    kill(grandchild, libc::SIGKILL);
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    let record = run.record().unwrap();
    assert_eq!(record.exit_code, Some(5));
    assert!(record.is_final());
}

#[test]
fn the_start_record_exists_before_the_command_runs() {
    let mut run = Run::new(&["cat"]);
    run.spec.attempt = 3;
    let path = run.spec.exit_path.to_str().unwrap().to_owned();
    run.spec.argv.push(path);
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    let started: ExitRecord = serde_json::from_str(&run.out()).expect("start record");
    assert_eq!(started.task_id, TASK);
    assert_eq!(started.attempt, 3);
    assert!(!started.is_final());
    assert_eq!(started.pid, None);
    assert_eq!((started.exit_code, started.signal), (None, None));
    assert!(started.started_ms > 1_600_000_000_000);
    let record = run.record().unwrap();
    assert_eq!(record.attempt, 3);
    assert_eq!(record.started_ms, started.started_ms);
    assert!(record.finished_ms.is_some_and(|f| f >= started.started_ms));
    assert_eq!(record.exit_code, Some(0));
}

#[test]
fn umask_is_applied() {
    let mut run = Run::new(&["sh", "-c", "umask; touch file; mkdir dir"]);
    as_nobody(&mut run);
    let work = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(work.path(), Some(65534), Some(65534)).unwrap();
    run.spec.cwd = work.path().to_str().unwrap().into();
    run.spec.umask = 0o027;
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    assert_eq!(run.out(), "0027\n");
    let mode = |name| {
        std::fs::metadata(work.path().join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("file"), 0o640);
    assert_eq!(mode("dir"), 0o750);
}

#[test]
fn rlimits_are_applied() {
    let mut run = Run::new(&[
        "grep",
        "-E",
        "^Max (open files|core file size)",
        "/proc/self/limits",
    ]);
    as_nobody(&mut run);
    run.spec.rlimits = vec![
        RlimitSpec {
            resource: "nofile".into(),
            soft: Some(123),
            hard: Some(456),
        },
        RlimitSpec {
            resource: "core".into(),
            soft: Some(0),
            hard: None,
        },
    ];
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    // The last three fields: soft, hard, units.
    let last3 = |line: &str| {
        let fields: Vec<_> = line.split_whitespace().map(str::to_owned).collect();
        fields[fields.len() - 3..].to_vec()
    };
    let out = run.out();
    let lines: Vec<_> = out.lines().map(last3).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], ["0", "unlimited", "bytes"], "{out}");
    assert_eq!(lines[1], ["123", "456", "files"], "{out}");

    // A limit the kernel refuses (above fs.nr_open) stops the launch, named.
    let mut run = Run::new(&["true"]);
    run.spec.rlimits = vec![RlimitSpec {
        resource: "nofile".into(),
        soft: Some(10),
        hard: Some(1 << 40),
    }];
    assert_eq!(run.run().code(), Some(0));
    let record = run.record().unwrap();
    assert_eq!(record.exit_code, Some(127));
    assert_eq!(
        record.error.as_deref(),
        Some(
            "cannot set resource limit nofile (soft 10, hard 1099511627776): \
             Operation not permitted (os error 1)"
        )
    );
}

/// Whether this process has CAP_SYS_RESOURCE (needed to lower
/// oom_score_adj below its floor).
fn has_cap_sys_resource() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("CapEff:")).unwrap();
    let caps = u64::from_str_radix(line["CapEff:".len()..].trim(), 16).unwrap();
    const CAP_SYS_RESOURCE: u32 = 24;
    caps & (1 << CAP_SYS_RESOURCE) != 0
}

#[test]
fn oom_score_adj_is_reset_for_the_command_only() {
    // The supervisor starts at 500; it asks for -1000 for itself and the
    // command gets 0.
    let mut run = Run::new(&[
        "sh",
        "-c",
        "cat /proc/self/oom_score_adj; cat /proc/$PPID/oom_score_adj",
    ]);
    as_nobody(&mut run);
    run.oom_score_adj = Some(500);
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    if has_cap_sys_resource() {
        assert_eq!(run.out(), "0\n-1000\n", "{}", run.logs());
        assert!(!run.read("err").contains(OOM_WARNING));
    } else {
        // A sandbox without CAP_SYS_RESOURCE even for root: the supervisor
        // cannot go below 0, says so, and carries on.
        eprintln!(
            "NOTE: no CAP_SYS_RESOURCE here: checking the supervisor's warning \
             instead of its -1000"
        );
        assert_eq!(run.out(), "0\n500\n", "{}", run.logs());
        assert!(run.read("err").starts_with(OOM_WARNING), "{}", run.logs());
    }
    assert_eq!(run.record().unwrap().exit_code, Some(0));
}

#[test]
fn the_command_gets_a_fresh_session_keyring_linked_to_the_users() {
    // keyctl(2) through ctypes: the session keyring's id, the user
    // keyring's id, and whether the session keyring holds the user keyring.
    let script = format!(
        "import ctypes, struct\n\
         l = ctypes.CDLL(None, use_errno=True)\n\
         l.syscall.restype = ctypes.c_long\n\
         ses = l.syscall({nr}, 0, -3, 0)\n\
         usr = l.syscall({nr}, 0, -4, 0)\n\
         buf = ctypes.create_string_buffer(4096)\n\
         n = l.syscall({nr}, 11, ses, buf, 4096)\n\
         ids = struct.unpack('%di' % (n // 4), buf.raw[:n])\n\
         print(ses, usr, usr in ids)\n",
        nr = libc::SYS_keyctl
    );
    let mut run = Run::new(&["python3", "-c", &script]);
    as_nobody(&mut run);
    run.spec.cwd = "/tmp".into();
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    // SAFETY: KEYCTL_GET_KEYRING_ID of our own session keyring, no create.
    let ours = unsafe { libc::syscall(libc::SYS_keyctl, 0, -3, 0) };
    assert!(ours > 0, "this kernel has keyrings (keyctl: {ours})");
    let out = run.out();
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fields.len(), 3, "{}", run.logs());
    let session: i64 = fields[0].parse().unwrap();
    let user: i64 = fields[1].parse().unwrap();
    assert!(session > 0 && user > 0, "{out}");
    assert_ne!(session, ours, "the command kept the supervisor's keyring");
    assert_eq!(fields[2], "True", "user keyring not linked: {out}");
    assert_eq!(run.record().unwrap().exit_code, Some(0));
}

#[test]
fn without_fd_3_output_still_reaches_out_and_err() {
    let mut run = Run::new(&["sh", "-c", "echo o; echo e >&2"]);
    run.combined_fd = false;
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    assert_eq!(run.out(), "o\n");
    assert_eq!(
        run.err(),
        "claudine: warning: no combined log on fd 3; output goes to .out and .err only\ne\n"
    );
    assert_eq!(run.log(), "");
}

/// A 8 MiB tmpfs, unmounted on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "mounting a tmpfs failed ({status}); this suite runs as root and needs it \
             (the reserve policy itself is unit-tested in supervise::reserve)"
        );
        Tmpfs(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

#[test]
fn output_is_dropped_below_the_free_space_reserve_and_resumes() {
    const MIB: u64 = 1 << 20;
    let fs = Tmpfs::mount();
    let ballast = fs.path().join("ballast");
    std::fs::write(&ballast, vec![1u8; 3 << 20]).unwrap();
    let control = tempfile::tempdir().unwrap();
    let stop = control.path().join("stop");
    // About 850 KB/s on stdout (twice that on disk: .out and .log) until
    // told to stop.
    let script = format!(
        "while [ ! -e {} ]; do head -c 256K /dev/zero; sleep 0.3; done; echo bye >&2",
        stop.display()
    );
    let mut run = Run::new(&["sh", "-c", &script]);
    run.log_dir = fs.path().to_owned();
    run.spec.log_limits.min_free_bytes = 4 * MIB;
    let (child, stdin) = run.start(&[&run.spec_line(), GO_LINE]);
    let dropped = "claudine: output dropped: less than 4 MiB free on the log filesystem\n";
    poll("output to be dropped", || {
        run.log().contains(dropped).then_some(())
    });
    std::fs::remove_file(&ballast).unwrap();
    poll("output to resume", || {
        run.log()
            .contains("claudine: output resumed after dropping ")
            .then_some(())
    });
    std::fs::write(&stop, "").unwrap();
    let status = wait(child);
    drop(stdin);
    assert_eq!(status.code(), Some(0), "{}", run.logs());
    let record = run.record().unwrap();
    assert_eq!(record.exit_code, Some(0));
    let output = record.output.unwrap();
    assert!(output.stdout_dropped > 0, "{output:?}");
    assert!(output.stdout_dropped < output.stdout_bytes, "{output:?}");
    // The markers are in each file, on lines of their own.
    for ext in ["out", "err", "log"] {
        let text = run.read(ext);
        assert!(
            text.contains(&format!("\n{dropped}")) || text.starts_with(dropped),
            "{ext}"
        );
        let resumed = text
            .find("claudine: output resumed after dropping ")
            .unwrap();
        assert!(
            resumed == 0 || text.as_bytes()[resumed - 1] == b'\n',
            "{ext}"
        );
    }
    // What was kept plus what was dropped is what was written.
    let kept = run.out().bytes().filter(|&b| b == 0).count() as u64;
    assert_eq!(kept + output.stdout_dropped, output.stdout_bytes);
}
