//! Waiting for a process that is not our child (a supervisor adopted after a
//! daemon restart) with a pidfd, and checking that a pid still belongs to the
//! task's scope so a recycled pid is never mistaken for the supervisor.

use std::os::fd::{FromRawFd, OwnedFd};
use tokio::io::unix::AsyncFd;

/// Open a pidfd for `pid`. `Ok(None)` if no such process exists.
pub fn open(pid: u32) -> std::io::Result<Option<OwnedFd>> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        return if err.raw_os_error() == Some(libc::ESRCH) {
            Ok(None)
        } else {
            Err(err)
        };
    }
    // SAFETY: the syscall returned a fresh fd that nothing else owns.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
}

/// Resolves when the process behind `fd` has exited.
pub async fn wait_exit(fd: OwnedFd) -> std::io::Result<()> {
    // SAFETY: `fd` is an OwnedFd moved into the AsyncFd, so it stays open and
    // refers to the same pidfd for the AsyncFd's whole life.
    let afd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(|e| e.into_parts().1)?;
    let _guard = afd.readable().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_exit_of_a_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.2")
            .spawn()
            .unwrap();
        let fd = open(child.id()).unwrap().expect("process exists");
        tokio::time::timeout(std::time::Duration::from_secs(5), wait_exit(fd))
            .await
            .unwrap()
            .unwrap();
        child.wait().unwrap();
        // Reaped: the pid names no process any more (or, rarely, a new one).
        let _ = open(child.id()).unwrap();
    }
}
