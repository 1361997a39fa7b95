//! The supervisor's side of the fork: create the error pipe, fork, learn
//! whether the exec succeeded, and reap the command.
//!
//! All signals are blocked across the fork, so a signal sent to the new
//! child before it has restored the default dispositions stays pending (it
//! is not discarded by the supervisor's "ignore") and is delivered once the
//! child unblocks it.

use super::child::{run_child, Prepared};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::unistd::{fork, pipe2, ForkResult, Pid};
use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("cannot create the launch error pipe: {0}")]
    Pipe(#[source] Errno),
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
}

/// Forks and runs the prepared command, then waits for it.
pub fn launch(prepared: &Prepared) -> Result<Finished, LaunchError> {
    let (err_read, err_write) = pipe2(OFlag::O_CLOEXEC).map_err(LaunchError::Pipe)?;
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
        Ok(ForkResult::Child) => run_child(prepared, err_write.as_raw_fd()),
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => {
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&saved), None);
            return Err(LaunchError::Fork(e));
        }
    };
    // Signals that arrived meanwhile are ignored ones: dropped on unblock.
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&saved), None);
    drop(err_write);

    let mut message = Vec::new();
    let launch_error = match File::from(err_read).read_to_end(&mut message) {
        Ok(_) if message.is_empty() => None,
        Ok(_) => Some(String::from_utf8_lossy(&message).into_owned()),
        Err(e) => Some(format!("cannot read the launch error pipe: {e}")),
    };
    Ok(Finished {
        pid,
        launch_error,
        ending: wait(pid),
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
