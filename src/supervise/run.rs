//! The supervisor's main flow: read the spec, wait for `go`, run the
//! command, record how it ended.
//!
//! Exit status: 2 for bad arguments or an invalid spec, 0 when aborted
//! before `go` or when the exit record was written, 1 when it could not be.

use super::child::Prepared;
use super::exitfile::write_exit_record;
use super::input::{parse_args, read_spec, wait_for_go};
use super::launch::{launch, Ending};
use super::spec::{ExitRecord, LaunchSpec, LAUNCH_ERROR_EXIT};
use nix::sys::signal::{signal, SigHandler, Signal};
use std::ffi::OsString;
use std::time::{SystemTime, UNIX_EPOCH};

/// Exit status for bad arguments or an invalid spec.
pub const EXIT_INVALID: i32 = 2;
/// Exit status when the exit record could not be written.
pub const EXIT_NO_RECORD: i32 = 1;

/// Signals the supervisor survives after `go`: stopping the scope kills the
/// command, while the supervisor stays to record its end.
const IGNORED: [Signal; 4] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGPIPE,
];

/// Runs the supervisor with `args` (argv, program name first) on the
/// process's stdin/stderr; returns the exit status.
pub fn main(args: &[OsString]) -> i32 {
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
    let record = run(&spec);
    if let Some(error) = &record.error {
        eprintln!("claudine: {error}");
    }
    match write_exit_record(&spec.exit_path, &record) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("claudine-supervise: task {task_id}: {e}");
            EXIT_NO_RECORD
        }
    }
}

/// Runs the command of `spec` and describes its end.
pub fn run(spec: &LaunchSpec) -> ExitRecord {
    let mut record = ExitRecord {
        task_id: spec.task_id,
        pid: None,
        exit_code: None,
        signal: None,
        error: None,
        finished_ms: None,
        attempt: spec.attempt,
        started_ms: 0,
        usage: None,
        output: None,
    };
    let finished = Prepared::new(spec)
        .map_err(|e| e.to_string())
        .and_then(|prepared| launch(&prepared).map_err(|e| e.to_string()));
    match finished {
        Err(error) => {
            record.exit_code = Some(LAUNCH_ERROR_EXIT);
            record.error = Some(error);
        }
        Ok(finished) => {
            record.pid = u32::try_from(finished.pid.as_raw()).ok();
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
    record.finished_ms = Some(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
    );
    record
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
