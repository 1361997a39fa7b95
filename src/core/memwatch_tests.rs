//! Tests of memory thresholds, hysteresis and OOM kills.

use super::*;
use crate::core::events::{EventDetail, EventKind, MemoryDetail};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn policy(warn: Option<u64>, max: Option<u64>) -> MemoryPolicy {
    MemoryPolicy {
        warn_bytes: warn,
        max_bytes: max,
        critical_fraction: 0.9,
        critical_at: None,
    }
}

fn kinds(changes: &[MemoryChange]) -> Vec<EventKind> {
    changes.iter().map(|c| c.event(1, 1, 0).kind).collect()
}

#[test]
fn high_memory_once_then_rearmed_below_warn_minus_ten_percent() {
    let warn = 2 * GIB;
    let mut w = MemWatch::new(policy(Some(warn), None));
    assert!(w.observe(0, warn - 1, warn - 1, 0).is_empty());
    assert_eq!(
        w.observe(1000, warn, warn, 0),
        [MemoryChange::HighMemory {
            current_bytes: warn,
            warn_bytes: warn,
            max_bytes: None,
            peak_bytes: warn,
        }]
    );
    assert_eq!(w.high_since_ms(), Some(1000));
    // Hovering around the threshold: nothing more.
    for (t, cur) in [(2000, warn + MIB), (3000, warn - MIB), (4000, warn + 1)] {
        assert!(w.observe(t, cur, warn + MIB, 0).is_empty(), "{t}");
    }
    // Exactly at the re-arm level is not below it.
    let rearm = warn - warn / 10;
    assert!(w.observe(5000, rearm, warn + MIB, 0).is_empty());
    assert!(w.observe(6000, warn, warn + MIB, 0).is_empty());
    // One byte below re-arms; the next crossing warns again.
    assert!(w.observe(7000, rearm - 1, warn + MIB, 0).is_empty());
    assert_eq!(w.high_since_ms(), None);
    assert_eq!(
        kinds(&w.observe(8000, warn, warn + MIB, 0)),
        [EventKind::HighMemory]
    );
    assert_eq!(w.high_since_ms(), Some(8000));
}

#[test]
fn critical_near_the_hard_limit_with_the_same_rule() {
    let max = 4 * GIB;
    let p = policy(Some(2 * GIB), Some(max));
    assert_eq!(p.critical_bytes(), Some(3865470566)); // 0.9 × 4 GiB, rounded
    let mut w = MemWatch::new(p);
    // A jump past both thresholds: high first, then critical.
    let changes = w.observe(0, max - MIB, max - MIB, 0);
    assert_eq!(
        changes,
        [
            MemoryChange::HighMemory {
                current_bytes: max - MIB,
                warn_bytes: 2 * GIB,
                max_bytes: Some(max),
                peak_bytes: max - MIB,
            },
            MemoryChange::CriticalMemory {
                current_bytes: max - MIB,
                critical_bytes: 3865470566,
                max_bytes: Some(max),
                peak_bytes: max - MIB,
            },
        ]
    );
    // Down to 3.4 GiB (above 0.9 × 3.6 GiB): still not re-armed.
    assert!(w.observe(1, 3 * GIB + 400 * MIB, max, 0).is_empty());
    assert!(w.observe(2, max, max, 0).is_empty());
    // Down to 3 GiB: critical re-armed, high (2 GiB) still not.
    assert!(w.observe(3, 3 * GIB, max, 0).is_empty());
    assert_eq!(w.critical_since_ms(), None);
    assert_eq!(w.high_since_ms(), Some(0));
    assert_eq!(
        kinds(&w.observe(4, max, max, 0)),
        [EventKind::CriticalMemory]
    );
}

#[test]
fn a_configured_critical_level_counts_without_a_hard_limit_and_below_one() {
    let p = MemoryPolicy {
        critical_at: Some(3 * GIB),
        ..policy(Some(GIB), None)
    };
    assert_eq!(p.critical_bytes(), Some(3 * GIB));
    let mut w = MemWatch::new(p);
    assert_eq!(
        w.observe(0, 3 * GIB, 3 * GIB, 0),
        [
            MemoryChange::HighMemory {
                current_bytes: 3 * GIB,
                warn_bytes: GIB,
                max_bytes: None,
                peak_bytes: 3 * GIB,
            },
            MemoryChange::CriticalMemory {
                current_bytes: 3 * GIB,
                critical_bytes: 3 * GIB,
                max_bytes: None,
                peak_bytes: 3 * GIB,
            },
        ]
    );
    // With a hard limit of 10 GiB, the lower of 9 GiB and 3 GiB counts.
    let p = MemoryPolicy {
        critical_at: Some(3 * GIB),
        ..policy(None, Some(10 * GIB))
    };
    assert_eq!(p.critical_bytes(), Some(3 * GIB));
}

#[test]
fn oom_kills_counted_when_the_count_grows() {
    let mut w = MemWatch::new(policy(None, Some(GIB)));
    assert!(w.observe(0, 0, 0, 0).is_empty());
    assert_eq!(
        w.observe(1, 0, GIB, 1),
        [MemoryChange::OomKill {
            oom_kills: 1,
            max_bytes: Some(GIB),
        }]
    );
    assert!(w.observe(2, 0, GIB, 1).is_empty());
    assert_eq!(
        w.observe(3, 0, GIB, 3),
        [MemoryChange::OomKill {
            oom_kills: 3,
            max_bytes: Some(GIB),
        }]
    );
    assert_eq!(w.oom_kills(), 3);
    // A new cgroup starts from 0 again.
    assert!(w.observe(4, 0, 0, 0).is_empty());
    assert_eq!(kinds(&w.observe(5, 0, 0, 1)), [EventKind::OomKill]);
    // After a daemon restart, kills already reported stay reported.
    let mut w = MemWatch::resume(policy(None, None), 2);
    assert!(w.observe(0, 0, 0, 2).is_empty());
    assert_eq!(kinds(&w.observe(1, 0, 0, 3)), [EventKind::OomKill]);
}

#[test]
fn no_thresholds_no_memory_events() {
    let mut w = MemWatch::new(MemoryPolicy::default());
    for t in 0..1000 {
        assert!(w.observe(t, (t as u64) * GIB, u64::MAX, 0).is_empty());
    }
}

/// A sawtooth over a simulated day: memory climbs for 50 min and falls
/// back, sampled every second. One warning per tooth, never more.
#[test]
fn sawtooth_day_warns_once_per_tooth() {
    let warn = GIB;
    let mut w = MemWatch::new(policy(Some(warn), None));
    let tooth_s = 50 * 60;
    let mut high = 0;
    for s in 0..24 * 3600 {
        // From 512 MiB to 1.5 GiB and back, with sampling noise.
        let phase = (s % tooth_s) as u64;
        let noise = (s as u64 * 7919 % 17) * MIB;
        let current = 512 * MIB + phase * GIB / tooth_s as u64 + noise;
        high += w.observe(s * 1000, current, 2 * GIB, 0).len();
    }
    assert_eq!(high, 24 * 3600 / tooth_s as usize + 1);
}

#[test]
fn limits_checked() {
    assert_eq!(check_limits(Some(GIB), Some(2 * GIB)), Ok(()));
    assert_eq!(check_limits(Some(GIB), Some(GIB)), Ok(()));
    assert_eq!(check_limits(None, Some(GIB)), Ok(()));
    assert_eq!(check_limits(Some(GIB), None), Ok(()));
    assert_eq!(
        check_limits(Some(5 * GIB), Some(4 * GIB)).unwrap_err(),
        "the memory warning level 5 GiB is above the memory limit 4 GiB: \
         the soft limit must be at most the hard one"
    );
    let err = check_limits(Some(4 * GIB + 1), Some(4 * GIB)).unwrap_err();
    assert!(
        err.contains("4294967297 bytes is above the memory limit 4294967296 bytes"),
        "{err}"
    );
    assert!(policy(Some(5 * GIB), Some(4 * GIB)).validate().is_err());
    assert_eq!(policy(Some(GIB), Some(4 * GIB)).validate(), Ok(()));
    for f in [0.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
        let p = MemoryPolicy {
            critical_fraction: f,
            ..policy(None, Some(GIB))
        };
        assert!(p
            .validate()
            .unwrap_err()
            .contains("critical memory fraction"));
        // Unvalidated, it counts as 1: critical at the limit itself.
        assert_eq!(p.critical_bytes(), Some(GIB), "{f}");
    }
    let p = MemoryPolicy {
        critical_fraction: 1.0,
        ..policy(None, Some(GIB))
    };
    assert_eq!(p.validate(), Ok(()));
    assert_eq!(policy(None, Some(1)).critical_bytes(), Some(1));
    assert_eq!(policy(None, None).critical_bytes(), None);
}

#[test]
fn kill_reasons_in_words() {
    assert_eq!(
        kill_reason(Some(4 * GIB)),
        "killed by the kernel: memory limit 4 GiB reached"
    );
    assert_eq!(
        kill_reason(Some(1536 * MIB)),
        "killed by the kernel: memory limit 1.5 GiB reached"
    );
    assert_eq!(kill_reason(None), "killed by the kernel: out of memory");
}

#[test]
fn changes_become_events() {
    let change = MemoryChange::CriticalMemory {
        current_bytes: 3900 * MIB,
        critical_bytes: 3686 * MIB,
        max_bytes: Some(4 * GIB),
        peak_bytes: 3950 * MIB,
    };
    let event = change.event(42, 2, 99);
    assert_eq!(event.kind, EventKind::CriticalMemory);
    assert_eq!((event.task, event.attempt, event.at_ms), (42, Some(2), 99));
    assert_eq!(
        event.detail,
        EventDetail::Memory(MemoryDetail {
            current_bytes: 3900 * MIB,
            threshold_bytes: 3686 * MIB,
            limit_bytes: Some(4 * GIB),
            peak_bytes: 3950 * MIB,
        })
    );
    assert_eq!(
        event.message(),
        "task 42 critical memory: 3.8 GiB in use, over 3.6 GiB (limit 4 GiB, peak 3.9 GiB)"
    );
    let oom = MemoryChange::OomKill {
        oom_kills: 1,
        max_bytes: Some(4 * GIB),
    }
    .event(42, 2, 99);
    assert_eq!(oom.kind, EventKind::OomKill);
    assert_eq!(oom.kind.journal_priority(), 3);
    let high = MemoryChange::HighMemory {
        current_bytes: GIB,
        warn_bytes: GIB,
        max_bytes: None,
        peak_bytes: GIB,
    }
    .event(1, 1, 0);
    assert_eq!(
        high.message(),
        "task 1 high memory: 1 GiB in use, over 1 GiB (peak 1 GiB)"
    );
}
