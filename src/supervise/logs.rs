//! The supervisor's log descriptors, opened for appending by the daemon:
//! fd 1 is the task's `.out`, fd 2 its `.err` and fd 3
//! ([`COMBINED_LOG_FD`]) its `.log`, which gets both streams.
//!
//! Each [`LogFile`] remembers whether the last byte it wrote ended a line,
//! so that the supervisor's own lines (markers, diagnostics) always start on
//! a fresh line.

use super::spec::COMBINED_LOG_FD;
use nix::errno::Errno;
use std::os::fd::RawFd;

/// Writes all of `bytes` to `fd`, retrying short writes and EINTR; returns
/// how many bytes were written. Allocates nothing, so the forked child uses
/// it too.
pub fn write_fd(fd: RawFd, bytes: &[u8]) -> usize {
    let mut done = 0;
    while done < bytes.len() {
        let rest = &bytes[done..];
        // SAFETY: writing initialised bytes of a live slice to a raw fd.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n > 0 {
            done += n as usize;
        } else if n < 0 && Errno::last() == Errno::EINTR {
            continue;
        } else {
            break;
        }
    }
    done
}

/// One log descriptor (not owned: it lives as long as the process).
#[derive(Debug)]
pub struct LogFile {
    fd: RawFd,
    at_line_start: bool,
}

impl LogFile {
    pub fn new(fd: RawFd) -> Self {
        LogFile {
            fd,
            at_line_start: true,
        }
    }

    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Writes all of `bytes`, retrying short writes; returns how many bytes
    /// were written (fewer only if the file refused more: full, I/O error).
    pub fn write(&mut self, bytes: &[u8]) -> usize {
        let done = write_fd(self.fd, bytes);
        if done > 0 {
            self.at_line_start = bytes[done - 1] == b'\n';
        }
        done
    }

    /// Writes `line` (given without its newline) as a line of its own.
    pub fn line(&mut self, line: &str) {
        let mut text = String::with_capacity(line.len() + 2);
        if !self.at_line_start {
            text.push('\n');
        }
        text.push_str(line);
        text.push('\n');
        self.write(text.as_bytes());
    }
}

/// The three log files of a task.
#[derive(Debug)]
pub struct Logs {
    pub stdout: LogFile,
    pub stderr: LogFile,
    pub combined: LogFile,
}

impl Logs {
    /// The supervisor's fds 1, 2 and 3.
    pub fn standard() -> Self {
        Logs::new(libc::STDOUT_FILENO, libc::STDERR_FILENO, COMBINED_LOG_FD)
    }

    pub fn new(stdout: RawFd, stderr: RawFd, combined: RawFd) -> Self {
        Logs {
            stdout: LogFile::new(stdout),
            stderr: LogFile::new(stderr),
            combined: LogFile::new(combined),
        }
    }

    /// The supervisor's own message, `claudine: {msg}`, to `.err` and
    /// `.log`.
    pub fn diag(&mut self, msg: &str) {
        let line = format!("claudine: {msg}");
        self.stderr.line(&line);
        self.combined.line(&line);
    }

    /// A line to all three files.
    pub fn everywhere(&mut self, line: &str) {
        self.stdout.line(line);
        self.stderr.line(line);
        self.combined.line(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn lines_start_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = std::fs::File::create(&path).unwrap();
        let mut log = LogFile::new(file.as_raw_fd());
        log.line("first");
        assert_eq!(log.write(b"partial"), 7);
        log.line("second");
        assert_eq!(log.write(b"whole\n"), 6);
        log.line("third");
        assert_eq!(log.write(b""), 0);
        log.line("fourth");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "first\npartial\nsecond\nwhole\nthird\nfourth\n"
        );
        // A descriptor that refuses writes: nothing written, no panic.
        let mut closed = LogFile::new(-1);
        assert_eq!(closed.write(b"x"), 0);
        closed.line("y");
    }
}
