//! Admission: may one more task start now?
//!
//! Today's rule is the source documents': start while host CPU use is under
//! `cpu_max_percent` (80%) and MemAvailable is over `min_available_bytes`
//! (1 GiB), never more than the optional `max_running` cap, and at most
//! `max_starting` launches in flight (a launch that has not yet shown up in
//! the host figures must not let a burst through). Smarter admission
//! (pressure stall information, per-task reservations) replaces the body of
//! [`admit`] and nothing else.

use serde::{Deserialize, Serialize};

/// One reading of the host, taken by the procfs adapter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HostSample {
    /// CPU busy share over the last sampling interval, 0..=100.
    pub cpu_busy_percent: f64,
    /// `MemAvailable` from /proc/meminfo, in bytes.
    pub mem_available_bytes: u64,
    /// `MemTotal` from /proc/meminfo, in bytes.
    pub mem_total_bytes: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AdmissionPolicy {
    pub cpu_max_percent: f64,
    pub min_available_bytes: u64,
    pub max_running: Option<usize>,
    pub max_starting: usize,
}

impl Default for AdmissionPolicy {
    fn default() -> Self {
        AdmissionPolicy {
            cpu_max_percent: 80.0,
            min_available_bytes: 1 << 30,
            max_running: None,
            max_starting: 8,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    Start,
    /// Why the head of the queue waits, in words a user can read.
    Wait(String),
}

/// Decide whether the head of the queue may start. `active` counts tasks
/// Starting or Running, `starting` only those still Starting.
pub fn admit(
    policy: &AdmissionPolicy,
    host: Option<&HostSample>,
    active: usize,
    starting: usize,
) -> Admission {
    if let Some(cap) = policy.max_running {
        if active >= cap {
            return Admission::Wait(format!("max_running reached ({active} of {cap} running)"));
        }
    }
    if starting >= policy.max_starting {
        return Admission::Wait(format!("{starting} launches in progress"));
    }
    let Some(host) = host else {
        return Admission::Wait("no host sample yet".into());
    };
    if host.cpu_busy_percent >= policy.cpu_max_percent {
        return Admission::Wait(format!(
            "host CPU busy {:.0}% (limit {:.0}%)",
            host.cpu_busy_percent, policy.cpu_max_percent
        ));
    }
    if host.mem_available_bytes <= policy.min_available_bytes {
        return Admission::Wait(format!(
            "host memory available {} MiB (needs more than {} MiB)",
            host.mem_available_bytes >> 20,
            policy.min_available_bytes >> 20
        ));
    }
    Admission::Start
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(cpu: f64, avail_mib: u64) -> HostSample {
        HostSample {
            cpu_busy_percent: cpu,
            mem_available_bytes: avail_mib << 20,
            mem_total_bytes: 8 << 30,
        }
    }

    #[test]
    fn idle_host_admits() {
        let p = AdmissionPolicy::default();
        assert_eq!(admit(&p, Some(&host(10.0, 4096)), 0, 0), Admission::Start);
    }

    #[test]
    fn busy_cpu_or_low_memory_waits_with_reason() {
        let p = AdmissionPolicy::default();
        match admit(&p, Some(&host(80.0, 4096)), 0, 0) {
            Admission::Wait(r) => assert!(r.contains("CPU busy 80%"), "{r}"),
            a => panic!("{a:?}"),
        }
        match admit(&p, Some(&host(5.0, 1024)), 0, 0) {
            Admission::Wait(r) => assert!(r.contains("1024 MiB"), "{r}"),
            a => panic!("{a:?}"),
        }
        assert_eq!(admit(&p, Some(&host(79.9, 1025)), 0, 0), Admission::Start);
    }

    #[test]
    fn hard_cap_and_launch_burst_limit() {
        let p = AdmissionPolicy {
            max_running: Some(3),
            max_starting: 2,
            ..Default::default()
        };
        let h = host(0.0, 8192);
        assert_eq!(admit(&p, Some(&h), 2, 0), Admission::Start);
        assert!(matches!(admit(&p, Some(&h), 3, 0), Admission::Wait(r) if r.contains("3 of 3")));
        assert!(matches!(admit(&p, Some(&h), 2, 2), Admission::Wait(_)));
    }

    #[test]
    fn no_sample_no_start() {
        let p = AdmissionPolicy::default();
        assert!(matches!(admit(&p, None, 0, 0), Admission::Wait(_)));
    }
}
