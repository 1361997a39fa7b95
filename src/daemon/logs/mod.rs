//! Per-task log files and the readers of them.
//!
//! Each task has three files in the root-only 0700 logs directory, all 0600
//! and owned by the task's user: `<id>.out` (stdout), `<id>.err` (stderr) and
//! `<id>.log` (both, in the order they arrived). The daemon creates them and
//! hands them to the task's supervisor, which relays the command's output
//! into them; the daemon never holds the output as a pipe, so nothing is lost
//! while it is down.
//!
//! - this file: paths, creation ([`open_for_task`]) and [`tail_offset`];
//! - [`hub`]: [`LogHub`], the one inotify watcher on the directory that
//!   wakes every follower, and [`LogFollow`], one follower's registration;
//! - [`activity`]: [`Activity`], when each task last wrote, for the monitor;
//! - [`stream`](mod@stream): [`stream()`], a log as an HTTP body.

mod activity;
#[cfg(test)]
mod follow_tests;
mod hub;
mod stream;

pub use crate::proto::LogStream;
pub use activity::Activity;
pub use hub::{LogFollow, LogHub};
pub use stream::stream;

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{step} {path}: {source}")]
    Io {
        step: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("log {path} is not a regular file owned by uid {uid}; refusing to use it")]
    Unexpected { path: PathBuf, uid: u32 },
}

/// `<dir>/<id>.log` (both), `.out` (stdout) or `.err` (stderr).
pub fn log_path(dir: &Path, id: i64, stream: LogStream) -> PathBuf {
    let ext = match stream {
        LogStream::Both => "log",
        LogStream::Stdout => "out",
        LogStream::Stderr => "err",
    };
    dir.join(format!("{id}.{ext}"))
}

/// The task's id if `name` is one of its log files.
pub(crate) fn task_of_file(name: &std::ffi::OsStr) -> Option<i64> {
    let (id, ext) = name.to_str()?.split_once('.')?;
    if !matches!(ext, "log" | "out" | "err") || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok()
}

/// The three log files of one task, open for appending.
#[derive(Debug)]
pub struct TaskLogs {
    pub out: File,
    pub err: File,
    pub combined: File,
}

/// Create (or, for a task launched again, reopen for appending) the three
/// logs of task `id`. Never follows a symlink; a reopened file must be a
/// regular file with one link, owned by `uid`.
pub fn open_for_task(dir: &Path, id: i64, uid: u32, gid: u32) -> Result<TaskLogs, LogError> {
    Ok(TaskLogs {
        out: open_one(log_path(dir, id, LogStream::Stdout), uid, gid)?,
        err: open_one(log_path(dir, id, LogStream::Stderr), uid, gid)?,
        combined: open_one(log_path(dir, id, LogStream::Both), uid, gid)?,
    })
}

fn open_one(path: PathBuf, uid: u32, gid: u32) -> Result<File, LogError> {
    let io = |step| {
        let path = path.clone();
        move |source| LogError::Io { step, path, source }
    };
    let flags = libc::O_NOFOLLOW | libc::O_CLOEXEC;
    match OpenOptions::new()
        .append(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(flags)
        .open(&path)
    {
        Ok(f) => {
            std::os::unix::fs::fchown(&f, Some(uid), Some(gid)).map_err(io("chown log"))?;
            Ok(f)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let f = OpenOptions::new()
                .append(true)
                .custom_flags(flags)
                .open(&path)
                .map_err(io("reopen log"))?;
            let meta = f.metadata().map_err(io("stat log"))?;
            if !meta.file_type().is_file() || meta.uid() != uid || meta.nlink() != 1 {
                return Err(LogError::Unexpected { path, uid });
            }
            Ok(f)
        }
        Err(e) => Err(io("create log")(e)),
    }
}

fn open_read(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// Byte offset where the last `lines` lines of the file start.
pub fn tail_offset(file: &mut File, lines: usize) -> std::io::Result<u64> {
    let len = file.seek(SeekFrom::End(0))?;
    if lines == 0 {
        return Ok(len);
    }
    let mut pos = len;
    let mut newlines = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    // A final newline ends the last line; it does not start a new one.
    let mut skip_last = true;
    while pos > 0 {
        let n = buf.len().min(pos as usize);
        pos -= n as u64;
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut buf[..n])?;
        for i in (0..n).rev() {
            if buf[i] == b'\n' {
                if skip_last && pos + i as u64 == len - 1 {
                    continue;
                }
                newlines += 1;
                if newlines == lines {
                    return Ok(pos + i as u64 + 1);
                }
            }
            skip_last = false;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn tail_finds_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, "a\nb\nc\n").unwrap();
        let mut f = File::open(&p).unwrap();
        assert_eq!(tail_offset(&mut f, 1).unwrap(), 4);
        assert_eq!(tail_offset(&mut f, 2).unwrap(), 2);
        assert_eq!(tail_offset(&mut f, 10).unwrap(), 0);
        assert_eq!(tail_offset(&mut f, 0).unwrap(), 6);
        std::fs::write(&p, "a\nb\nc").unwrap();
        let mut f = File::open(&p).unwrap();
        assert_eq!(tail_offset(&mut f, 1).unwrap(), 4);
    }

    #[test]
    fn paths_and_file_names() {
        let d = Path::new("/l");
        assert_eq!(log_path(d, 7, LogStream::Both), Path::new("/l/7.log"));
        assert_eq!(log_path(d, 7, LogStream::Stdout), Path::new("/l/7.out"));
        assert_eq!(log_path(d, 7, LogStream::Stderr), Path::new("/l/7.err"));
        for (name, id) in [("7.log", Some(7)), ("12.out", Some(12)), ("3.err", Some(3))] {
            assert_eq!(task_of_file(name.as_ref()), id, "{name}");
        }
        for name in ["7.json", "7.log.tmp", "x.log", "+7.log", ".log", "7"] {
            assert_eq!(task_of_file(name.as_ref()), None, "{name}");
        }
    }

    #[test]
    fn logs_are_private_and_symlinks_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut logs = open_for_task(dir.path(), 7, 0, 0).unwrap();
        writeln!(logs.out, "out").unwrap();
        writeln!(logs.err, "err").unwrap();
        writeln!(logs.combined, "both").unwrap();
        for stream in [LogStream::Both, LogStream::Stdout, LogStream::Stderr] {
            let meta = std::fs::metadata(log_path(dir.path(), 7, stream)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{stream:?}");
            assert_eq!(meta.uid(), 0);
        }
        // Reopening (a relaunch) appends.
        let mut logs = open_for_task(dir.path(), 7, 0, 0).unwrap();
        writeln!(logs.out, "again").unwrap();
        let read = |s| std::fs::read_to_string(log_path(dir.path(), 7, s)).unwrap();
        assert_eq!(read(LogStream::Stdout), "out\nagain\n");
        assert_eq!(read(LogStream::Stderr), "err\n");
        assert_eq!(read(LogStream::Both), "both\n");
        // A planted symlink is never followed, whichever of the three it is.
        let target = dir.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, log_path(dir.path(), 8, LogStream::Stderr)).unwrap();
        assert!(open_for_task(dir.path(), 8, 0, 0).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        // A second link (a hard link planted by the user) is refused.
        std::fs::hard_link(&target, log_path(dir.path(), 9, LogStream::Both)).unwrap();
        assert!(matches!(
            open_for_task(dir.path(), 9, 0, 0),
            Err(LogError::Unexpected { .. })
        ));
        // A file owned by someone else is refused.
        assert!(matches!(
            open_for_task(dir.path(), 7, 1234, 1234),
            Err(LogError::Unexpected { .. })
        ));
    }
}
