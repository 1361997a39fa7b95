//! The host reading admission decides on (taken by the procfs adapter,
//! `crate::host`). The decisions themselves are in [`super::scheduler`].

use serde::{Deserialize, Serialize};

/// One reading of the host, taken by the procfs adapter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HostSample {
    /// CPU busy share over the sample's window, 0..=100.
    pub cpu_busy_percent: f64,
    /// `MemAvailable` from /proc/meminfo, in bytes.
    pub mem_available_bytes: u64,
    /// `MemTotal` from /proc/meminfo, in bytes.
    pub mem_total_bytes: u64,
    /// When the CPU measurement window began (the previous reading), ms.
    pub window_start_ms: i64,
    /// When the reading was taken, ms.
    pub taken_ms: i64,
}
