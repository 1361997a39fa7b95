//! Tests of the bounded metrics history on simulated hours and days.

use super::*;

const S: i64 = 1000;
const MIN: i64 = 60 * S;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

/// The simulated task at second `s`: memory saw-tooths with a spike at
/// second 17 of every minute, CPU runs at 50% of a core, output grows by
/// 100 bytes a second, pids vary.
fn sample(start: i64, s: i64) -> Sample {
    Sample {
        at_ms: start + s * S,
        memory_bytes: if s % 60 == 17 {
            1 << 30
        } else {
            (100 + (s % 600) as u64) << 20
        },
        cpu_usage_usec: s as u64 * 500_000,
        pids: 1 + (s % 7) as u64,
        output_bytes: s as u64 * 100,
    }
}

fn assert_well_formed(h: &History) -> Vec<Sample> {
    let points = h.points();
    assert_eq!(points.len(), h.len());
    assert!(
        h.len() <= h.max_points(),
        "{} > {}",
        h.len(),
        h.max_points()
    );
    for w in points.windows(2) {
        assert!(w[0].at_ms < w[1].at_ms, "{:?}", w);
        assert!(w[0].cpu_usage_usec <= w[1].cpu_usage_usec);
        assert!(w[0].output_bytes <= w[1].output_bytes);
    }
    assert_eq!(points.last(), h.latest());
    points
}

#[test]
fn three_days_at_one_second_stay_bounded_and_right() {
    let start = 1_700_000_000_000 - 1_700_000_000_000 % MIN; // minute-aligned
    let mut h = History::new(HistoryPolicy::default());
    let mut biggest = 0;
    for s in 0..3 * DAY / S {
        assert!(h.push(sample(start, s)));
        biggest = biggest.max(h.len());
    }
    assert_eq!(h.max_points(), 602 + 10_080);
    assert!(biggest <= h.max_points());
    let points = assert_well_formed(&h);
    let now = start + 3 * DAY - S;
    // The last 10 minutes at 1 s.
    let fine: Vec<_> = points
        .iter()
        .filter(|p| p.at_ms >= now - 10 * MIN)
        .collect();
    assert_eq!(fine.len(), 601);
    assert!(fine
        .iter()
        .all(|p| **p == sample(start, (p.at_ms - start) / S)));
    // Before that, one point a minute, at the minute's last second.
    let coarse: Vec<_> = points.iter().filter(|p| p.at_ms < now - 10 * MIN).collect();
    assert_eq!(coarse.len(), points.len() - 601);
    assert_eq!(coarse.len() as i64, (3 * DAY - 10 * MIN) / MIN);
    for (i, p) in coarse.iter().enumerate() {
        let s = (p.at_ms - start) / S;
        // The last minute is still filling; the others end at second 59.
        let last_second = if i + 1 == coarse.len() { 58 } else { 59 };
        assert_eq!(s % 60, last_second, "{p:?}");
        // Counters: their value at that second. Gauges: the minute's max.
        assert_eq!(p.cpu_usage_usec, s as u64 * 500_000);
        assert_eq!(p.output_bytes, s as u64 * 100);
        assert_eq!(p.memory_bytes, 1 << 30, "the spike survives");
        assert_eq!(p.pids, 7);
    }
}

#[test]
fn ten_days_drop_the_oldest_coarse_points() {
    let policy = HistoryPolicy::default();
    let mut h = History::new(policy);
    for s in (0..10 * DAY / S).step_by(5) {
        h.push(sample(0, s));
    }
    let points = assert_well_formed(&h);
    assert_eq!(h.len(), 10_080 + 121); // 5 s samples: 121 fine points
    let oldest = points[0].at_ms;
    let newest = points.last().unwrap().at_ms;
    assert!(newest - oldest <= 7 * DAY + 10 * MIN + MIN);
    assert!(newest - oldest >= 7 * DAY);
}

#[test]
fn jitter_and_bursts_merge_into_one_point_per_interval() {
    let mut h = History::new(HistoryPolicy::default());
    // Ten samples within one second: one point, the last counters, the max
    // memory.
    for i in 0..10 {
        let mut s = sample(0, 0);
        s.at_ms = 5000 + i * 90;
        s.memory_bytes = if i == 3 { 999 } else { 10 };
        s.cpu_usage_usec = i as u64;
        h.push(s);
    }
    assert_eq!(h.len(), 1);
    let p = h.points()[0];
    assert_eq!((p.at_ms, p.memory_bytes, p.cpu_usage_usec), (5810, 999, 9));
    // A sampler running late or early by up to half a second.
    let mut h = History::new(HistoryPolicy::default());
    for s in 0..3600 {
        let jitter = [0, 400, -300, 499, -499][s as usize % 5];
        h.push(sample(0, s).with_at(s * S + 500 + jitter));
    }
    assert_well_formed(&h);
    assert!(h.len() <= 602 + 51, "{}", h.len());
}

#[test]
fn clock_going_back_drops_the_sample() {
    let mut h = History::new(HistoryPolicy::default());
    assert!(h.push(sample(0, 100)));
    assert!(!h.push(sample(0, 50)));
    assert!(h.push(sample(0, 100)), "same time merges");
    assert!(h.push(sample(0, 101)));
    assert_eq!(h.len(), 2);
    // A jump far forward folds the whole fine window at once.
    assert!(h.push(sample(0, 100_000)));
    assert_well_formed(&h);
    assert_eq!(h.len(), 2);
}

#[test]
fn restore_rebuilds_the_same_history() {
    let mut h = History::new(HistoryPolicy::default());
    for s in 0..2 * DAY / S {
        h.push(sample(7, s));
    }
    let back = History::restore(HistoryPolicy::default(), h.points());
    assert_eq!(back, h);
    // And both go on the same way.
    let mut h2 = back.clone();
    for s in 2 * DAY / S..2 * DAY / S + 3600 {
        h.push(sample(7, s));
        h2.push(sample(7, s));
    }
    assert_eq!(h, h2);
}

#[test]
fn small_or_odd_policies_stay_bounded() {
    let policy = HistoryPolicy {
        fine_interval_ms: 0,
        fine_window_ms: -5,
        coarse_interval_ms: 0,
        max_coarse_points: 3,
    };
    let mut h = History::new(policy);
    for s in 0..1000 {
        h.push(sample(0, s));
    }
    assert_well_formed(&h);
    assert_eq!(h.len(), 4);
    assert_eq!(h.policy().fine_interval_ms, 1);
    let mut h = History::new(HistoryPolicy {
        max_coarse_points: 0,
        ..HistoryPolicy::default()
    });
    for s in 0..DAY / S {
        h.push(sample(0, s));
    }
    assert_eq!(h.len(), 601);
}

#[test]
fn rates_between_points_fine_and_coarse() {
    let mut h = History::new(HistoryPolicy::default());
    for s in 0..2 * HOUR / S {
        h.push(sample(0, s));
    }
    let points = h.points();
    let between = rates(&points);
    assert_eq!(between.len(), points.len() - 1);
    for r in &between {
        assert!((r.cpu_percent - 50.0).abs() < 1e-9, "{r:?}");
        assert!((r.output_bytes_per_sec - 100.0).abs() < 1e-9, "{r:?}");
        assert!(r.from_ms < r.to_ms);
    }
    assert!(rates(&points[..1]).is_empty());
    assert!(rates(&[]).is_empty());
}

#[test]
fn rates_treat_a_counter_going_down_as_a_reset() {
    let at = |t: i64, cpu: u64, out: u64| Sample {
        at_ms: t,
        cpu_usage_usec: cpu,
        output_bytes: out,
        ..Sample::default()
    };
    let r = rates(&[
        at(0, 9_000_000, 5000),
        at(2000, 500_000, 1000), // new attempt: counters restart
        at(2000, 600_000, 1000), // no time passed: skipped
        at(4000, 4_500_000, 1000),
    ]);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].cpu_percent, 25.0);
    assert_eq!(r[0].output_bytes_per_sec, 500.0);
    assert_eq!((r[1].from_ms, r[1].to_ms), (2000, 4000));
    assert_eq!(r[1].cpu_percent, 195.0);
    assert_eq!(cpu_percent(1_000_000, 1000), Some(100.0));
    assert_eq!(cpu_percent(1, 0), None);
    assert_eq!(cpu_percent(1, -5), None);
}

impl Sample {
    fn with_at(mut self, at_ms: i64) -> Sample {
        self.at_ms = at_ms;
        self
    }
}
