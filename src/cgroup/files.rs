//! [`ScopeFiles`]: the files of one cgroup kept open and re-read in place.
//!
//! The monitor reads the same eight files of every running scope every
//! second. Opening and closing each one costs three more syscalls than the
//! read itself, so the files are opened once and read with `pread` at
//! offset 0, which makes the kernel generate the content anew (seq_file
//! files restart at position 0). A read shorter than the buffer is the end
//! of the file (seq_file fills the buffer while there is more), so a file
//! costs one syscall per sample. A file that is absent stays `None` and is
//! looked for again at most every [`REOPEN_EVERY`] reads.

use super::parse::{
    parse_cpu_stat, parse_memory_events, parse_memory_stat, parse_pressure, parse_single, Bad,
};
use super::{absent, CgroupError, CgroupEvents, CpuStat, MemoryEvents, MemoryStat, Pressure};
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Reads after which an absent file is looked for again.
pub const REOPEN_EVERY: u32 = 30;

const NAMES: [&str; 10] = [
    "memory.current",
    "memory.peak",
    "memory.events",
    "memory.stat",
    "memory.pressure",
    "cpu.stat",
    "cpu.pressure",
    "pids.current",
    "cgroup.events",
    "cgroup.procs",
];

#[derive(Debug, Default)]
struct Slot {
    file: Option<File>,
    /// Reads since it was found absent.
    misses: u32,
    absent: bool,
}

/// One cgroup's files, open (see the module documentation).
#[derive(Debug)]
pub struct ScopeFiles {
    dir: PathBuf,
    slots: [Slot; NAMES.len()],
    buf: Vec<u8>,
}

impl ScopeFiles {
    pub fn new(dir: &Path) -> ScopeFiles {
        ScopeFiles {
            dir: dir.to_path_buf(),
            slots: Default::default(),
            buf: vec![0; 4096],
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The content of file `i`, `None` if absent.
    fn text(&mut self, i: usize) -> Result<Option<&str>, CgroupError> {
        let path = || self.dir.join(NAMES[i]);
        let slot = &mut self.slots[i];
        if slot.absent {
            slot.misses += 1;
            if slot.misses < REOPEN_EVERY {
                return Ok(None);
            }
        }
        if slot.file.is_none() {
            match std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path())
            {
                Ok(f) => {
                    slot.file = Some(f);
                    slot.absent = false;
                }
                Err(e) if absent(&e) => {
                    (slot.absent, slot.misses) = (true, 0);
                    return Ok(None);
                }
                Err(source) => {
                    return Err(CgroupError::Read {
                        path: path(),
                        source,
                    })
                }
            }
        }
        let file = slot.file.as_ref().expect("opened above");
        let mut len = 0;
        loop {
            if len == self.buf.len() {
                if self.buf.len() >= 1 << 24 {
                    return Err(CgroupError::TooLarge { path: path() });
                }
                self.buf.resize(self.buf.len() * 2, 0);
            }
            let room = self.buf.len() - len;
            match file.read_at(&mut self.buf[len..], len as u64) {
                Ok(n) => {
                    len += n;
                    if n < room {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if absent(&e) => {
                    // The cgroup was removed under the open file.
                    slot.file = None;
                    (slot.absent, slot.misses) = (true, 0);
                    return Ok(None);
                }
                Err(source) => {
                    return Err(CgroupError::Read {
                        path: path(),
                        source,
                    })
                }
            }
        }
        std::str::from_utf8(&self.buf[..len])
            .map(Some)
            .map_err(|_| CgroupError::Parse {
                path: path(),
                reason: "not UTF-8",
                data: String::from_utf8_lossy(&self.buf[..len]).into_owned(),
            })
    }

    fn parsed<T>(
        &mut self,
        i: usize,
        parse: impl for<'a> FnOnce(&'a str) -> Result<T, Bad<'a>>,
    ) -> Result<Option<T>, CgroupError> {
        let dir = self.dir.clone();
        let Some(text) = self.text(i)? else {
            return Ok(None);
        };
        parse(text)
            .map(Some)
            .map_err(|Bad { reason, data }| CgroupError::Parse {
                path: dir.join(NAMES[i]),
                reason,
                data: data.to_owned(),
            })
    }

    pub fn memory_current(&mut self) -> Result<Option<u64>, CgroupError> {
        self.parsed(0, parse_single)
    }
    pub fn memory_peak(&mut self) -> Result<Option<u64>, CgroupError> {
        self.parsed(1, parse_single)
    }
    pub fn memory_events(&mut self) -> Result<Option<MemoryEvents>, CgroupError> {
        self.parsed(2, parse_memory_events)
    }
    pub fn memory_stat(&mut self) -> Result<Option<MemoryStat>, CgroupError> {
        self.parsed(3, parse_memory_stat)
    }
    pub fn memory_pressure(&mut self) -> Result<Option<Pressure>, CgroupError> {
        self.parsed(4, parse_pressure)
    }
    pub fn cpu_stat(&mut self) -> Result<Option<CpuStat>, CgroupError> {
        self.parsed(5, parse_cpu_stat)
    }
    pub fn cpu_pressure(&mut self) -> Result<Option<Pressure>, CgroupError> {
        self.parsed(6, parse_pressure)
    }
    pub fn pids_current(&mut self) -> Result<Option<u64>, CgroupError> {
        self.parsed(7, parse_single)
    }
    pub fn events(&mut self) -> Result<Option<CgroupEvents>, CgroupError> {
        self.parsed(8, super::parse::parse_cgroup_events)
    }
    /// `cgroup.procs`: the pids in the cgroup itself.
    pub fn procs(&mut self) -> Result<Option<Vec<u32>>, CgroupError> {
        self.parsed(9, |text| {
            text.split_whitespace()
                .map(|p| {
                    p.parse().map_err(|_| Bad {
                        reason: "not a pid",
                        data: p,
                    })
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_stay_open_and_show_new_content_and_absence() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("memory.current"), "100\n").unwrap();
        std::fs::write(d.join("cgroup.procs"), "1\n2\n").unwrap();
        let mut f = ScopeFiles::new(d);
        assert_eq!(f.memory_current().unwrap(), Some(100));
        // Rewritten in place (as the kernel regenerates it): the same open
        // file shows the new content.
        std::fs::write(d.join("memory.current"), "2000000\n").unwrap();
        assert_eq!(f.memory_current().unwrap(), Some(2_000_000));
        assert_eq!(f.procs().unwrap(), Some(vec![1, 2]));
        let many: String = (1..=3000).map(|p| format!("{p}\n")).collect();
        std::fs::write(d.join("cgroup.procs"), &many).unwrap();
        assert_eq!(f.procs().unwrap().unwrap().len(), 3000, "buffer grows");
        assert_eq!(f.cpu_stat().unwrap(), None, "absent");
        std::fs::write(
            d.join("cpu.stat"),
            "usage_usec 5\nuser_usec 3\nsystem_usec 2\n",
        )
        .unwrap();
        for _ in 1..REOPEN_EVERY {
            assert_eq!(f.cpu_stat().unwrap(), None, "not looked for at every read");
        }
        assert_eq!(f.cpu_stat().unwrap().unwrap().usage_usec, 5);
        std::fs::write(d.join("pids.current"), "many\n").unwrap();
        let e = f.pids_current().unwrap_err().to_string();
        assert!(e.contains("pids.current") && e.contains("many"), "{e}");
    }
}
