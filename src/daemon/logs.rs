//! Per-task log files: `<state_dir>/logs/<id>.log`, 0600, owned by the task's
//! user, in a root-only directory. The supervisor's stdout and stderr point at
//! the file; the daemon never holds the task's output as a pipe, so output is
//! not lost while the daemon is down.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use tokio::io::AsyncReadExt;
use tokio::sync::broadcast;

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

pub fn log_path(dir: &Path, id: i64) -> PathBuf {
    dir.join(format!("{id}.log"))
}

/// Create (or, for a task launched again, reopen for appending) the log of
/// task `id`. Never follows a symlink; a reopened file must be a regular file
/// owned by `uid`.
pub fn open_for_task(dir: &Path, id: i64, uid: u32, gid: u32) -> Result<File, LogError> {
    let path = log_path(dir, id);
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

/// The log of task `id` from `start` (or the last `tail` lines), and, with
/// `follow`, everything appended until the task ends. `finished` carries the
/// ids of tasks that reached a terminal state; subscribe before checking
/// `is_terminal` so the end cannot be missed.
pub fn stream(
    path: PathBuf,
    id: i64,
    tail: Option<usize>,
    follow: bool,
    is_terminal: bool,
    mut finished: broadcast::Receiver<i64>,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send {
    async_stream::try_stream! {
        let mut std_file = match open_read(&path) {
            Ok(f) => f,
            // A task that never launched has no log yet: an empty log.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !follow => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Wait for the launch to create it, or for the end.
                loop {
                    if let Ok(f) = open_read(&path) { break f; }
                    match tokio::time::timeout(std::time::Duration::from_millis(500), finished.recv()).await {
                        Ok(Ok(done)) if done == id => return,
                        Ok(Err(broadcast::error::RecvError::Closed)) => return,
                        _ => {}
                    }
                }
            }
            Err(e) => Err(e)?,
        };
        let start = match tail { Some(n) => tail_offset(&mut std_file, n)?, None => 0 };
        std_file.seek(SeekFrom::Start(start))?;
        let mut file = tokio::fs::File::from_std(std_file);
        let mut events = if follow && !is_terminal {
            let inotify = inotify::Inotify::init()?;
            inotify.watches().add(&path, inotify::WatchMask::MODIFY | inotify::WatchMask::CLOSE_WRITE)?;
            Some(inotify.into_event_stream([0u8; 1024])?)
        } else {
            None
        };
        let mut done = !follow || is_terminal;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf).await?;
            if n > 0 {
                yield Bytes::copy_from_slice(&buf[..n]);
                continue;
            }
            if done {
                break;
            }
            let Some(ev) = events.as_mut() else { break };
            tokio::select! {
                _ = ev.next() => {}
                msg = finished.recv() => match msg {
                    Ok(d) if d == id => done = true,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => done = true,
                },
            }
        }
    }
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
    fn log_is_private_and_symlinks_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = open_for_task(dir.path(), 7, 0, 0).unwrap();
        writeln!(f, "hello").unwrap();
        let meta = std::fs::metadata(log_path(dir.path(), 7)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        // Reopening appends.
        let mut f = open_for_task(dir.path(), 7, 0, 0).unwrap();
        writeln!(f, "again").unwrap();
        assert_eq!(
            std::fs::read_to_string(log_path(dir.path(), 7)).unwrap(),
            "hello\nagain\n"
        );
        // A planted symlink is never followed.
        let target = dir.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, log_path(dir.path(), 8)).unwrap();
        assert!(open_for_task(dir.path(), 8, 0, 0).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        // A file owned by someone else is refused.
        assert!(matches!(
            open_for_task(dir.path(), 7, 1234, 1234),
            Err(LogError::Unexpected { .. })
        ));
    }

    #[tokio::test]
    async fn follow_streams_appends_until_finished() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = open_for_task(dir.path(), 1, 0, 0).unwrap();
        writeln!(f, "one").unwrap();
        let (tx, rx) = broadcast::channel(4);
        let s = stream(log_path(dir.path(), 1), 1, None, true, false, rx);
        let collector = tokio::spawn(async move {
            let chunks: Vec<_> = s.collect().await;
            chunks
                .into_iter()
                .map(|c| c.unwrap())
                .fold(Vec::new(), |mut a, b| {
                    a.extend_from_slice(&b);
                    a
                })
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        writeln!(f, "two").unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        tx.send(2).unwrap();
        writeln!(f, "three").unwrap();
        tx.send(1).unwrap();
        let out = tokio::time::timeout(std::time::Duration::from_secs(5), collector)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "one\ntwo\nthree\n");
    }
}
