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

/// Resolves only once the process behind `fd` has really exited. An error
/// from the event loop is never taken for an exit (defect: a live task was
/// once marked interrupted that way): it is logged and the pidfd is then
/// polled with `pidfd_send_signal(fd, 0)` once a second until it says ESRCH.
pub async fn wait_exit_surely(fd: OwnedFd, id: i64) {
    use std::os::fd::AsRawFd;
    let raw = fd.as_raw_fd();
    let dup = match fd.try_clone() {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(claudine_task_id = id, "duplicate pidfd: {e}");
            return poll_exit(raw).await;
        }
    };
    match wait_exit(dup).await {
        Ok(()) => {}
        Err(e) => {
            tracing::error!(
                claudine_task_id = id,
                "waiting for the supervisor of task {id}: {e}; polling instead"
            );
            poll_exit(fd.as_raw_fd()).await;
        }
    }
    drop(fd);
}

/// Polls a pidfd once a second until its process is gone.
async fn poll_exit(raw: i32) {
    loop {
        if !alive(raw) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// True while the process behind pidfd `raw` exists. (An adopted supervisor
/// is not our child: once it exits, its new parent reaps it and the pidfd
/// answers ESRCH.)
fn alive(raw: i32) -> bool {
    // SAFETY: pidfd_send_signal with signal 0 only checks the target.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            raw,
            0,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    !(r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH))
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
