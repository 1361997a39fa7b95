//! A reader of cgroup v2 files (cgroupfs), with the root injected so that
//! tests use fixture directories.
//!
//! claudine never writes to `/sys/fs/cgroup`: systemd owns the cgroups (see
//! ARCHITECTURE.md). This module only reads the figures of a cgroup: memory
//! (`memory.current`, `memory.peak`, `memory.max`, `memory.events`,
//! `memory.stat`), CPU (`cpu.stat`), tasks (`pids.current`), pressure
//! (`memory.pressure`, `cpu.pressure`) and state (`cgroup.events`).
//!
//! A file that does not exist (the controller is not enabled for that cgroup,
//! the cgroup is gone, or the kernel has no pressure accounting) reads as
//! `Ok(None)`; anything unreadable or malformed is an error that names the
//! file and the data that failed. Parsing uses no regular expressions and
//! reads each file into one stack buffer: the monitor reads these every
//! second for hundreds of scopes, and a read costs one path allocation.

mod files;
mod parse;

pub use files::ScopeFiles;

pub use parse::parse_pressure;
use parse::{
    parse_cgroup_events, parse_cpu_stat, parse_max, parse_memory_events, parse_memory_stat,
    parse_single, Bad,
};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

/// Where the cgroup v2 hierarchy is normally mounted.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

/// Largest cgroup file read (`memory.stat` is about 1.5 KiB).
pub const MAX_FILE: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup path {path:?} is not below the cgroup root")]
    OutsideRoot { path: String },
    #[error("read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is larger than {MAX_FILE} bytes", path.display())]
    TooLarge { path: PathBuf },
    #[error("parse {}: {reason}: {data:?}", path.display())]
    Parse {
        path: PathBuf,
        reason: &'static str,
        data: String,
    },
}

/// The path of the calling process's cgroup v2, from the text of
/// `/proc/self/cgroup` (the `0::/path` line), e.g.
/// `/claudine.slice/claudine-task-7.scope`.
pub fn own_cgroup(proc_self_cgroup: &str) -> Option<String> {
    proc_self_cgroup
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(str::to_owned)
}

/// Reads cgroups below one root (normally [`DEFAULT_ROOT`]).
#[derive(Debug, Clone)]
pub struct CgroupReader {
    root: PathBuf,
}

impl CgroupReader {
    pub fn new(root: PathBuf) -> Self {
        CgroupReader { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The cgroup at `path` (as in `/proc/self/cgroup`, with or without the
    /// leading `/`) below the root. A path with `..` in it is refused; the
    /// cgroup need not exist.
    pub fn cgroup(&self, path: &str) -> Result<Cgroup, CgroupError> {
        let relative = Path::new(path.trim_start_matches('/'));
        if !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(CgroupError::OutsideRoot { path: path.into() });
        }
        Ok(Cgroup {
            dir: self.root.join(relative),
        })
    }
}

/// One cgroup directory.
#[derive(Debug, Clone)]
pub struct Cgroup {
    dir: PathBuf,
}

/// `memory.events`: how often each memory boundary was hit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryEvents {
    pub low: u64,
    pub high: u64,
    pub max: u64,
    pub oom: u64,
    pub oom_kill: u64,
}

/// The main figures of `memory.stat`, in bytes (fault counts for the `pg`
/// fields). `anon` and `file` are always there; the rest depends on the
/// kernel version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStat {
    pub anon: u64,
    pub file: u64,
    pub kernel: Option<u64>,
    pub sock: Option<u64>,
    pub shmem: Option<u64>,
    pub file_mapped: Option<u64>,
    pub file_dirty: Option<u64>,
    pub file_writeback: Option<u64>,
    pub pgfault: Option<u64>,
    pub pgmajfault: Option<u64>,
}

impl MemoryStat {
    /// Of `current` (the cgroup's `memory.current`), what the kernel cannot
    /// simply drop: all but the clean page cache. Shared memory (tmpfs) and
    /// dirty or in-flight pages stay counted; without swap, anonymous memory
    /// is never reclaimable. A slice whose tasks wrote gigabytes of logs is
    /// full of cache the next task can have.
    pub fn unreclaimable(&self, current: u64) -> u64 {
        let pinned = self.shmem.unwrap_or(0)
            + self.file_dirty.unwrap_or(0)
            + self.file_writeback.unwrap_or(0);
        let clean_cache = self.file.saturating_sub(pinned);
        current.saturating_sub(clean_cache)
    }
}

/// `cpu.stat`, in microseconds. The throttling figures exist only where the
/// cpu controller is enabled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuStat {
    pub usage_usec: u64,
    pub user_usec: u64,
    pub system_usec: u64,
    pub nr_periods: Option<u64>,
    pub nr_throttled: Option<u64>,
    pub throttled_usec: Option<u64>,
}

/// One line of a pressure file: the share of time (percent) some or all
/// tasks were stalled over 10 s, 60 s and 300 s, and the total stall time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PressureLine {
    pub avg10: f64,
    pub avg60: f64,
    pub avg300: f64,
    /// Microseconds.
    pub total: u64,
}

/// `memory.pressure` or `cpu.pressure`. Older kernels have no `full` line
/// for CPU.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pressure {
    pub some: PressureLine,
    pub full: Option<PressureLine>,
}

/// `cgroup.events`. Kernels without the v2 freezer have no `frozen`, and
/// then nothing is frozen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CgroupEvents {
    pub populated: bool,
    pub frozen: bool,
}

impl Cgroup {
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Reads file `name` and parses it; `Ok(None)` if the file is absent.
    fn read<T>(
        &self,
        name: &str,
        parse: impl for<'a> FnOnce(&'a str) -> Result<T, Bad<'a>>,
    ) -> Result<Option<T>, CgroupError> {
        let path = self.dir.join(name);
        let mut buf = [0u8; MAX_FILE];
        let read_err = |source| CgroupError::Read {
            path: path.clone(),
            source,
        };
        let mut file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if absent(&e) => return Ok(None),
            Err(e) => return Err(read_err(e)),
        };
        let mut len = 0;
        loop {
            match file.read(&mut buf[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if absent(&e) => return Ok(None),
                Err(e) => return Err(read_err(e)),
            }
            if len == buf.len() {
                return Err(CgroupError::TooLarge { path });
            }
        }
        let text = std::str::from_utf8(&buf[..len]).map_err(|_| CgroupError::Parse {
            path: path.clone(),
            reason: "not UTF-8",
            data: String::from_utf8_lossy(&buf[..len]).into_owned(),
        })?;
        match parse(text) {
            Ok(value) => Ok(Some(value)),
            Err(Bad { reason, data }) => Err(CgroupError::Parse {
                path,
                reason,
                data: data.to_owned(),
            }),
        }
    }

    /// `memory.current`, bytes.
    pub fn memory_current(&self) -> Result<Option<u64>, CgroupError> {
        self.read("memory.current", parse_single)
    }

    /// `memory.peak`, bytes.
    pub fn memory_peak(&self) -> Result<Option<u64>, CgroupError> {
        self.read("memory.peak", parse_single)
    }

    /// `memory.max`, bytes: `Some(None)` when it is `max` (no ceiling).
    pub fn memory_max(&self) -> Result<Option<Option<u64>>, CgroupError> {
        self.read("memory.max", parse_max)
    }

    pub fn memory_events(&self) -> Result<Option<MemoryEvents>, CgroupError> {
        self.read("memory.events", parse_memory_events)
    }

    pub fn memory_stat(&self) -> Result<Option<MemoryStat>, CgroupError> {
        self.read("memory.stat", parse_memory_stat)
    }

    pub fn cpu_stat(&self) -> Result<Option<CpuStat>, CgroupError> {
        self.read("cpu.stat", parse_cpu_stat)
    }

    pub fn pids_current(&self) -> Result<Option<u64>, CgroupError> {
        self.read("pids.current", parse_single)
    }

    pub fn memory_pressure(&self) -> Result<Option<Pressure>, CgroupError> {
        self.read("memory.pressure", parse_pressure)
    }

    pub fn cpu_pressure(&self) -> Result<Option<Pressure>, CgroupError> {
        self.read("cpu.pressure", parse_pressure)
    }

    pub fn events(&self) -> Result<Option<CgroupEvents>, CgroupError> {
        self.read("cgroup.events", parse_cgroup_events)
    }

    /// The processes in this cgroup itself (`cgroup.procs`), any number of
    /// them; `Ok(None)` if the cgroup is gone.
    pub fn procs(&self) -> Result<Option<Vec<u32>>, CgroupError> {
        let path = self.dir.join("cgroup.procs");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if absent(&e) => return Ok(None),
            Err(source) => return Err(CgroupError::Read { path, source }),
        };
        text.split_whitespace()
            .map(|p| {
                p.parse().map_err(|_| CgroupError::Parse {
                    path: path.clone(),
                    reason: "not a pid",
                    data: p.to_owned(),
                })
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }
}

/// A file that is not there: no such file, a cgroup removed while being
/// read, or pressure accounting switched off (the kernel then refuses the
/// read).
fn absent(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
        || matches!(e.raw_os_error(), Some(libc::ENODEV | libc::EOPNOTSUPP))
}

#[cfg(test)]
mod tests;
