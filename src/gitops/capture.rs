//! Capturing a child's output until it exits, bounded in time, in one
//! thread: `poll` on its stdout and stderr pipes and on a pidfd of the
//! child (without pidfd, `waitid(WNOWAIT)` every 20 ms). The child is never
//! reaped here, so its pid still names its process group: the group is
//! killed (SIGKILL to `-pid`) when the child exits, taking what it left
//! behind holding the pipes, and at the deadline.

use super::run::OUTPUT_MAX;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Child;
use std::time::{Duration, Instant};

/// One captured pipe.
pub(super) struct Sink {
    file: Option<File>,
    pub(super) buf: Vec<u8>,
    pub(super) truncated: bool,
}

impl Sink {
    fn new(pipe: Option<impl Into<OwnedFd>>) -> Sink {
        Sink {
            file: pipe.map(|p| File::from(p.into())),
            buf: Vec::new(),
            truncated: false,
        }
    }

    /// Reads what the pipe holds (poll said it would not block); closes it
    /// at end of file or on an error.
    fn pull(&mut self) {
        let Some(file) = &mut self.file else { return };
        let mut chunk = [0u8; 16 * 1024];
        match file.read(&mut chunk) {
            Ok(0) => self.file = None,
            Ok(n) => {
                let take = n.min(OUTPUT_MAX - self.buf.len());
                self.buf.extend_from_slice(&chunk[..take]);
                self.truncated |= take < n;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => self.file = None,
        }
    }
}

pub(super) fn open_pidfd(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    // SAFETY: the syscall returned a fresh fd that nothing else owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Whether the unreaped child `pid` has exited (it stays a zombie: WNOWAIT).
fn leader_exited(pid: u32) -> bool {
    // SAFETY: waitid fills the zeroed siginfo_t it is given.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    let r = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) };
    // SAFETY: si_pid reads the union field waitid set (0 when none exited).
    r == 0 && unsafe { info.si_pid() } != 0
}

/// SIGKILL to the child's process group; `pid` is unreaped, so it is still
/// the group's id.
fn kill_group(pid: u32) {
    // SAFETY: kill takes a process group id and a signal.
    unsafe { libc::kill(-(pid as libc::pid_t), libc::SIGKILL) };
}

/// Reads the child's stdout and stderr until both close and the child has
/// exited, or until `timeout`. Kills the group when the child exits and at
/// the deadline; never reaps. Returns the two sinks and whether the child
/// was still running at the deadline.
pub(super) fn collect(
    child: &mut Child,
    pidfd: Option<OwnedFd>,
    timeout: Duration,
) -> (Sink, Sink, bool) {
    let deadline = Instant::now() + timeout;
    let pid = child.id();
    let mut sinks = [
        Sink::new(child.stdout.take()),
        Sink::new(child.stderr.take()),
    ];
    let mut exited = false;
    loop {
        if !exited && pidfd.is_none() && leader_exited(pid) {
            exited = true;
            kill_group(pid);
        }
        if exited && sinks.iter().all(|s| s.file.is_none()) {
            return finish(sinks, false);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            kill_group(pid);
            return finish(sinks, !exited);
        }
        let slice = match (&pidfd, exited) {
            (None, false) => left.min(Duration::from_millis(20)),
            _ => left,
        };
        // Entries 0 and 1 are the pipes (fd -1 once closed: poll skips it), 2 the pidfd.
        let fd_of = |s: &Sink| s.file.as_ref().map_or(-1, |f| f.as_raw_fd());
        let watch = |fd: i32| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let pid_entry = match (&pidfd, exited) {
            (Some(p), false) => p.as_raw_fd(),
            _ => -1,
        };
        let mut fds = [
            watch(fd_of(&sinks[0])),
            watch(fd_of(&sinks[1])),
            watch(pid_entry),
        ];
        let ms = slice.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: fds is a valid array of 3 pollfd for the whole call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 3, ms) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                std::thread::sleep(slice.min(Duration::from_millis(20)));
            }
            continue;
        }
        for (sink, entry) in sinks.iter_mut().zip(&fds) {
            if entry.revents != 0 {
                sink.pull();
            }
        }
        if fds[2].revents != 0 {
            exited = true;
            kill_group(pid);
        }
    }
}

fn finish(sinks: [Sink; 2], timed_out: bool) -> (Sink, Sink, bool) {
    let [out, err] = sinks;
    (out, err, timed_out)
}
