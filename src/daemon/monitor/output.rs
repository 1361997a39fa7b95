//! How much a task has written: bytes and lines of its combined log.
//!
//! The file is kept open while the task runs; each sample costs an `fstat`
//! and, when it grew, reads of the new bytes only (to count newlines), at
//! most [`READ_BUDGET`] per sample: a task that prints faster is caught up
//! over the next samples, so the sampler's cost stays bounded whatever the
//! task does.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Most bytes read per task and sample to count lines.
pub const READ_BUDGET: u64 = 1 << 20;

/// The output of one attempt as of a sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Output {
    pub bytes: u64,
    /// Newlines in the bytes counted so far (may trail `bytes`).
    pub lines: u64,
    /// The file's modification time, ms (0 when nothing was ever written).
    pub modified_ms: i64,
}

#[derive(Debug, Default)]
pub struct OutputCounter {
    file: Option<File>,
    counted: u64,
    lines: u64,
    buf: Vec<u8>,
}

impl OutputCounter {
    /// Look at the log at `path` (opened on first use, never through a
    /// symlink); `None` while it does not exist.
    pub fn update(&mut self, path: &Path) -> io::Result<Option<Output>> {
        if self.file.is_none() {
            match std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(path)
            {
                Ok(f) => self.file = Some(f),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        let file = self.file.as_ref().expect("opened above");
        let meta = file.metadata()?;
        let size = meta.len();
        if size < self.counted {
            // Truncated or replaced: count again from the start.
            (self.counted, self.lines) = (0, 0);
        }
        let want = (size - self.counted).min(READ_BUDGET) as usize;
        if want > 0 {
            self.buf.resize(want.min(256 << 10), 0);
            let end = self.counted + want as u64;
            while self.counted < end {
                let n = ((end - self.counted) as usize).min(self.buf.len());
                let got = file.read_at(&mut self.buf[..n], self.counted)?;
                if got == 0 {
                    break;
                }
                self.lines += self.buf[..got].iter().filter(|&&b| b == b'\n').count() as u64;
                self.counted += got as u64;
            }
        }
        let modified_ms = meta.mtime() * 1000 + meta.mtime_nsec() / 1_000_000;
        Ok(Some(Output {
            bytes: size,
            lines: self.lines,
            modified_ms: if size == 0 { 0 } else { modified_ms },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn counts_bytes_and_lines_incrementally_within_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.log");
        let mut c = OutputCounter::default();
        assert_eq!(c.update(&path).unwrap(), None);
        let mut f = File::create(&path).unwrap();
        let o = c.update(&path).unwrap().unwrap();
        assert_eq!((o.bytes, o.lines, o.modified_ms), (0, 0, 0));
        f.write_all(b"one\ntwo\nthr").unwrap();
        let o = c.update(&path).unwrap().unwrap();
        assert_eq!((o.bytes, o.lines), (11, 2));
        assert!(o.modified_ms > 0);
        f.write_all(b"ee\n").unwrap();
        assert_eq!(c.update(&path).unwrap().unwrap().lines, 3);
        // More than the budget at once: caught up over two samples.
        let big = vec![b'\n'; READ_BUDGET as usize + 10];
        f.write_all(&big).unwrap();
        let o = c.update(&path).unwrap().unwrap();
        assert_eq!(o.bytes, 14 + READ_BUDGET + 10);
        assert_eq!(o.lines, 3 + READ_BUDGET);
        assert_eq!(
            c.update(&path).unwrap().unwrap().lines,
            3 + READ_BUDGET + 10
        );
    }

    #[test]
    fn a_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), "x\n").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), dir.path().join("2.log")).unwrap();
        assert!(OutputCounter::default()
            .update(&dir.path().join("2.log"))
            .is_err());
    }
}
