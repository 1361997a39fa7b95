//! Runs the real `claudine-supervise` binary (as root, like the daemon does)
//! and checks what the command sees, what lands in the logs (`.out`, `.err`
//! and the combined `.log` on fd 3) and the exit record. This file is the
//! harness; the tests are in `supervise/`.

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
            claude: None,
            worktree: None,
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
                } else {
                    // Whatever the test runner left open there (a CI
                    // wrapper's lock file, say) is not a combined log.
                    libc::close(3);
                }
                if let Some(adj) = &oom {
                    let fd = libc::open(c"/proc/self/oom_score_adj".as_ptr(), libc::O_WRONLY);
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

fn as_nobody(run: &mut Run) {
    run.spec.uid = 65534;
    run.spec.gid = 65534;
    run.spec.groups = vec![65534];
    run.spec.user = "nobody".into();
}

#[path = "supervise/claude.rs"]
mod claude;
#[path = "supervise/isolation.rs"]
mod isolation;
#[path = "supervise/launch.rs"]
mod launch;
#[path = "supervise/output.rs"]
mod output;
#[path = "supervise/records.rs"]
mod records;
