//! The supervisor's main flow:
//!
//! 1. Before anything else: make sure fd 3 (the combined log) is taken, ask
//!    for oom_score_adj -1000 (so that the OOM killer takes the command,
//!    never the one process that records its end), put the process in a
//!    known state ([`hygiene`]).
//! 2. Read the task id argument, the spec line and the `go` line; end of
//!    input before `go` runs nothing.
//! 3. Ignore the signals a scope stop sends ([`IGNORED`]).
//! 4. Record durably that attempt N starts (`finished_ms: None`); if that
//!    cannot be written, run nothing.
//! 5. Fork the command, relay its output into the logs until it exits, reap
//!    it, read the scope's final cgroup figures.
//! 6. Write the final record.
//!
//! Exit status: 2 for bad arguments or an invalid spec, 0 when aborted
//! before `go` or when the final record was written, 1 when it could not be.

use super::claude_tap::ClaudeTap;
use super::envfile::read_as_user;
use super::exitfile::write_exit_record;
use super::input::{parse_args, read_spec, wait_for_go};
use super::launch::{launch, Ending};
use super::logs::Logs;
use super::prepare::Prepared;
use super::spec::{ExitRecord, LaunchSpec, COMBINED_LOG_FD, LAUNCH_ERROR_EXIT};
use super::usage::read_final_usage;
use crate::daemon::users::RESERVED_ENV;
use nix::sys::signal::{signal, SigHandler, Signal};
use std::ffi::OsString;
use std::os::fd::IntoRawFd;
use std::time::{SystemTime, UNIX_EPOCH};

/// Exit status for bad arguments or an invalid spec.
pub const EXIT_INVALID: i32 = 2;
/// Exit status when the exit record could not be written.
pub const EXIT_NO_RECORD: i32 = 1;

/// Signals the supervisor survives after `go`: stopping the scope kills the
/// command, while the supervisor stays to record its end. SIGTERM is
/// caught rather than ignored: it means the scope itself was stopped (by
/// systemd at a shutdown or reboot, or by someone), which the exit record
/// says, so that a task lost to a reboot is told from one that failed.
const IGNORED: [Signal; 3] = [Signal::SIGINT, Signal::SIGHUP, Signal::SIGPIPE];

/// Set by the SIGTERM handler.
static STOPPED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_sigterm(_: libc::c_int) {
    STOPPED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Catch SIGTERM (restarting interrupted system calls where the kernel can;
/// the relay's poll loop and the waits retry EINTR themselves).
fn catch_sigterm() -> nix::Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigSet};
    let action = SigAction::new(
        SigHandler::Handler(on_sigterm),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    unsafe { sigaction(Signal::SIGTERM, &action) }.map(|_| ())
}

/// Runs the supervisor with `args` (argv, program name first) on the
/// process's stdin/stderr; returns the exit status.
pub fn main(args: &[OsString]) -> i32 {
    let combined_log = take_combined_log_fd();
    let oom_protection = std::fs::write("/proc/self/oom_score_adj", "-1000");
    hygiene();
    let task_id = match parse_args(args) {
        Ok(id) => id,
        Err(e) => {
            eprintln!("claudine-supervise: {e}");
            return EXIT_INVALID;
        }
    };
    let mut input = std::io::stdin().lock();
    let spec = match read_spec(&mut input, task_id) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("claudine-supervise: task {task_id}: {e}");
            return EXIT_INVALID;
        }
    };
    if !wait_for_go(&mut input) {
        return 0;
    }
    for sig in IGNORED {
        // SAFETY: SIG_IGN installs no handler.
        if let Err(e) = unsafe { signal(sig, SigHandler::SigIgn) } {
            eprintln!("claudine-supervise: task {task_id}: cannot ignore {sig}: {e}");
        }
    }
    if let Err(e) = catch_sigterm() {
        eprintln!("claudine-supervise: task {task_id}: cannot catch SIGTERM: {e}");
    }
    let mut logs = Logs::standard();
    if !combined_log {
        logs.diag("warning: no combined log on fd 3; output goes to .out and .err only");
    }
    if let Err(e) = &oom_protection {
        logs.stderr.line(&format!(
            "claudine: warning: cannot protect the supervisor from the OOM killer \
             (oom_score_adj -1000): {e}"
        ));
    }
    attempt(&spec, &mut logs, oom_protection.is_ok())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Runs attempt `spec.attempt` from its start record to its final record;
/// returns the exit status.
fn attempt(spec: &LaunchSpec, logs: &mut Logs, oom_protected: bool) -> i32 {
    let mut record = ExitRecord {
        task_id: spec.task_id,
        attempt: spec.attempt,
        started_ms: now_ms(),
        pid: None,
        exit_code: None,
        signal: None,
        error: None,
        finished_ms: None,
        usage: None,
        output: None,
        claude: None,
        stopped: false,
    };
    match write_exit_record(&spec.exit_path, &record) {
        Ok(()) => {
            // A relaunch says so in the log (.err and .log; stdout stays the
            // command's own), so a reader sees where each attempt begins.
            if spec.attempt > 1 {
                logs.diag(&format!(
                    "attempt {} of task {}",
                    spec.attempt, spec.task_id
                ));
            }
            run(spec, &mut record, logs, oom_protected)
        }
        Err(e) => {
            record.exit_code = Some(LAUNCH_ERROR_EXIT);
            record.error = Some(format!(
                "cannot record the start of attempt {}: {e}",
                spec.attempt
            ));
            record.finished_ms = Some(now_ms());
        }
    }
    if let Some(error) = &record.error {
        logs.diag(error);
    }
    write_final_record(spec, &record, logs)
}

/// How long the supervisor keeps trying to write the final record (a full
/// disk, say) before it gives up; the daemon waits for it meanwhile, so the
/// exit status is not lost to a passing shortage.
pub const RECORD_RETRY_SECS: u64 = 30 * 60;

/// Write the final record, retrying once a second while it fails for a
/// reason that may pass (a full disk).
fn write_final_record(spec: &LaunchSpec, record: &ExitRecord, logs: &mut Logs) -> i32 {
    let mut said = false;
    for _ in 0..=RECORD_RETRY_SECS {
        match write_exit_record(&spec.exit_path, record) {
            Ok(()) => {
                if said {
                    logs.diag(&format!("recorded the end of attempt {}", spec.attempt));
                }
                return 0;
            }
            Err(e) if !e.is_transient() => {
                logs.diag(&format!(
                    "cannot record the end of attempt {}: {e}",
                    spec.attempt
                ));
                return EXIT_NO_RECORD;
            }
            Err(e) if !said => {
                logs.diag(&format!(
                    "cannot record the end of attempt {}: {e}; retrying every second for up to {} min",
                    spec.attempt,
                    RECORD_RETRY_SECS / 60
                ));
                said = true;
            }
            Err(_) => {}
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    logs.diag(&format!(
        "gave up recording the end of attempt {}",
        spec.attempt
    ));
    EXIT_NO_RECORD
}

/// The variables of the user's environment file, read as the user (a
/// Claude run with one configured; none otherwise).
fn env_file(spec: &LaunchSpec) -> Result<Vec<(String, String)>, String> {
    let Some(path) = spec.claude.as_ref().and_then(|c| c.env_file.as_deref()) else {
        return Ok(Vec::new());
    };
    match read_as_user(path, spec.uid, spec.gid, &spec.groups) {
        Ok(None) => Ok(Vec::new()),
        Ok(Some(bytes)) => crate::core::envfile::parse(&bytes, RESERVED_ENV)
            .map_err(|e| format!("the environment file {path}: {e}")),
        Err(e) => Err(e.to_string()),
    }
}

/// The task's own worktree, made (as the user) at its first launch, and
/// checked to be the same one at every later launch.
fn worktree(spec: &LaunchSpec, logs: &mut Logs) -> Result<(), String> {
    let Some(w) = &spec.worktree else {
        return Ok(());
    };
    let user = crate::gitops::AsUser {
        uid: spec.uid,
        gid: spec.gid,
        groups: spec.groups.clone(),
        name: spec.user.clone(),
        home: spec
            .env
            .iter()
            .find(|(k, _)| k == "HOME")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| "/".into()),
    };
    let path = std::path::Path::new(&w.path);
    let timeout = std::time::Duration::from_secs(300);
    use crate::gitops::GitError;
    let open_error = match crate::gitops::open_worktree(&user, path, &w.branch) {
        Ok(_) => {
            logs.diag(&format!("in its worktree {} (branch {})", w.path, w.branch));
            return Ok(());
        }
        Err(e @ GitError::WrongBranch { .. }) => {
            return Err(format!("the task's worktree {}: {e}", w.path))
        }
        // Not there yet (the first launch): made now.
        Err(e) => e,
    };
    match crate::gitops::add_worktree(
        &user,
        std::path::Path::new(&w.repo),
        path,
        &w.branch,
        timeout,
    ) {
        Ok(_) => {
            logs.diag(&format!(
                "created its worktree {} on a new branch {} (from {})",
                w.path, w.branch, w.repo
            ));
            Ok(())
        }
        Err(GitError::PathExists { .. }) => {
            Err(format!("the task's worktree {}: {open_error}", w.path))
        }
        Err(e) => Err(format!("cannot create the task's worktree: {e}")),
    }
}

/// Runs the command of `spec` and fills in how it ended.
fn run(spec: &LaunchSpec, record: &mut ExitRecord, logs: &mut Logs, oom_protected: bool) {
    let mut tap = spec
        .claude
        .as_ref()
        .map(|c| ClaudeTap::new(&c.progress_path));
    let finished = worktree(spec, logs)
        .and_then(|()| env_file(spec))
        .and_then(|vars| Prepared::new(spec, oom_protected, &vars).map_err(|e| e.to_string()))
        .and_then(|prepared| {
            launch(&prepared, logs, spec.log_limits, tap.as_mut()).map_err(|e| e.to_string())
        });
    if let Some(tap) = tap {
        let (progress, write_error) = tap.finish();
        if let Some(e) = write_error {
            logs.diag(&format!("warning: {e}"));
        }
        record.claude = Some(progress);
    }
    match finished {
        Err(error) => {
            record.exit_code = Some(LAUNCH_ERROR_EXIT);
            record.error = Some(error);
        }
        Ok(finished) => {
            record.pid = u32::try_from(finished.pid.as_raw()).ok();
            record.output = Some(finished.output);
            match finished.ending {
                Ending::Exited(code) => record.exit_code = Some(code),
                Ending::Signaled(sig) => record.signal = Some(sig),
                Ending::Lost(e) => {
                    record.error = Some(format!("cannot wait for pid {}: {e}", finished.pid))
                }
            }
            if let Some(error) = finished.launch_error {
                record.exit_code = Some(LAUNCH_ERROR_EXIT);
                record.signal = None;
                record.error = Some(error);
            }
        }
    }
    record.finished_ms = Some(now_ms());
    let (usage, problems) = read_final_usage();
    for problem in problems {
        logs.diag(&format!("warning: final usage: {problem}"));
    }
    record.usage = Some(usage);
    record.stopped = STOPPED.load(std::sync::atomic::Ordering::SeqCst);
}

/// Makes sure fd 3, the combined log, is open: if the daemon did not pass
/// it, `/dev/null` takes the number, so that no file the supervisor opens
/// later lands there and receives the output. Returns whether it was open.
fn take_combined_log_fd() -> bool {
    // SAFETY: F_GETFD only asks for the descriptor's flags.
    if unsafe { libc::fcntl(COMBINED_LOG_FD, libc::F_GETFD) } >= 0 {
        return true;
    }
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let fd = null.into_raw_fd();
        if fd != COMBINED_LOG_FD {
            // SAFETY: duplicating and closing the descriptor we just opened.
            unsafe {
                libc::dup2(fd, COMBINED_LOG_FD);
                libc::close(fd);
            }
        }
    }
    false
}

/// Puts the process in a known state whatever the daemon left behind: cwd
/// `/`, SIGCHLD at its default (an inherited "ignore" would make the kernel
/// reap the command behind `waitpid`'s back), and every descriptor above
/// stderr close-on-exec so none leaks into the command.
fn hygiene() {
    let _ = std::env::set_current_dir("/");
    // SAFETY: SIG_DFL installs no handler.
    let _ = unsafe { signal(Signal::SIGCHLD, SigHandler::SigDfl) };
    // SAFETY: close_range only changes descriptor flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return;
    }
    // Older kernels: mark them one by one.
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: setting FD_CLOEXEC on a descriptor number; a stale one
        // (the directory's own) just fails with EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}
