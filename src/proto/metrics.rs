//! `GET /v1/tasks/{id}/metrics`: a task's metrics history.
//!
//! The answer is one JSON object, the points oldest first:
//!
//! ```json
//! {"task": 42, "state": "running", "points": [
//!   {"at": "2026-11-24T13:50:01.000Z", "at_ms": 1795528201000,
//!    "memory_bytes": 52428800, "cpu_usage_usec": 1200000, "pids": 3,
//!    "output_bytes": 4096, "cpu_percent": null, "output_bytes_per_sec": null},
//!   {"at": "2026-11-24T13:50:02.000Z", "at_ms": 1795528202000,
//!    "memory_bytes": 54525952, "cpu_usage_usec": 2100000, "pids": 3,
//!    "output_bytes": 6144, "cpu_percent": 90.0, "output_bytes_per_sec": 2048.0}]}
//! ```
//!
//! A point is one [`Sample`] of the task's scope: `memory_bytes`
//! (`memory.current`) and `pids` (`pids.current`) are gauges,
//! `cpu_usage_usec` (`cpu.stat`) and `output_bytes` are counters since the
//! attempt started. Points older than ten minutes are folded to one a
//! minute (gauges keep the bucket's maximum, counters the last value; see
//! `core::history`). `cpu_percent` (100 = one core) and
//! `output_bytes_per_sec` are the rates since the previous point, `null`
//! on the first one; a counter that went down (a new attempt) counts from
//! zero. A task that has not run has no points.

use crate::core::history::{rates, Sample};
use crate::core::{TaskId, TaskState};
use serde::{Deserialize, Serialize};

/// A task's metrics history (see the module documentation for the JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsView {
    pub task: TaskId,
    pub state: TaskState,
    /// Oldest first, times strictly increasing.
    pub points: Vec<MetricsPoint>,
}

/// One point: the sample's figures and the rates since the point before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsPoint {
    /// RFC 3339, UTC, milliseconds (`2026-11-24T13:50:01.000Z`).
    pub at: String,
    pub at_ms: i64,
    pub memory_bytes: u64,
    pub cpu_usage_usec: u64,
    pub pids: u64,
    pub output_bytes: u64,
    /// CPU share since the previous point, 100 = one core.
    pub cpu_percent: Option<f64>,
    pub output_bytes_per_sec: Option<f64>,
}

impl MetricsView {
    /// The view of `samples` (oldest first, as the store gives them).
    pub fn new(task: TaskId, state: TaskState, samples: &[Sample]) -> MetricsView {
        let points = samples
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let rate = i
                    .checked_sub(1)
                    .and_then(|prev| rates(&samples[prev..=i]).first().copied());
                MetricsPoint {
                    at: crate::core::events::rfc3339_ms(s.at_ms),
                    at_ms: s.at_ms,
                    memory_bytes: s.memory_bytes,
                    cpu_usage_usec: s.cpu_usage_usec,
                    pids: s.pids,
                    output_bytes: s.output_bytes,
                    cpu_percent: rate.map(|r| r.cpu_percent),
                    output_bytes_per_sec: rate.map(|r| r.output_bytes_per_sec),
                }
            })
            .collect();
        MetricsView {
            task,
            state,
            points,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: i64, cpu_usage_usec: u64, output_bytes: u64) -> Sample {
        Sample {
            at_ms,
            memory_bytes: 1 << 20,
            cpu_usage_usec,
            pids: 2,
            output_bytes,
        }
    }

    #[test]
    fn points_carry_their_time_and_the_rates_since_the_previous_one() {
        let samples = [
            sample(0, 0, 0),
            sample(1000, 500_000, 2048),
            // A new attempt: the counters start again from zero.
            sample(3000, 200_000, 100),
        ];
        let v = MetricsView::new(42, TaskState::Running, &samples);
        assert_eq!(v.points.len(), 3);
        assert_eq!(v.points[0].at, "1970-01-01T00:00:00.000Z");
        assert_eq!(
            (v.points[0].cpu_percent, v.points[0].output_bytes_per_sec),
            (None, None)
        );
        assert_eq!(v.points[1].cpu_percent, Some(50.0));
        assert_eq!(v.points[1].output_bytes_per_sec, Some(2048.0));
        assert_eq!(v.points[2].cpu_percent, Some(10.0));
        assert_eq!(v.points[2].output_bytes_per_sec, Some(50.0));
    }

    #[test]
    fn the_wire_form_is_stable() {
        let v = MetricsView::new(7, TaskState::Succeeded, &[sample(1000, 3, 4)]);
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"task": 7, "state": "succeeded", "points": [{
                "at": "1970-01-01T00:00:01.000Z", "at_ms": 1000,
                "memory_bytes": 1048576, "cpu_usage_usec": 3, "pids": 2,
                "output_bytes": 4, "cpu_percent": null, "output_bytes_per_sec": null
            }]})
        );
        let back: MetricsView = serde_json::from_value(json).unwrap();
        assert_eq!(back, v);
        let empty = MetricsView::new(7, TaskState::Queued, &[]);
        assert_eq!(
            serde_json::to_string(&empty).unwrap(),
            r#"{"task":7,"state":"queued","points":[]}"#
        );
    }
}
