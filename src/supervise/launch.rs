//! The supervisor's side of the fork: create the error pipe and the output
//! pipes, fork, learn whether the exec succeeded, relay the output while the
//! command runs, and reap it.
//!
//! All signals are blocked across the fork, so a signal sent to the new
//! child before it has restored the default dispositions stays pending (it
//! is not discarded by the supervisor's "ignore") and is delivered once the
//! child unblocks it.
//!
//! Every pipe is close-on-exec; the child puts the output pipes' write ends
//! on its stdout and stderr, the supervisor keeps only the read ends
//! (non-blocking, set before the fork so that nothing can fail after it).

use super::child::{run_child, ChildFds};
use super::claude_tap::ClaudeTap;
use super::logs::Logs;
use super::prepare::Prepared;
use super::relay::{ChildWatch, Relay};
use super::spec::{LogLimits, OutputStats};
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::unistd::{fork, pipe2, ForkResult, Pid};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("cannot create the {what} pipe: {source}")]
    Pipe {
        what: &'static str,
        #[source]
        source: Errno,
    },
    #[error("cannot block signals before fork: {0}")]
    BlockSignals(#[source] Errno),
    #[error("cannot fork: {0}")]
    Fork(#[source] Errno),
}

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Exited(i32),
    Signaled(i32),
    /// `waitpid` failed (only if something else reaped the child).
    Lost(Errno),
}

/// A forked command, reaped.
#[derive(Debug)]
pub struct Finished {
    pub pid: Pid,
    /// Why the command could not be started, if it could not.
    pub launch_error: Option<String>,
    pub ending: Ending,
    pub output: OutputStats,
}

/// A close-on-exec pipe; with `nonblocking_read`, its read end does not
/// block (the write end, the command's, is untouched).
fn pipe(what: &'static str, nonblocking_read: bool) -> Result<(OwnedFd, OwnedFd), LaunchError> {
    let error = |source| LaunchError::Pipe { what, source };
    let (read, write) = pipe2(OFlag::O_CLOEXEC).map_err(error)?;
    if nonblocking_read {
        fcntl(read.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(error)?;
    }
    Ok((read, write))
}

/// Forks and runs the prepared command, relays its output into `logs`, then
/// waits for it.
pub fn launch(
    prepared: &Prepared,
    logs: &mut Logs,
    limits: LogLimits,
    tap: Option<&mut ClaudeTap>,
) -> Result<Finished, LaunchError> {
    let (err_read, err_write) = pipe("launch error", false)?;
    let (stdout_read, stdout_write) = pipe("stdout", true)?;
    let (stderr_read, stderr_write) = pipe("stderr", true)?;
    let mut saved = SigSet::empty();
    sigprocmask(
        SigmaskHow::SIG_BLOCK,
        Some(&SigSet::all()),
        Some(&mut saved),
    )
    .map_err(LaunchError::BlockSignals)?;
    // SAFETY: the supervisor is single-threaded; the child only runs
    // `run_child`, which ends in execve or _exit.
    let forked = unsafe { fork() };
    let pid = match forked {
        Ok(ForkResult::Child) => run_child(
            prepared,
            &ChildFds {
                error: err_write.as_raw_fd(),
                stdout: stdout_write.as_raw_fd(),
                stderr: stderr_write.as_raw_fd(),
            },
        ),
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => {
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&saved), None);
            return Err(LaunchError::Fork(e));
        }
    };
    // Signals that arrived meanwhile are ignored ones: dropped on unblock.
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&saved), None);
    drop((err_write, stdout_write, stderr_write));
    let watch = ChildWatch::new(pid);

    // End of file here means the exec happened (or the child died): the
    // command writes nothing to its pipes before that.
    let mut message = Vec::new();
    let launch_error = match File::from(err_read).read_to_end(&mut message) {
        Ok(_) if message.is_empty() => None,
        Ok(_) => Some(String::from_utf8_lossy(&message).into_owned()),
        Err(e) => Some(format!("cannot read the launch error pipe: {e}")),
    };
    let output = Relay::new(logs, limits, stdout_read, stderr_read)
        .with_tap(tap)
        .run(&watch);
    Ok(Finished {
        pid,
        launch_error,
        ending: wait(pid),
        output,
    })
}

/// Waits for `pid` to exit or be killed. (libc rather than nix: nix cannot
/// represent a death by a real-time signal, after having reaped it.)
fn wait(pid: Pid) -> Ending {
    loop {
        let mut status = 0;
        // SAFETY: plain waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid.as_raw(), &mut status, 0) };
        if r < 0 {
            match Errno::last() {
                Errno::EINTR => continue,
                e => return Ending::Lost(e),
            }
        }
        if libc::WIFEXITED(status) {
            return Ending::Exited(libc::WEXITSTATUS(status));
        }
        if libc::WIFSIGNALED(status) {
            return Ending::Signaled(libc::WTERMSIG(status));
        }
    }
}
