//! What the Prometheus endpoint shows: counters the actor keeps, and the
//! snapshot it renders once a tick when `metrics_listen` is set (the endpoint
//! itself, in `prom_server.rs`, only reads the rendered text).

use super::actor::Actor;
use super::prom::{render, HostMetrics, MetricsSnapshot, TaskMetrics};
use crate::core::Priority;
use std::collections::BTreeMap;

/// Counts since the daemon started.
#[derive(Debug, Default)]
pub struct Counters {
    events: BTreeMap<&'static str, u64>,
    /// start, wait, measure.
    admissions: [u64; 3],
}

impl Counters {
    pub fn event(&mut self, name: &'static str) {
        *self.events.entry(name).or_default() += 1;
    }

    pub fn decision(&mut self, d: &crate::core::scheduler::Decision) {
        let i = if d.start.is_some() {
            0
        } else if d.measure_at.is_some() {
            2
        } else {
            1
        };
        self.admissions[i] += 1;
    }
}

impl Actor {
    /// Render the metrics for the endpoint (when it is on).
    pub(super) fn publish_metrics(&self) {
        let Some(tx) = &self.metrics else { return };
        tx.send_replace(render(&self.snapshot()));
    }

    fn snapshot(&self) -> MetricsSnapshot {
        // Kept as tasks change state: no walk over the (maybe huge) queue.
        let queued =
            [Priority::P0, Priority::P1, Priority::P2].map(|p| self.queued_counts.get(p) as u64);
        // From the monitor's latest reading: no file is read here.
        let mut tasks = Vec::new();
        for (id, w) in &self.monitor.watches {
            let Some(t) = self.tasks.get(id) else {
                continue;
            };
            let r = &w.latest;
            tasks.push(TaskMetrics {
                id: t.id,
                user: t.owner_name.clone(),
                memory_bytes: r.memory_current.unwrap_or(0),
                memory_peak_bytes: r.memory_peak.unwrap_or(0),
                cpu_usage_seconds: r.cpu.map_or(0, |c| c.usage_usec) as f64 / 1e6,
                pids: r.pids.unwrap_or(0),
                output_bytes: r.output.bytes,
            });
        }
        tasks.sort_by_key(|t| t.id);
        let c = &self.counters;
        MetricsSnapshot {
            queued_by_priority: queued,
            running: self.active.len() as u64,
            tasks,
            events_total: c.events.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            admissions: ["start", "wait", "measure"]
                .iter()
                .zip(c.admissions)
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            scheduler: (self.sched.ceiling > 0).then(|| super::prom::SchedMetrics {
                reserved_bytes: self.sched.ledger.outstanding(),
                slice_ceiling_bytes: self.sched.ceiling,
                slice_memory_bytes: self.sched.slice_usage,
                soft_max: self.cfg.sched.soft_max as u64,
                hard_max: self.cfg.sched.hard_max as u64,
            }),
            host: self.sample.map(|s| HostMetrics {
                cpu_busy_ratio: s.cpu_busy_percent / 100.0,
                mem_available_bytes: s.mem_available_bytes,
                mem_total_bytes: s.mem_total_bytes,
                pressure_some_avg10: [
                    ("cpu", self.pressure.cpu),
                    ("memory", self.pressure.memory),
                    ("io", self.pressure.io),
                ]
                .into_iter()
                .filter_map(|(r, p)| Some((r, p?.some.avg10)))
                .collect(),
            }),
            hooks: self.hooks.stats(),
        }
    }
}
