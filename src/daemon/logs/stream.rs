//! A task's log as a stream of chunks, for the body of
//! `GET /v1/tasks/{id}/logs`.

use super::{open_read, tail_offset, LogFollow};
use bytes::Bytes;
use futures_util::Stream;
use std::io::{Seek, SeekFrom};
use std::path::PathBuf;
use tokio::io::AsyncReadExt;

/// The log at `path` from its start (or its last `tail` lines).
///
/// Without `follow`, what is there now, and a missing file is an empty log.
/// With `follow` (registered while the task was not terminal), what is there
/// and then everything appended, until the task is finished: then the file
/// is read to its end once more, so nothing written before the end is lost.
/// A missing file is waited for (the launch creates it), unless the task
/// finishes first.
///
/// No wake-up is lost: each pass marks the follow's latest progress as seen
/// *before* it opens or reads the file, so a write or the end that comes
/// after the read started makes the next wait return at once.
pub fn stream(
    path: PathBuf,
    tail: Option<usize>,
    follow: Option<LogFollow>,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send {
    let context = move |step: &str, path: &PathBuf, e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("{step} {}: {e}", path.display()))
    };
    async_stream::try_stream! {
        // Owned by the body, so the follow unregisters as soon as it ends.
        let mut follow = follow;
        let mut std_file = loop {
            let finished = follow.as_mut().map(|f| f.seen().finished);
            match open_read(&path) {
                Ok(f) => break f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => match (follow.as_mut(), finished) {
                    (Some(f), Some(false)) => {
                        if !f.changed().await {
                            return;
                        }
                    }
                    // Not following, or the task ended without a log.
                    _ => return,
                },
                Err(e) => Err(context("open log", &path, e))?,
            }
        };
        let start = match tail {
            Some(n) => tail_offset(&mut std_file, n).map_err(|e| context("find the tail of", &path, e))?,
            None => 0,
        };
        std_file.seek(SeekFrom::Start(start)).map_err(|e| context("seek in", &path, e))?;
        let mut file = tokio::fs::File::from_std(std_file);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let finished = follow.as_mut().is_none_or(|f| f.seen().finished);
            loop {
                let n = file.read(&mut buf).await.map_err(|e| context("read", &path, e))?;
                if n == 0 {
                    break;
                }
                yield Bytes::copy_from_slice(&buf[..n]);
            }
            if finished {
                break;
            }
            let Some(f) = follow.as_mut() else { break };
            if !f.changed().await {
                break;
            }
        }
    }
}
