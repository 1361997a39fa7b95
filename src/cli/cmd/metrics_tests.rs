use super::*;
use crate::core::{Sample, TaskState};

const MIB: u64 = 1 << 20;

fn sample(at_s: i64, memory_mib: u64, cpu_ms: u64, pids: u64, output: u64) -> Sample {
    Sample {
        at_ms: 1_700_000_000_000 + at_s * 1000,
        memory_bytes: memory_mib * MIB,
        cpu_usage_usec: cpu_ms * 1000,
        pids,
        output_bytes: output,
    }
}

fn view(samples: &[Sample]) -> MetricsView {
    MetricsView::new(42, TaskState::Running, samples)
}

#[test]
fn empty_history_says_why() {
    let v = MetricsView::new(42, TaskState::Queued, &[]);
    let want = format!("task 42 (queued)\n{NO_SAMPLES}\n");
    assert_eq!(summary(&v, 80, &chrono::Utc), want);
    assert_eq!(table(&v, &chrono::Utc), want);
}

#[test]
fn one_point_has_gauges_but_no_rate() {
    let v = view(&[sample(0, 12, 0, 3, 0)]);
    let want = "\
task 42 (running): 1 point, at 2023-11-14 22:13:20
memory    █  min 12 MiB  max 12 MiB  last 12 MiB
CPU %        no rate yet: it takes two points
pids      █  min 3  max 3  last 3
output       no rate yet: it takes two points
";
    assert_eq!(summary(&v, 80, &chrono::Utc), want);
}

#[test]
fn a_few_points_one_column_each() {
    let v = view(&[
        sample(0, 10, 0, 1, 0),
        sample(1, 20, 500, 2, 1024),
        sample(2, 40, 1500, 4, 3072),
        sample(3, 80, 3500, 8, 3072),
    ]);
    let want = "\
task 42 (running): 4 points over 3 s, 2023-11-14 22:13:20 to 2023-11-14 22:13:23
memory    ▁▂▄█  min 10 MiB  max 80 MiB  last 80 MiB
CPU %     ▂▄█   min 50%  max 200%  last 200%
pids      ▁▂▄█  min 1  max 8  last 8
output    ▄█▁   min 0 B/s  max 2 KiB/s  last 0 B/s
";
    assert_eq!(summary(&v, 80, &chrono::Utc), want);
}

#[test]
fn long_histories_are_bucketed_to_the_terminal() {
    // 200 points: memory climbs, one spike of pids in the middle.
    let samples: Vec<Sample> = (0..200)
        .map(|i| {
            sample(
                i,
                1 + i as u64,
                i as u64 * 100,
                1 + u64::from(i == 101) * 99,
                0,
            )
        })
        .collect();
    let v = view(&samples);
    let text = summary(&v, 100, &chrono::Utc);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    let spark = |line: &str| -> String {
        line[LABEL_WIDTH + 2..]
            .chars()
            .take_while(|c| !c.is_ascii())
            .collect()
    };
    let widths: Vec<usize> = lines[1..]
        .iter()
        .map(|l| spark(l).chars().count())
        .collect();
    // Every series gets the same width, what is left of 100 columns.
    assert!(widths.iter().all(|&w| w == widths[0]), "{text}");
    assert!(widths[0] >= MIN_SPARK_WIDTH && widths[0] < 100, "{text}");
    assert!(lines.iter().all(|l| l.chars().count() <= 100), "{text}");
    // The pids spike survives bucketing (max), exactly once.
    assert_eq!(spark(lines[3]).matches('█').count(), 1, "{text}");
    // A narrow terminal still gets the minimum width.
    let narrow = summary(&v, 30, &chrono::Utc);
    let memory = narrow.lines().nth(1).unwrap();
    assert_eq!(spark(memory).chars().count(), MIN_SPARK_WIDTH, "{narrow}");
    assert!(spark(memory).ends_with('█'));
}

/// A new attempt starts its counters from zero: the rate after the reset
/// counts from there instead of going negative.
#[test]
fn a_counter_reset_between_attempts_reads_as_a_restart() {
    let v = view(&[
        sample(0, 10, 0, 1, 0),
        sample(10, 10, 5000, 1, 10_240),
        sample(20, 10, 1000, 1, 2048),
    ]);
    let cpu: Vec<_> = v.points.iter().map(|p| p.cpu_percent).collect();
    assert_eq!(cpu, vec![None, Some(50.0), Some(10.0)]);
    let text = summary(&v, 80, &chrono::Utc);
    assert!(text.contains("min 10%  max 50%  last 10%"), "{text}");
    assert!(
        text.contains("min 205 B/s  max 1 KiB/s  last 205 B/s"),
        "{text}"
    );
}

#[test]
fn table_lists_every_point_aligned_newest_last() {
    let v = view(&[sample(0, 10, 0, 1, 0), sample(1, 1536, 1500, 12, 1 << 20)]);
    let want = "\
TIME                  MEMORY  CPU %  PIDS  OUTPUT/S
2023-11-14 22:13:20   10 MiB      -     1         -
2023-11-14 22:13:21  1.5 GiB   150%    12   1 MiB/s
";
    assert_eq!(table(&v, &chrono::Utc), want);
}

#[test]
fn figures_read_in_human_units() {
    assert_eq!(percent(0.25), "0.2%");
    assert_eq!(percent(9.96), "10%");
    assert_eq!(percent(195.4), "195%");
    assert_eq!(per_second(1536.0), "1.5 KiB/s");
    assert_eq!(per_second(-1.0), "0 B/s");
}
