//! `claudinectl metrics`: a task's memory, CPU, pids and output over time.
//!
//! The human form is a header and one sparkline per series (see
//! [`crate::cli::spark`]) with its minimum, maximum and last value;
//! `--table` prints the points themselves; `--json` the daemon's answer
//! ([`MetricsView`], documented in [`crate::proto::metrics`]).

use crate::cli::client::Client;
use crate::cli::error::CliError;
use crate::cli::spark::{bucket, sparkline, Fold};
use crate::cli::{exit, format, Output};
use crate::core::units::format_bytes;
use crate::core::TaskId;
use crate::proto::{MetricsPoint, MetricsView};
use chrono::TimeZone;
use clap::Args;

const EXAMPLES: &str = "\
Examples:
  claudinectl metrics 42             sparklines of memory, CPU %, pids and output rate
  claudinectl metrics 42 --table     every point: time, memory, CPU %, pids, output/s
  claudinectl metrics 42 --json | jq '.points[-1].memory_bytes'

A running task is sampled once a second; points older than ten minutes are
kept one a minute (memory and pids: the minute's peak). CPU % is of one core
(200% = two cores busy). Sparklines run from 0 to the largest value shown.";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct MetricsArgs {
    /// The task's id
    #[arg(value_parser = super::parse_id)]
    pub id: TaskId,

    /// Print every point as a table instead of sparklines
    #[arg(long)]
    pub table: bool,
}

/// What an empty history says.
pub const NO_SAMPLES: &str =
    "no samples yet: the task has not run, or ran for less than a sample interval";

/// Sparklines are never narrower than this, however narrow the terminal.
pub const MIN_SPARK_WIDTH: usize = 20;

const LABEL_WIDTH: usize = 8;

pub async fn run(client: &Client, args: MetricsArgs, o: &mut Output<'_>) -> Result<i32, CliError> {
    let answer = client.metrics(args.id).await?;
    if o.json {
        o.json_value(&answer.raw)?;
        return Ok(exit::OK);
    }
    let text = if args.table {
        table(&answer.value, &chrono::Local)
    } else {
        let columns = o.width.or_else(env_columns).unwrap_or(80);
        summary(&answer.value, columns, &chrono::Local)
    };
    o.out.write_all(text.as_bytes()).map_err(CliError::Output)?;
    Ok(exit::OK)
}

/// `COLUMNS`, when stdout is not a terminal but the variable is set.
fn env_columns() -> Option<usize> {
    std::env::var("COLUMNS")
        .ok()?
        .parse()
        .ok()
        .filter(|&c| c > 0)
}

/// One figure over time.
struct Series {
    label: &'static str,
    values: Vec<f64>,
    fold: Fold,
    show: fn(f64) -> String,
}

fn series(points: &[MetricsPoint]) -> [Series; 4] {
    let gauge = |f: fn(&MetricsPoint) -> u64| points.iter().map(|p| f(p) as f64).collect();
    let rate = |f: fn(&MetricsPoint) -> Option<f64>| points.iter().filter_map(f).collect();
    [
        Series {
            label: "memory",
            values: gauge(|p| p.memory_bytes),
            fold: Fold::Max,
            show: |v| format_bytes(v as u64),
        },
        Series {
            label: "CPU %",
            values: rate(|p| p.cpu_percent),
            fold: Fold::Mean,
            show: percent,
        },
        Series {
            label: "pids",
            values: gauge(|p| p.pids),
            fold: Fold::Max,
            show: |v| format!("{v:.0}"),
        },
        Series {
            label: "output",
            values: rate(|p| p.output_bytes_per_sec),
            fold: Fold::Mean,
            show: per_second,
        },
    ]
}

/// `0.5%`, `12%`, `195%` (100% = one core).
pub fn percent(v: f64) -> String {
    if v < 9.95 {
        format!("{v:.1}%")
    } else {
        format!("{v:.0}%")
    }
}

/// `12.5 KiB/s`.
pub fn per_second(v: f64) -> String {
    format!("{}/s", format_bytes(v.max(0.0).round() as u64))
}

/// The header line: task, state, the span covered and the number of points.
fn header<Tz: TimeZone>(v: &MetricsView, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let (Some(first), Some(last)) = (v.points.first(), v.points.last()) else {
        return format!("task {} ({})\n", v.task, v.state);
    };
    let n = v.points.len();
    if n == 1 {
        let at = format::time(first.at_ms, tz);
        return format!("task {} ({}): 1 point, at {at}\n", v.task, v.state);
    }
    format!(
        "task {} ({}): {n} points over {}, {} to {}\n",
        v.task,
        v.state,
        crate::core::units::format_duration_ms(last.at_ms - first.at_ms),
        format::time(first.at_ms, tz),
        format::time(last.at_ms, tz),
    )
}

/// The header and one sparkline line per series, fitted to `columns`.
pub fn summary<Tz: TimeZone>(v: &MetricsView, columns: usize, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let mut out = header(v, tz);
    if v.points.is_empty() {
        out.push_str(NO_SAMPLES);
        out.push('\n');
        return out;
    }
    let all = series(&v.points);
    let stats: Vec<String> = all.iter().map(stats).collect();
    let stats_width = stats.iter().map(|s| s.chars().count()).max().unwrap_or(0);
    let longest = all.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let width = columns
        .saturating_sub(LABEL_WIDTH + 2 + 2 + stats_width)
        .max(MIN_SPARK_WIDTH)
        .min(longest);
    for (s, stats) in all.iter().zip(stats) {
        let spark = sparkline(&bucket(&s.values, width, s.fold));
        let line = format!("{:LABEL_WIDTH$}  {spark:width$}  {stats}", s.label);
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `min 1 MiB  max 3 MiB  last 2 MiB`, or why there is nothing to show.
fn stats(s: &Series) -> String {
    let Some(&last) = s.values.last() else {
        return "no rate yet: it takes two points".into();
    };
    let min = s.values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = s.values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let show = s.show;
    format!("min {}  max {}  last {}", show(min), show(max), show(last))
}

const TABLE_HEADER: [&str; 5] = ["TIME", "MEMORY", "CPU %", "PIDS", "OUTPUT/S"];

/// Every point, oldest first, in aligned columns (numbers to the right).
pub fn table<Tz: TimeZone>(v: &MetricsView, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    if v.points.is_empty() {
        return format!("{}{NO_SAMPLES}\n", header(v, tz));
    }
    let dash = || "-".to_string();
    let rows: Vec<[String; 5]> = v
        .points
        .iter()
        .map(|p| {
            [
                format::time(p.at_ms, tz),
                format_bytes(p.memory_bytes),
                p.cpu_percent.map_or_else(dash, percent),
                p.pids.to_string(),
                p.output_bytes_per_sec.map_or_else(dash, per_second),
            ]
        })
        .collect();
    let mut widths = TABLE_HEADER.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(TABLE_HEADER.map(String::from)).chain(rows) {
        let mut line = format!("{:w$}", r[0], w = widths[0]);
        for (cell, w) in r.iter().zip(widths).skip(1) {
            line.push_str(&format!("  {cell:>w$}"));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
