//! Relays the command's stdout and stderr pipes into the log files: stdout
//! to `.out` and `.log`, stderr to `.err` and `.log` (see [`super::logs`]).
//!
//! One `poll(2)` loop over the two pipes (non-blocking read ends) and a
//! pidfd of the command, reading 64 KiB at a time into one buffer. The end
//! of the command, not the end of the pipes, ends the relay: a grandchild
//! that keeps stdout open must not keep the supervisor from recording the
//! exit. When the pidfd says the command exited, what is already in the
//! pipes is drained without blocking, the read ends are closed (later
//! writers get EPIPE) and the caller reaps the command.
//!
//! The relay never stops reading, so the command never blocks on a full
//! pipe: past [`LogLimits::max_bytes_per_stream`] a stream's output is read
//! and dropped, after one line that says so; below the free-space reserve
//! (see [`super::reserve`]) all output is dropped until space is back, and
//! the log says when and how much.

use super::claude_tap::ClaudeTap;
use super::logs::{LogFile, Logs};
use super::reserve::{resumed_line, Change, Reserve};
use super::spec::{LogLimits, OutputStats};
use nix::errno::Errno;
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

/// Bytes read from a pipe at a time.
pub const CHUNK: usize = 64 * 1024;
/// Reads per stream once the command exited (what it left in the pipes, and
/// a bounded share of what a grandchild writes meanwhile).
const DRAIN_MAX_READS: usize = 32;
/// Without a pidfd (kernels before 5.3), how often to look for the end.
const FALLBACK_POLL_MS: i32 = 200;

/// How the relay learns that the command exited, without reaping it.
#[derive(Debug)]
pub struct ChildWatch {
    pid: Pid,
    pidfd: Option<OwnedFd>,
}

impl ChildWatch {
    pub fn new(pid: Pid) -> Self {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
        let pidfd = (fd >= 0).then(|| {
            // SAFETY: the kernel just returned this descriptor; nothing else
            // owns it.
            unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
        });
        ChildWatch { pid, pidfd }
    }

    /// True once the command is a zombie (it stays one: we do not reap).
    fn exited(&self) -> bool {
        // SAFETY: zeroed siginfo is a valid output buffer for waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        // SAFETY: waitid on our own child with a valid output pointer.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pid.as_raw() as libc::id_t,
                &mut info,
                flags,
            )
        };
        // SAFETY: si_pid is set (or left zero) by a successful waitid.
        r != 0 || unsafe { info.si_pid() } != 0
    }
}

struct Stream {
    name: &'static str,
    fd: Option<OwnedFd>,
    total: u64,
    kept: u64,
    dropped: u64,
    cut: bool,
}

impl Stream {
    fn new(name: &'static str, fd: OwnedFd) -> Self {
        Stream {
            name,
            fd: Some(fd),
            total: 0,
            kept: 0,
            dropped: 0,
            cut: false,
        }
    }
}

pub struct Relay<'a> {
    logs: &'a mut Logs,
    max_per_stream: u64,
    reserve: Reserve,
    /// A descriptor on the log filesystem, for `fstatvfs`.
    space_fd: RawFd,
    /// Stdout, then stderr.
    streams: [Stream; 2],
    /// A Claude Code run's reader of stdout: sees every byte, kept or not.
    tap: Option<&'a mut ClaudeTap>,
    /// The last bytes of stderr (at most [`ERR_TAIL`]), for the reason of
    /// a failure.
    err_tail: Vec<u8>,
}

/// Bytes of stderr kept for [`OutputStats`]' last line.
const ERR_TAIL: usize = 2048;

/// The last non-blank line of `tail`, at most 300 characters.
fn last_line(tail: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(tail);
    let line = text.lines().map(str::trim).rev().find(|l| !l.is_empty())?;
    Some(line.chars().take(300).collect())
}

/// Free bytes for unprivileged users on the filesystem of `fd`.
fn free_bytes(fd: RawFd) -> Option<u64> {
    // SAFETY: zeroed statvfs is a valid output buffer.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: fstatvfs writes into the struct we own.
    if unsafe { libc::fstatvfs(fd, &mut st) } != 0 {
        return None;
    }
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

fn is_regular_file(fd: RawFd) -> bool {
    // SAFETY: zeroed stat is a valid output buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes into the struct we own.
    unsafe { libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFREG }
}

impl<'a> Relay<'a> {
    /// A relay of the read ends `stdout` and `stderr` (non-blocking).
    pub fn new(logs: &'a mut Logs, limits: LogLimits, stdout: OwnedFd, stderr: OwnedFd) -> Self {
        let combined = logs.combined.fd();
        let space_fd = if is_regular_file(combined) {
            combined
        } else {
            logs.stdout.fd()
        };
        Relay {
            logs,
            max_per_stream: limits.max_bytes_per_stream,
            reserve: Reserve::new(limits.min_free_bytes),
            space_fd,
            streams: [Stream::new("stdout", stdout), Stream::new("stderr", stderr)],
            tap: None,
            err_tail: Vec::new(),
        }
    }

    /// Also hands every byte of stdout to `tap`.
    pub fn with_tap(mut self, tap: Option<&'a mut ClaudeTap>) -> Self {
        self.tap = tap;
        self
    }

    /// Relays until the command exits (or both pipes are closed: then the
    /// caller's wait does the rest), closes the pipes and returns the
    /// counts.
    pub fn run(mut self, child: &ChildWatch) -> OutputStats {
        let mut buf = vec![0u8; CHUNK];
        let pidfd = child.pidfd.as_ref().map_or(-1, |fd| fd.as_raw_fd());
        let timeout = if pidfd >= 0 { -1 } else { FALLBACK_POLL_MS };
        while self.streams.iter().any(|s| s.fd.is_some()) {
            let watched = |fd: Option<&OwnedFd>| libc::pollfd {
                fd: fd.map_or(-1, |fd| fd.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            };
            let mut fds = [
                watched(self.streams[0].fd.as_ref()),
                watched(self.streams[1].fd.as_ref()),
                watched(child.pidfd.as_ref()),
            ];
            // SAFETY: poll on an array we own, with its length.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                if Errno::last() != Errno::EINTR {
                    // Only ENOMEM is possible here; give the kernel a moment.
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                continue;
            }
            let exited = fds[2].revents != 0 || (pidfd < 0 && child.exited());
            for (i, pfd) in fds[..2].iter().enumerate() {
                if pfd.revents != 0 {
                    self.read_once(i, &mut buf);
                }
            }
            if exited {
                for i in 0..2 {
                    for _ in 0..DRAIN_MAX_READS {
                        if !self.read_once(i, &mut buf) {
                            break;
                        }
                    }
                }
                break;
            }
        }
        let [out, err] = self.streams;
        OutputStats {
            stdout_bytes: out.total,
            stderr_bytes: err.total,
            stdout_dropped: out.dropped,
            stderr_dropped: err.dropped,
            stderr_last_line: last_line(&self.err_tail),
        }
    }

    /// Reads once from stream `i`; true if bytes came (more may follow).
    /// End of file or an error closes the stream.
    fn read_once(&mut self, i: usize, buf: &mut [u8]) -> bool {
        let Some(fd) = self.streams[i].fd.as_ref().map(|fd| fd.as_raw_fd()) else {
            return false;
        };
        loop {
            // SAFETY: reading into a buffer we own, within its length.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                self.deliver(i, &buf[..n as usize]);
                return true;
            }
            if n < 0 {
                match Errno::last() {
                    Errno::EINTR => continue,
                    Errno::EAGAIN => return false,
                    _ => {}
                }
            }
            self.streams[i].fd = None;
            return false;
        }
    }

    /// Writes what the cap and the reserve let through of `data`, read from
    /// stream `i`, and counts the rest as dropped.
    fn deliver(&mut self, i: usize, data: &[u8]) {
        if i == 0 {
            if let Some(tap) = self.tap.as_deref_mut() {
                tap.feed(data);
            }
        } else {
            let keep = data.len().min(ERR_TAIL);
            self.err_tail.extend_from_slice(&data[data.len() - keep..]);
            let over = self.err_tail.len().saturating_sub(ERR_TAIL);
            self.err_tail.drain(..over);
        }
        let len = data.len() as u64;
        let stream = &mut self.streams[i];
        stream.total += len;
        let room = self.max_per_stream.saturating_sub(stream.kept);
        let keep = len.min(room) as usize;
        if keep > 0 {
            self.write_kept(i, &data[..keep]);
        }
        let stream = &mut self.streams[i];
        let over = len - keep as u64;
        if over > 0 {
            stream.dropped += over;
            if !stream.cut {
                stream.cut = true;
                let line = format!(
                    "claudine: {} cut at {} bytes (log_max_bytes); further output is dropped",
                    stream.name, self.max_per_stream
                );
                self.file(i).line(&line);
                self.logs.combined.line(&line);
            }
        }
    }

    fn file(&mut self, i: usize) -> &mut LogFile {
        if i == 0 {
            &mut self.logs.stdout
        } else {
            &mut self.logs.stderr
        }
    }

    fn write_kept(&mut self, i: usize, data: &[u8]) {
        if self.reserve.check_due(Instant::now) {
            let free = free_bytes(self.space_fd);
            match self.reserve.checked(free, Instant::now()) {
                Change::None => {}
                Change::Dropping => {
                    let line = self.reserve.dropping_line();
                    self.logs.everywhere(&line);
                }
                Change::Resumed { dropped } => self.logs.everywhere(&resumed_line(dropped)),
            }
        }
        let len = data.len() as u64;
        if !self.reserve.admit(len) {
            self.streams[i].dropped += len;
            return;
        }
        let written = self.file(i).write(data) as u64;
        self.logs.combined.write(data);
        let stream = &mut self.streams[i];
        stream.kept += written;
        stream.dropped += len - written;
    }
}

#[cfg(test)]
#[path = "relay_tests.rs"]
mod tests;
