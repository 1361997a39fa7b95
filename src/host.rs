//! Host sampling from procfs, for admission: CPU busy share between two
//! readings of `/proc/stat`, and `MemAvailable`/`MemTotal` from
//! `/proc/meminfo`. The proc root is a parameter so tests use fixture files.

use crate::core::HostSample;
use procfs::{CpuTime, FromRead, FromReadSI, KernelStats, Meminfo};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {message}")]
pub struct HostError {
    pub path: PathBuf,
    pub message: String,
}

pub struct HostSampler {
    proc_root: PathBuf,
    /// (busy ticks, total ticks, time of the reading in ms).
    last_cpu: Option<(u64, u64, i64)>,
}

impl HostSampler {
    pub fn new(proc_root: impl Into<PathBuf>) -> Self {
        HostSampler {
            proc_root: proc_root.into(),
            last_cpu: None,
        }
    }

    /// Take a reading at `now_ms`. The CPU share is measured since the
    /// previous reading (its time is the sample's `window_start_ms`); the
    /// first call has no previous reading and reports the average since boot
    /// (window start 0).
    pub fn sample(&mut self, now_ms: i64) -> Result<HostSample, HostError> {
        let stat_path = self.proc_root.join("stat");
        let stat = KernelStats::from_file(&stat_path, procfs::current_system_info())
            .map_err(|e| err(&stat_path, e))?;
        let (busy, total) = busy_total(&stat.total);
        let (d_busy, d_total, window_start_ms) = match self.last_cpu {
            Some((b0, t0, at)) if total > t0 => (busy.saturating_sub(b0), total - t0, at),
            // No clock tick since the last reading: nothing measured.
            Some((_, _, at)) => (0, 0, at),
            None => (busy, total.max(1), 0),
        };
        self.last_cpu = Some((busy, total, now_ms));
        let mem_path = self.proc_root.join("meminfo");
        let mem = Meminfo::from_file(&mem_path).map_err(|e| err(&mem_path, e))?;
        Ok(HostSample {
            cpu_busy_percent: if d_total == 0 {
                0.0
            } else {
                100.0 * d_busy as f64 / d_total as f64
            },
            // Kernels before 3.14 lack MemAvailable; MemFree is the closest.
            mem_available_bytes: mem.mem_available.unwrap_or(mem.mem_free),
            mem_total_bytes: mem.mem_total,
            window_start_ms,
            taken_ms: now_ms,
        })
    }
}

fn err(path: &Path, e: impl std::fmt::Display) -> HostError {
    HostError {
        path: path.into(),
        message: e.to_string(),
    }
}

/// (busy, total) in clock ticks; idle and iowait count as not busy.
fn busy_total(c: &CpuTime) -> (u64, u64) {
    let idle = c.idle + c.iowait.unwrap_or(0);
    let total = c.user
        + c.nice
        + c.system
        + idle
        + c.irq.unwrap_or(0)
        + c.softirq.unwrap_or(0)
        + c.steal.unwrap_or(0);
    (total - idle, total)
}

/// The host's pressure stall information (`/proc/pressure/*`), each `None`
/// where the kernel has no PSI (or it is switched off).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HostPressure {
    pub cpu: Option<crate::cgroup::Pressure>,
    pub memory: Option<crate::cgroup::Pressure>,
    pub io: Option<crate::cgroup::Pressure>,
}

impl HostSampler {
    /// Read `/proc/pressure/{cpu,memory,io}`. A missing or unreadable file
    /// (no PSI: `psi=0`, an old kernel) leaves its figure out; a file that
    /// does not parse is an error naming it.
    pub fn pressure(&self) -> Result<HostPressure, HostError> {
        let read = |name: &str| -> Result<Option<crate::cgroup::Pressure>, HostError> {
            let path = self.proc_root.join("pressure").join(name);
            match std::fs::read_to_string(&path) {
                Ok(text) => crate::cgroup::parse_pressure(&text)
                    .map(Some)
                    .map_err(|b| err(&path, format!("{}: {:?}", b.reason, b.data))),
                Err(_) => Ok(None),
            }
        };
        Ok(HostPressure {
            cpu: read("cpu")?,
            memory: read("memory")?,
            io: read("io")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_proc(dir: &Path, user: u64, idle: u64, avail_kb: u64) {
        std::fs::write(
            dir.join("stat"),
            format!(
                "cpu  {user} 0 0 {idle} 0 0 0 0 0 0\ncpu0 {user} 0 0 {idle} 0 0 0 0 0 0\nintr 0\nctxt 0\nbtime 1700000000\nprocesses 1\nprocs_running 1\nprocs_blocked 0\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("meminfo"),
            format!(
                "MemTotal:        8000000 kB\nMemFree:         100 kB\nMemAvailable:    {avail_kb} kB\n\
                 Buffers: 1 kB\nCached: 1 kB\nSwapCached: 0 kB\nActive: 1 kB\nInactive: 1 kB\n\
                 Active(anon): 1 kB\nInactive(anon): 1 kB\nActive(file): 1 kB\nInactive(file): 1 kB\n\
                 Unevictable: 0 kB\nMlocked: 0 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\nDirty: 0 kB\n\
                 Writeback: 0 kB\nAnonPages: 1 kB\nMapped: 1 kB\nShmem: 0 kB\nSlab: 1 kB\n\
                 SReclaimable: 1 kB\nSUnreclaim: 1 kB\nKernelStack: 1 kB\nPageTables: 1 kB\n\
                 NFS_Unstable: 0 kB\nBounce: 0 kB\nWritebackTmp: 0 kB\nCommitLimit: 1 kB\n\
                 Committed_AS: 1 kB\nVmallocTotal: 1 kB\nVmallocUsed: 0 kB\nVmallocChunk: 0 kB\n"
            ),
        )
        .unwrap();
    }

    #[test]
    fn cpu_share_is_computed_between_readings() {
        let dir = tempfile::tempdir().unwrap();
        write_proc(dir.path(), 100, 300, 2048);
        let mut s = HostSampler::new(dir.path());
        let first = s.sample(1).unwrap();
        assert_eq!(first.cpu_busy_percent, 25.0);
        assert_eq!(first.mem_available_bytes, 2048 * 1024);
        assert_eq!(first.mem_total_bytes, 8000000 * 1024);
        // 90 busy ticks out of 100 since the last reading.
        write_proc(dir.path(), 190, 310, 1024);
        let second = s.sample(1).unwrap();
        assert!((second.cpu_busy_percent - 90.0).abs() < 1e-9, "{second:?}");
        assert_eq!(second.mem_available_bytes, 1024 * 1024);
    }

    #[test]
    fn missing_file_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let e = HostSampler::new(dir.path()).sample(1).unwrap_err();
        assert!(e.to_string().contains("stat"), "{e}");
    }

    #[test]
    fn real_proc_is_readable() {
        let s = HostSampler::new("/proc").sample(1).unwrap();
        assert!(s.mem_total_bytes > 0 && (0.0..=100.0).contains(&s.cpu_busy_percent));
    }

    #[test]
    fn pressure_is_read_where_the_kernel_has_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = HostSampler::new(dir.path());
        assert_eq!(s.pressure().unwrap(), HostPressure::default(), "no PSI");
        std::fs::create_dir(dir.path().join("pressure")).unwrap();
        std::fs::write(
            dir.path().join("pressure/memory"),
            "some avg10=12.50 avg60=3.00 avg300=1.00 total=99\nfull avg10=1.00 avg60=0.50 avg300=0.10 total=9\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("pressure/cpu"),
            "some avg10=0.50 avg60=0.00 avg300=0.00 total=7\n",
        )
        .unwrap();
        let p = s.pressure().unwrap();
        assert_eq!(p.memory.unwrap().some.avg10, 12.5);
        assert_eq!(p.memory.unwrap().full.unwrap().total, 9);
        assert_eq!(p.cpu.unwrap().some.avg10, 0.5);
        assert_eq!(p.io, None);
        std::fs::write(dir.path().join("pressure/io"), "some avg10=x\n").unwrap();
        let e = s.pressure().unwrap_err().to_string();
        assert!(e.contains("pressure/io"), "{e}");
    }
}
