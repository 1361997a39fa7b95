//! The Prometheus endpoint, off by default: a pure renderer of a
//! [`MetricsSnapshot`] in the text exposition format 0.0.4 ([`render`]),
//! and a small HTTP server that answers `GET /metrics` with the latest
//! rendered text ([`MetricsServer`]).
//!
//! The server never touches daemon state. Whoever owns the figures (the
//! actor, with the samplers' latest readings) builds a snapshot, renders it
//! and publishes the text on a `tokio::sync::watch` channel, at its own
//! pace (each tick, say); a scrape costs the daemon a clone of that text.
//!
//! What is exported (every name prefixed `claudine_`, counters end `_total`):
//! `build_info{version}`, `tasks_queued{priority}`, `tasks_running`; per task
//! (labels `task`, `user`) `task_memory_bytes`, `task_memory_peak_bytes`,
//! `task_cpu_seconds_total`, `task_pids`, `task_output_bytes_total`;
//! `events_total{event}`, `admission_decisions_total{decision}`;
//! `host_cpu_busy_ratio`, `host_memory_available_bytes`,
//! `host_memory_total_bytes`, `host_pressure_some_ratio` (label `resource`);
//! the scheduler's `memory_reserved_bytes`, `slice_memory_max_bytes`,
//! `slice_memory_bytes`, `tasks_soft_max`, `tasks_hard_max`; per hook (labels `hook`, `program`)
//! `hook_runs_total`, `hook_failures_total`, `hook_timeouts_total`,
//! `hook_dropped_events_total`. Label values are escaped (user names are
//! untrusted text).
//!
//! The server's limits: at most [`MAX_CONNECTIONS`] connections at once,
//! request headers within [`HEADER_TIMEOUT`] and 8 KiB, one request per
//! connection (no keep-alive), every connection closed after
//! [`CONNECTION_TIMEOUT`]; request bodies are never read.

use super::hooks::HookStats;
use std::fmt::Write as _;

#[path = "prom_server.rs"]
mod server;
pub use server::{
    MetricsServer, PromError, CONNECTION_TIMEOUT, CONTENT_TYPE, HEADER_TIMEOUT, MAX_CONNECTIONS,
};

/// Everything the endpoint shows, gathered at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// Queued tasks by priority: P0, P1, P2.
    pub queued_by_priority: [u64; 3],
    /// Tasks starting or running.
    pub running: u64,
    /// One entry per running task, ids unique.
    pub tasks: Vec<TaskMetrics>,
    /// Events emitted since the daemon started, by event name
    /// (`"task:stalled"`), each name once.
    pub events_total: Vec<(String, u64)>,
    /// Admission decisions since the daemon started, by decision (`"start"`,
    /// `"wait"`, `"measure"`), each once.
    pub admissions: Vec<(String, u64)>,
    /// The latest host sample; `None` before the first one (nothing is
    /// exported rather than zeros that would look like a measurement).
    pub host: Option<HostMetrics>,
    /// The hooks' counters ([`super::hooks::Hooks::stats`]).
    pub hooks: Vec<HookStats>,
    /// The scheduler's figures; `None` before the first host sample.
    pub scheduler: Option<SchedMetrics>,
}

/// What admission counts with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchedMetrics {
    /// Reserved by started tasks beyond what they use yet.
    pub reserved_bytes: u64,
    /// `MemoryMax` given to the tasks' slice (RAM less the reserve).
    pub slice_ceiling_bytes: u64,
    /// The slice's `memory.current`, if read.
    pub slice_memory_bytes: Option<u64>,
    pub soft_max: u64,
    pub hard_max: u64,
}

/// One running task, from its scope's cgroup and its log files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskMetrics {
    pub id: i64,
    /// The owner's name (untrusted text: escaped when rendered).
    pub user: String,
    /// `memory.current`.
    pub memory_bytes: u64,
    /// `memory.peak`.
    pub memory_peak_bytes: u64,
    /// `cpu.stat` `usage_usec`, in seconds (of this attempt's scope).
    pub cpu_usage_seconds: f64,
    /// `pids.current`.
    pub pids: u64,
    /// Bytes written to the task's stdout and stderr logs.
    pub output_bytes: u64,
}

/// The host, from procfs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostMetrics {
    /// Share of CPU time busy over the last sampling window, 0 to 1.
    pub cpu_busy_ratio: f64,
    /// `MemAvailable`.
    pub mem_available_bytes: u64,
    /// `MemTotal`.
    pub mem_total_bytes: u64,
    /// `some avg10` of `/proc/pressure/{cpu,memory,io}` in percent, where the
    /// kernel has PSI.
    pub pressure_some_avg10: Vec<(&'static str, f64)>,
}

/// `s` in the Prometheus text exposition format 0.0.4: each family with its
/// `# HELP` and `# TYPE` lines, then its samples, in a fixed order (tasks,
/// events, decisions and hooks in the order given).
pub fn render(s: &MetricsSnapshot) -> String {
    let mut o = Out(String::with_capacity(2048 + 1024 * s.tasks.len()));
    let version = env!("CARGO_PKG_VERSION");
    o.family(
        "build_info",
        "gauge",
        "claudined's version (label); always 1",
    );
    o.sample("build_info", &[("version", version)], 1u64);
    o.family(
        "tasks_queued",
        "gauge",
        "Tasks waiting to start, by priority",
    );
    for (p, n) in ["P0", "P1", "P2"].iter().zip(s.queued_by_priority) {
        o.sample("tasks_queued", &[("priority", p)], n);
    }
    o.family("tasks_running", "gauge", "Tasks starting or running");
    o.sample("tasks_running", &[], s.running);

    type Field = fn(&TaskMetrics) -> Value;
    let per_task: [(&str, &str, &str, Field); 5] = [
        (
            "task_memory_bytes",
            "gauge",
            "Memory of the task's scope (memory.current)",
            |t| Value::U(t.memory_bytes),
        ),
        (
            "task_memory_peak_bytes",
            "gauge",
            "Peak memory of the task's scope (memory.peak)",
            |t| Value::U(t.memory_peak_bytes),
        ),
        (
            "task_cpu_seconds_total",
            "counter",
            "CPU time used by the task's scope (cpu.stat usage_usec)",
            |t| Value::F(t.cpu_usage_seconds),
        ),
        (
            "task_pids",
            "gauge",
            "Processes and threads in the task's scope (pids.current)",
            |t| Value::U(t.pids),
        ),
        (
            "task_output_bytes_total",
            "counter",
            "Bytes the task wrote to stdout and stderr",
            |t| Value::U(t.output_bytes),
        ),
    ];
    for (name, kind, help, field) in per_task {
        o.family(name, kind, help);
        for t in &s.tasks {
            let id = t.id.to_string();
            o.sample(name, &[("task", &id), ("user", &t.user)], field(t));
        }
    }

    o.family("events_total", "counter", "Events emitted, by event name");
    for (event, n) in &s.events_total {
        o.sample("events_total", &[("event", event)], *n);
    }
    let name = "admission_decisions_total";
    o.family(name, "counter", "Admission decisions, by decision");
    for (decision, n) in &s.admissions {
        o.sample(name, &[("decision", decision)], *n);
    }

    if let Some(h) = &s.host {
        let busy = "Share of the host's CPU time busy over the last window (0 to 1)";
        o.family("host_cpu_busy_ratio", "gauge", busy);
        o.sample("host_cpu_busy_ratio", &[], h.cpu_busy_ratio);
        let avail = "MemAvailable of the host";
        o.family("host_memory_available_bytes", "gauge", avail);
        o.sample("host_memory_available_bytes", &[], h.mem_available_bytes);
        o.family("host_memory_total_bytes", "gauge", "MemTotal of the host");
        o.sample("host_memory_total_bytes", &[], h.mem_total_bytes);
        if !h.pressure_some_avg10.is_empty() {
            let help = "Share of time some tasks stalled on the resource over 10 s (PSI, 0 to 1)";
            o.family("host_pressure_some_ratio", "gauge", help);
            for (resource, pct) in &h.pressure_some_avg10 {
                o.sample(
                    "host_pressure_some_ratio",
                    &[("resource", resource)],
                    pct / 100.0,
                );
            }
        }
    }

    if let Some(m) = &s.scheduler {
        let gauges: [(&str, &str, Option<u64>); 5] = [
            (
                "memory_reserved_bytes",
                "Memory reserved by started tasks beyond what they use yet",
                Some(m.reserved_bytes),
            ),
            (
                "slice_memory_max_bytes",
                "MemoryMax of claudine.slice: RAM less the reserve",
                Some(m.slice_ceiling_bytes),
            ),
            (
                "slice_memory_bytes",
                "memory.current of claudine.slice (every task together)",
                m.slice_memory_bytes,
            ),
            (
                "tasks_soft_max",
                "Soft maximum of tasks at once (above it: a warning event)",
                Some(m.soft_max),
            ),
            (
                "tasks_hard_max",
                "Hard maximum of tasks at once (never passed)",
                Some(m.hard_max),
            ),
        ];
        for (name, help, v) in gauges {
            if let Some(v) = v {
                o.family(name, "gauge", help);
                o.sample(name, &[], v);
            }
        }
    }

    type HookField = fn(&HookStats) -> u64;
    let per_hook: [(&str, &str, HookField); 4] = [
        ("hook_runs_total", "Runs of the hook started", |h| h.fired),
        (
            "hook_failures_total",
            "Runs of the hook that failed (timeouts not included)",
            |h| h.failed,
        ),
        (
            "hook_timeouts_total",
            "Runs of the hook killed at its timeout",
            |h| h.timed_out,
        ),
        (
            "hook_dropped_events_total",
            "Events the hook missed because its queue was full",
            |h| h.dropped,
        ),
    ];
    for (name, help, field) in per_hook {
        o.family(name, "counter", help);
        for h in &s.hooks {
            let index = h.index.to_string();
            o.sample(name, &[("hook", &index), ("program", &h.program)], field(h));
        }
    }
    o.0
}

enum Value {
    U(u64),
    F(f64),
}

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::U(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::F(v)
    }
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        self.0.push_str("# HELP claudine_");
        self.0.push_str(name);
        self.0.push(' ');
        for c in help.chars() {
            match c {
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                c => self.0.push(c),
            }
        }
        _ = writeln!(self.0, "\n# TYPE claudine_{name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Into<Value>) {
        self.0.push_str("claudine_");
        self.0.push_str(name);
        for (i, (key, v)) in labels.iter().enumerate() {
            self.0.push_str(if i == 0 { "{" } else { "," });
            self.0.push_str(key);
            self.0.push_str("=\"");
            for c in v.chars() {
                match c {
                    '\\' => self.0.push_str("\\\\"),
                    '"' => self.0.push_str("\\\""),
                    '\n' => self.0.push_str("\\n"),
                    c => self.0.push(c),
                }
            }
            self.0.push('"');
        }
        if !labels.is_empty() {
            self.0.push('}');
        }
        _ = match value.into() {
            Value::U(v) => writeln!(self.0, " {v}"),
            Value::F(v) if v.is_nan() => writeln!(self.0, " NaN"),
            Value::F(v) if v.is_infinite() => {
                writeln!(self.0, " {}Inf", if v > 0.0 { '+' } else { '-' })
            }
            Value::F(v) => writeln!(self.0, " {v}"),
        };
    }
}

#[cfg(test)]
#[path = "prom_tests.rs"]
mod tests;
