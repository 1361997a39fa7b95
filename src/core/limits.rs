//! What a task may use: the limits a user asks for at submit.
//!
//! Hard limits are enforced by the kernel through the scope's properties
//! (`MemoryMax=`, `TasksMax=`, `CPUWeight=`, `CPUQuotaPerSecUSec=`), set by
//! systemd when the scope is created; soft ones (the memory warning, the
//! stall threshold) only raise events. [`Limits::validate`] is the one check
//! of what a client sent.

use super::memwatch::check_limits;
use super::units::format_bytes;
use serde::{Deserialize, Serialize};

/// The smallest hard memory limit accepted: below it a process cannot even
/// start.
pub const MIN_MEMORY_MAX: u64 = 4 << 20;
/// systemd's range for `CPUWeight=`.
pub const CPU_WEIGHT_RANGE: std::ops::RangeInclusive<u64> = 1..=10_000;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Soft: warn (`task:high-memory`) above this many bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_warn: Option<u64>,
    /// Hard: the kernel's `memory.max` for the scope, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_max: Option<u64>,
    /// Hard: most processes and threads at once (`TasksMax=`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pids: Option<u64>,
    /// Relative CPU share (`CPUWeight=`, 1..=10000, systemd's default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_weight: Option<u64>,
    /// Hard: CPU time in percent of one core (200 = two cores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_quota_percent: Option<u64>,
    /// Soft: `task:stalled` after this long without output, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_after_ms: Option<i64>,
    /// Admission: the memory the task is expected to need (`--memory`),
    /// reserved when it starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_request: Option<u64>,
    /// Admission: never start with less memory free than this
    /// (`--min-memory`), beyond the host's reserve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_memory: Option<u64>,
}

impl Limits {
    /// The problem with these limits, in words naming the flag.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(max) = self.memory_max {
            if max < MIN_MEMORY_MAX {
                return Err(format!(
                    "--memory-max {} is too small: at least {}",
                    format_bytes(max),
                    format_bytes(MIN_MEMORY_MAX)
                ));
            }
        }
        if self.memory_warn == Some(0) {
            return Err("--memory-warn must be more than 0".into());
        }
        check_limits(self.memory_warn, self.memory_max)?;
        if self.max_pids == Some(0) {
            return Err("--max-pids must be at least 1".into());
        }
        if let Some(w) = self.cpu_weight {
            if !CPU_WEIGHT_RANGE.contains(&w) {
                return Err(format!("--cpu-weight {w} is out of range: 1 to 10000"));
            }
        }
        if let Some(q) = self.cpu_quota_percent {
            if q == 0 || q > 100 * 4096 {
                return Err(format!(
                    "--cpu-quota {q}% is out of range: 1% to {}%",
                    100 * 4096
                ));
            }
        }
        if self.stall_after_ms.is_some_and(|ms| ms <= 0) {
            return Err("--stall-after must be a positive duration".into());
        }
        if self.memory_request == Some(0) {
            return Err("--memory must be more than 0".into());
        }
        if self.min_memory == Some(0) {
            return Err("--min-memory must be more than 0".into());
        }
        if let (Some(req), Some(max)) = (self.memory_request, self.memory_max) {
            if req > max {
                return Err(format!(
                    "--memory {} is more than --memory-max {}: the task could never use it",
                    format_bytes(req),
                    format_bytes(max)
                ));
            }
        }
        Ok(())
    }

    /// `CPUQuotaPerSecUSec=` for the quota: µs of CPU per second.
    pub fn cpu_quota_per_sec_usec(&self) -> Option<u64> {
        self.cpu_quota_percent.map(|p| p * 10_000)
    }

    pub fn is_empty(&self) -> bool {
        *self == Limits::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_limits_are_refused_naming_the_flag() {
        let ok = Limits {
            memory_warn: Some(1 << 30),
            memory_max: Some(2 << 30),
            max_pids: Some(10),
            cpu_weight: Some(50),
            cpu_quota_percent: Some(150),
            stall_after_ms: Some(60_000),
            memory_request: Some(1 << 30),
            min_memory: Some(1 << 30),
        };
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.cpu_quota_per_sec_usec(), Some(1_500_000));
        let bad = |edit: fn(&mut Limits), flag: &str| {
            let mut l = ok.clone();
            edit(&mut l);
            let e = l.validate().unwrap_err();
            assert!(e.contains(flag), "{e}");
        };
        bad(|l| l.memory_max = Some(1024), "--memory-max");
        bad(|l| l.memory_warn = Some(3 << 30), "memory warning level");
        bad(|l| l.max_pids = Some(0), "--max-pids");
        bad(|l| l.cpu_weight = Some(0), "--cpu-weight");
        bad(|l| l.cpu_weight = Some(10_001), "--cpu-weight");
        bad(|l| l.cpu_quota_percent = Some(0), "--cpu-quota");
        bad(|l| l.stall_after_ms = Some(-1), "--stall-after");
        bad(|l| l.memory_request = Some(0), "--memory must");
        bad(|l| l.min_memory = Some(0), "--min-memory");
        bad(
            |l| l.memory_request = Some(3 << 30),
            "is more than --memory-max",
        );
        assert!(Limits::default().validate().is_ok());
        assert!(Limits::default().is_empty());
    }
}
