//! The supervisor's reading of a Claude Code run: every byte the command
//! writes to stdout is cut into lines, each line parsed
//! ([`crate::core::claude_stream::parse_line`]) and folded into the run's
//! [`Progress`]. The log files get the bytes unchanged (the relay writes
//! them); this only reads.
//!
//! At each change that matters (a session, turn, tool use, API retry,
//! rate-limit state or the result) the progress is written to
//! [`ClaudeRun::progress_path`](super::spec::ClaudeRun) — a temporary file
//! renamed over the last one, not synced: the daemon's monitor reads it
//! while the task runs. The final progress goes into the exit record, which
//! is synced: what the run showed survives a daemon that is down when it
//! ends, and the daemon judges the run from it.
//!
//! A line is held until its newline, up to [`MAX_LINE_BYTES`]; a longer
//! line is counted as malformed and skipped to its end (it is in the log all
//! the same). A last line without a newline is parsed at the end.

use crate::core::claude_stream::{parse_line, Malformed, Progress, StreamLine};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest stream line parsed (a tool result can be large).
pub const MAX_LINE_BYTES: usize = 16 << 20;

pub struct ClaudeTap {
    progress: Progress,
    line: Vec<u8>,
    /// The current line passed [`MAX_LINE_BYTES`]: skip to its end.
    overlong: usize,
    path: PathBuf,
    /// The last snapshot could not be written (said once in the log).
    pub write_error: Option<String>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl ClaudeTap {
    pub fn new(progress_path: &Path) -> ClaudeTap {
        ClaudeTap {
            progress: Progress::new(),
            line: Vec::new(),
            overlong: 0,
            path: progress_path.to_owned(),
            write_error: None,
        }
    }

    /// Takes the next bytes of stdout.
    pub fn feed(&mut self, mut data: &[u8]) {
        let mut changed = false;
        while !data.is_empty() {
            let (part, rest, complete) = match data.iter().position(|&b| b == b'\n') {
                Some(i) => (&data[..i], &data[i + 1..], true),
                None => (data, &[][..], false),
            };
            data = rest;
            if self.overlong > 0 {
                self.overlong += part.len();
            } else if self.line.len() + part.len() > MAX_LINE_BYTES {
                self.overlong = self.line.len() + part.len();
                self.line = Vec::new();
            } else {
                self.line.extend_from_slice(part);
            }
            if complete {
                changed |= self.end_line();
            }
        }
        if changed {
            self.write_snapshot();
        }
    }

    /// Parses the line held; true if it changed something that matters.
    fn end_line(&mut self) -> bool {
        let parsed = if self.overlong > 0 {
            let bytes = std::mem::take(&mut self.overlong);
            StreamLine::Malformed(Malformed {
                reason: format!("line of {bytes} bytes, longer than {MAX_LINE_BYTES}: not read"),
                bytes,
            })
        } else if self.line.iter().all(u8::is_ascii_whitespace) {
            self.line.clear();
            return false;
        } else {
            let p = parse_line(&self.line);
            self.line.clear();
            p
        };
        let changes = self.progress.apply(&parsed, now_ms());
        !changes.is_empty()
    }

    /// The run's progress once stdout is closed (a last line without a
    /// newline included); also written to the progress file.
    pub fn finish(mut self) -> (Progress, Option<String>) {
        if !self.line.is_empty() || self.overlong > 0 {
            self.end_line();
        }
        self.write_snapshot();
        (self.progress, self.write_error)
    }

    fn write_snapshot(&mut self) {
        if let Err(e) = write_replacing(&self.path, &self.progress) {
            if self.write_error.is_none() {
                self.write_error = Some(format!(
                    "cannot write the progress file {}: {e}",
                    self.path.display()
                ));
            }
        }
    }
}

/// Writes `value` as JSON to a temporary file next to `path` (created
/// anew, never through a symlink) and renames it over `path`.
fn write_replacing(path: &Path, value: &Progress) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = super::exitfile::create_private(&tmp)?;
    let json = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    f.write_all(&json)?;
    drop(f);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::claude_stream::fixtures;

    fn tap() -> (tempfile::TempDir, ClaudeTap) {
        let dir = tempfile::tempdir().unwrap();
        let t = ClaudeTap::new(&dir.path().join("7.progress.json"));
        (dir, t)
    }

    #[test]
    fn lines_split_anywhere_are_read_whole_and_snapshots_written() {
        let (dir, mut t) = tap();
        let stream: String = fixtures::bash_session()
            .iter()
            .map(|l| format!("{l}\n"))
            .collect();
        for chunk in stream.as_bytes().chunks(7) {
            t.feed(chunk);
        }
        let on_disk: Progress =
            serde_json::from_slice(&std::fs::read(dir.path().join("7.progress.json")).unwrap())
                .unwrap();
        let (p, err) = t.finish();
        assert!(err.is_none());
        assert!(p.result.is_some());
        assert_eq!(p.uses_of("Bash"), 1);
        assert_eq!(p.malformed_lines, 0);
        assert_eq!(on_disk.result, p.result);
        assert_eq!(on_disk.turns(), p.turns());
    }

    #[test]
    fn an_overlong_line_is_malformed_and_the_next_line_still_read() {
        let (_dir, mut t) = tap();
        t.feed(b"{\"type\":\"x\",\"pad\":\"");
        let pad = vec![b'a'; 1 << 20];
        for _ in 0..17 {
            t.feed(&pad);
        }
        t.feed(b"\"}\n");
        t.feed(fixtures::result(false, 1, "done", None).as_bytes());
        // No newline after the result: read at the end.
        let (p, _) = t.finish();
        assert_eq!(p.malformed_lines, 1);
        assert!(p.last_malformed.unwrap().contains("longer than"));
        assert_eq!(p.result.unwrap().is_error, Some(false));
    }

    #[test]
    fn garbage_never_stops_it() {
        let (_dir, mut t) = tap();
        t.feed(b"\xff\xfe not json\n{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\n");
        t.feed(b"\n\n   \n");
        let (p, _) = t.finish();
        assert_eq!(p.malformed_lines, 2);
        assert!(p.result.is_none());
    }

    #[test]
    fn an_unwritable_progress_file_is_reported_once() {
        let mut t = ClaudeTap::new(Path::new("/nonexistent-dir/1.progress.json"));
        t.feed(format!("{}\n", fixtures::init()).as_bytes());
        let (p, err) = t.finish();
        assert!(p.session_id.is_some());
        assert!(err.unwrap().contains("/nonexistent-dir/1.progress.json"));
    }
}
