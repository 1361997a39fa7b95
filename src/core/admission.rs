//! Admission: may one more task start now?
//!
//! The rule of the source documents: start while host CPU use is under
//! `cpu_max_percent` (80%) and MemAvailable is over `min_available_bytes`
//! (1 GiB), never more than the optional `max_running` cap, and at most
//! `max_starting` launches in flight.
//!
//! Every decision is taken on fresh data: after a start, the next admission
//! waits for a host sample whose measurement began after that start and lasted
//! at least `settle_ms` ([`Admission::Measure`] tells the daemon when to take
//! it), so a burst of submissions never starts on one reading that predates
//! the tasks it just started. Smarter admission (pressure stall information,
//! per-task reservations) grows here, as functions of the same inputs.

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

#[derive(Debug, Clone, PartialEq)]
pub struct AdmissionPolicy {
    pub cpu_max_percent: f64,
    pub min_available_bytes: u64,
    pub max_running: Option<usize>,
    pub max_starting: usize,
    /// After a start, the next decision needs a sample measured over at
    /// least this long, beginning after that start.
    pub settle_ms: i64,
}

impl Default for AdmissionPolicy {
    fn default() -> Self {
        AdmissionPolicy {
            cpu_max_percent: 80.0,
            min_available_bytes: 1 << 30,
            max_running: None,
            max_starting: 8,
            settle_ms: 250,
        }
    }
}

/// What is running now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Load {
    /// Tasks Starting or Running.
    pub active: usize,
    /// Tasks still Starting.
    pub starting: usize,
    /// When the last task was started, ms; `None` if no task started since
    /// is still active (a sample cannot miss a task that is gone).
    pub last_start_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    Start,
    /// Why the head of the queue waits, in words a user can read.
    Wait(String),
    /// The sample predates the last start: take one at or after this time
    /// and decide again.
    Measure {
        not_before_ms: i64,
    },
}

/// Decide whether the head of the queue may start.
pub fn admit(policy: &AdmissionPolicy, host: Option<&HostSample>, load: &Load) -> Admission {
    if let Some(cap) = policy.max_running {
        if load.active >= cap {
            return Admission::Wait(format!(
                "max_running reached ({} of {cap} running)",
                load.active
            ));
        }
    }
    if load.starting >= policy.max_starting {
        return Admission::Wait(format!("{} launches in progress", load.starting));
    }
    let Some(host) = host else {
        return Admission::Wait("no host sample yet".into());
    };
    if let Some(t) = load.last_start_ms {
        let fresh = host.window_start_ms >= t && host.taken_ms >= t + policy.settle_ms;
        if !fresh {
            return Admission::Measure {
                not_before_ms: host.taken_ms.max(t) + policy.settle_ms,
            };
        }
    }
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
            window_start_ms: 0,
            taken_ms: 1000,
        }
    }

    fn idle() -> Load {
        Load::default()
    }

    #[test]
    fn idle_host_admits() {
        let p = AdmissionPolicy::default();
        assert_eq!(
            admit(&p, Some(&host(10.0, 4096)), &idle()),
            Admission::Start
        );
    }

    #[test]
    fn busy_cpu_or_low_memory_waits_with_reason() {
        let p = AdmissionPolicy::default();
        match admit(&p, Some(&host(80.0, 4096)), &idle()) {
            Admission::Wait(r) => assert!(r.contains("CPU busy 80%"), "{r}"),
            a => panic!("{a:?}"),
        }
        match admit(&p, Some(&host(5.0, 1024)), &idle()) {
            Admission::Wait(r) => assert!(r.contains("1024 MiB"), "{r}"),
            a => panic!("{a:?}"),
        }
        assert_eq!(
            admit(&p, Some(&host(79.9, 1025)), &idle()),
            Admission::Start
        );
    }

    #[test]
    fn hard_cap_and_launch_burst_limit() {
        let p = AdmissionPolicy {
            max_running: Some(3),
            max_starting: 2,
            ..Default::default()
        };
        let h = host(0.0, 8192);
        let load = |active, starting| Load {
            active,
            starting,
            last_start_ms: None,
        };
        assert_eq!(admit(&p, Some(&h), &load(2, 0)), Admission::Start);
        assert!(
            matches!(admit(&p, Some(&h), &load(3, 0)), Admission::Wait(r) if r.contains("3 of 3"))
        );
        assert!(matches!(
            admit(&p, Some(&h), &load(2, 2)),
            Admission::Wait(_)
        ));
    }

    #[test]
    fn no_sample_no_start() {
        let p = AdmissionPolicy::default();
        assert!(matches!(admit(&p, None, &idle()), Admission::Wait(_)));
    }

    /// A burst never starts on a reading that predates the last start: each
    /// start needs a sample measured after it, over `settle_ms`.
    #[test]
    fn every_start_waits_for_a_fresh_sample() {
        let p = AdmissionPolicy::default();
        let mut h = host(0.0, 8192);
        let mut load = Load::default();
        let mut now = 1000;
        let mut starts = Vec::new();
        // 30 submissions at t=1000; the daemon samples when asked to.
        while starts.len() < 30 && now < 100_000 {
            match admit(&p, Some(&h), &load) {
                Admission::Start => {
                    starts.push(now);
                    load.active += 1;
                    load.last_start_ms = Some(now);
                }
                Admission::Measure { not_before_ms } => {
                    assert!(not_before_ms > now);
                    h.window_start_ms = h.taken_ms;
                    now = not_before_ms;
                    h.taken_ms = now;
                }
                Admission::Wait(w) => panic!("{w}"),
            }
        }
        assert_eq!(starts.len(), 30);
        for pair in starts.windows(2) {
            assert!(pair[1] - pair[0] >= p.settle_ms, "{starts:?}");
        }
        // A sample whose window began before the start is stale even if taken late.
        let stale = HostSample {
            window_start_ms: 500,
            taken_ms: 5000,
            ..host(0.0, 8192)
        };
        let load = Load {
            last_start_ms: Some(900),
            ..Load::default()
        };
        assert!(matches!(
            admit(&p, Some(&stale), &load),
            Admission::Measure { .. }
        ));
    }
}
