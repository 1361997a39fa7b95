//! `claudinectl top`: the host and the queue, redrawn every second.
//!
//! [`render`] turns one answer of `GET /v1/top` ([`TopView`]) into the
//! lines of a frame, cut to the terminal's width and height; it is pure, so
//! the tests give it fixed views. [`run`] prints one frame (`--once`, or
//! stdout not a terminal), the answer itself (`--json`), or runs the live
//! view: a [`Screen`] owns the terminal until `q`, Ctrl-C, SIGTERM, SIGHUP
//! or an error, and gives it back as it was on each of them.

use crate::cli::client::Client;
use crate::cli::cmd::metrics::percent;
use crate::cli::error::CliError;
use crate::cli::term::{self, Keys, Screen};
use crate::cli::{exit, format, Output};
use crate::core::units::{format_bytes, parse_positive_duration};
use crate::core::Priority;
use crate::proto::top::{TopQueued, TopTask};
use crate::proto::TopView;
use clap::Args;
use std::time::Duration;

const EXAMPLES: &str = "\
Examples:
  claudinectl top                  the live view; q or Ctrl-C quits
  claudinectl top --interval 5s    redraw every 5 seconds
  claudinectl top --once           one frame, then exit (also when piped)
  claudinectl top --json | jq .queued_by_priority

The header has the host (CPU busy, memory available, pressure stall \"some\"
over 10 s), claudine.slice (memory used, its memory.max ceiling; memory
admission reserved for started tasks that they do not use yet, and the
reserve it keeps available), the counts of running and queued tasks of every
user, the concurrency caps and why the next task waits. Below are your
running tasks (everyone's for root and administrators: memory, CPU % of one
core over 10 s, and the monitor's view of their activity) and your first
queued tasks in start order (#: place in the whole queue).";

/// The shortest `--interval`.
pub const MIN_INTERVAL_MS: i64 = 100;

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct TopArgs {
    /// Time between redraws (e.g. 2s, 500ms, 1m)
    #[arg(long, short = 'd', value_name = "DURATION", default_value = "1s", value_parser = parse_interval)]
    pub interval: i64,

    /// Print one frame and exit
    #[arg(long)]
    pub once: bool,
}

/// clap parser for `--interval`: a positive duration of at least 100 ms.
fn parse_interval(s: &str) -> Result<i64, String> {
    let ms = parse_positive_duration(s)?;
    if ms < MIN_INTERVAL_MS {
        return Err(format!(
            "invalid duration {s:?}: must be at least {MIN_INTERVAL_MS}ms"
        ));
    }
    Ok(ms)
}

pub async fn run(client: &Client, args: TopArgs, o: &mut Output<'_>) -> Result<i32, CliError> {
    use std::io::IsTerminal;
    if o.json {
        o.json_value(&client.top().await?.raw)?;
        return Ok(exit::OK);
    }
    // `width` is set only when stdout is a terminal; tests pass one without
    // a terminal, hence the second check.
    if args.once || o.width.is_none() || !std::io::stdout().is_terminal() {
        let view = client.top().await?.value;
        let width = o.width.unwrap_or(usize::MAX);
        for line in render(&view, width, usize::MAX, format::now_ms()) {
            o.line(&line)?;
        }
        return Ok(exit::OK);
    }
    live(client, Duration::from_millis(args.interval as u64)).await
}

/// The live view, until a key, a signal or an error ends it.
async fn live(client: &Client, interval: Duration) -> Result<i32, CliError> {
    use tokio::signal::unix::{signal, SignalKind};
    let sig = |kind| signal(kind).map_err(CliError::Output);
    let (mut int, mut term, mut hup, mut winch) = (
        sig(SignalKind::interrupt())?,
        sig(SignalKind::terminate())?,
        sig(SignalKind::hangup())?,
        sig(SignalKind::window_change())?,
    );
    let mut screen = Screen::enter().map_err(CliError::Output)?;
    let keys = if screen.has_keys() {
        Some(Keys::new().map_err(CliError::Output)?)
    } else {
        None
    };
    let mut view: Option<TopView> = None;
    let mut trouble: Option<String> = None;
    let mut fetch = Some(Box::pin(client.top()));
    let mut next = tokio::time::Instant::now();
    loop {
        let (width, height) = term::size().unwrap_or((80, 24));
        let idle = fetch.is_none();
        let fetching = async {
            match fetch.as_mut() {
                Some(f) => f.await,
                None => std::future::pending().await,
            }
        };
        let key = async {
            match &keys {
                Some(k) => k.next().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            answer = fetching => {
                fetch = None;
                next += interval;
                match answer {
                    Ok(a) => {
                        view = Some(a.value);
                        trouble = None;
                    }
                    // The daemon restarting: say so and keep trying.
                    Err(e) if e.is_unreachable() => trouble = Some(format!("{e}; retrying")),
                    Err(e) => return Err(e),
                }
            }
            _ = tokio::time::sleep_until(next), if idle => {
                fetch = Some(Box::pin(client.top()));
                continue;
            }
            k = key => match k {
                Ok(bytes) if bytes.iter().any(|b| matches!(b, b'q' | b'Q' | 3)) => break,
                Ok(_) => continue,
                Err(e) => return Err(CliError::Output(e)),
            },
            _ = int.recv() => break,
            _ = term.recv() => break,
            _ = hup.recv() => break,
            _ = winch.recv() => {}
        }
        let mut lines = match &view {
            Some(v) => render(v, width, height, format::now_ms()),
            None => Vec::new(),
        };
        if let Some(t) = &trouble {
            lines.insert(
                0,
                format::truncate(&format::sanitize(t), width).into_owned(),
            );
            lines.truncate(height);
        }
        screen.draw(&lines, height).map_err(CliError::Output)?;
    }
    drop(screen);
    Ok(exit::OK)
}

/// Header lines: host, slice, counts, and why the next task waits.
fn header(v: &TopView) -> Vec<String> {
    let h = &v.host;
    let host = match (h.cpu_busy_percent, h.mem_available_bytes, h.mem_total_bytes) {
        (Some(cpu), Some(avail), Some(total)) => format!(
            "CPU {cpu:.0}% busy, memory {} available of {}",
            format_bytes(avail),
            format_bytes(total)
        ),
        _ => "not sampled yet".to_string(),
    };
    let p = &h.pressure;
    let psi = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |x| format!("{x:.1}%"));
    let pressure = if p.cpu.is_none() && p.memory.is_none() && p.io.is_none() {
        "no pressure information".to_string()
    } else {
        format!(
            "pressure (some, 10 s) cpu {} memory {} io {}",
            psi(p.cpu),
            psi(p.memory),
            psi(p.io)
        )
    };
    let s = &v.slice;
    let used = s
        .memory_current_bytes
        .map_or_else(|| "unknown".to_string(), format_bytes);
    let ceiling = s.memory_max_bytes.map_or_else(
        || "no ceiling".to_string(),
        |m| format!("ceiling {}", format_bytes(m)),
    );
    let cap = |c: Option<usize>| c.map_or_else(|| "none".to_string(), |c| c.to_string());
    let prio = |p: Priority| v.queued_by_priority.get(&p).copied().unwrap_or(0);
    let mut lines = vec![
        format!("host: {host}, {pressure}"),
        format!(
            "claudine.slice: memory {used}, {ceiling}; reserved, not yet used: {}; reserve: {}",
            format_bytes(v.reserved_bytes),
            format_bytes(v.reserve_bytes)
        ),
        format!(
            "tasks: {} running, {} queued (P0 {}, P1 {}, P2 {}); cap: soft {}, hard {}",
            v.running,
            v.queued,
            prio(Priority::P0),
            prio(Priority::P1),
            prio(Priority::P2),
            cap(v.soft_max),
            cap(v.hard_max)
        ),
    ];
    if let Some(why) = &v.wait_reason {
        lines.push(format!("waiting: {}", format::sanitize(why)));
    }
    lines
}

/// The longest activity or reason shown in a column (the header has the
/// whole reason; `status` the whole activity).
const NOTE_WIDTH: usize = 40;

const RUNNING_HEADER: [&str; 8] = [
    "ID", "USER", "STATE", "MEM", "CPU", "AGE", "ACTIVITY", "COMMAND",
];
const QUEUED_HEADER: [&str; 7] = ["#", "ID", "USER", "PRI", "WAITED", "WHY", "COMMAND"];

fn running_row(t: &TopTask, now_ms: i64) -> [String; 8] {
    [
        t.id.to_string(),
        format::sanitize(&t.user).into_owned(),
        t.state.to_string(),
        t.memory_bytes.map_or_else(|| "-".into(), format_bytes),
        t.cpu_percent.map_or_else(|| "-".into(), percent),
        t.started_ms
            .map_or_else(|| "-".into(), |s| format::duration(now_ms - s)),
        note(t.activity.as_deref()),
        command(&t.argv),
    ]
}

fn queued_row(t: &TopQueued, now_ms: i64) -> [String; 7] {
    [
        t.position.to_string(),
        t.id.to_string(),
        format::sanitize(&t.user).into_owned(),
        t.priority.to_string(),
        format::duration(now_ms - t.created_ms),
        note(t.why.as_deref()),
        command(&t.argv),
    ]
}

fn note(s: Option<&str>) -> String {
    s.map_or_else(
        || "-".into(),
        |s| format::truncate(&format::sanitize(s), NOTE_WIDTH).into_owned(),
    )
}

fn command(argv: &[String]) -> String {
    format::sanitize(&format::shell_join(argv)).into_owned()
}

/// A table: the header and rows, columns padded to their widths and two
/// spaces apart; the last column (the command) is not padded.
fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> Vec<String> {
    let mut widths = header.map(|h| h.chars().count());
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, cell) in cells.enumerate() {
            out.push_str(cell);
            if i + 1 < N {
                let pad = widths[i] - cell.chars().count() + 2;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.trim_end().to_string()
    };
    std::iter::once(line(&mut header.into_iter()))
        .chain(rows.iter().map(|r| line(&mut r.iter().map(String::as_str))))
        .collect()
}

/// A section of at most `budget` lines: a blank line, then the table's
/// lines, cut with a last line "... and N more {what}" (N: rows cut plus
/// `more`) when they do not fit; `empty` alone when there is nothing.
fn section(
    table_lines: Vec<String>,
    more: usize,
    what: &str,
    empty: &str,
    budget: usize,
) -> Vec<String> {
    let rows = table_lines.len().saturating_sub(1);
    let mut out = vec![String::new()];
    if rows == 0 && more == 0 {
        out.push(empty.to_string());
    } else if rows == 0 {
        out.push(format!("{more} more {what} further back"));
    } else if 1 + table_lines.len() + usize::from(more > 0) <= budget {
        out.extend(table_lines);
        if more > 0 {
            out.push(format!("... and {more} more {what}"));
        }
    } else {
        // The blank line, the table's header, k rows and the "more" line.
        let k = budget.saturating_sub(3).min(rows);
        if k == 0 {
            out.push(format!(
                "{} {what} not listed: the terminal is too small",
                rows + more
            ));
        } else {
            out.extend(table_lines.into_iter().take(k + 1));
            out.push(format!("... and {} more {what}", rows - k + more));
        }
    }
    out.truncate(budget);
    out
}

/// One frame: the header, the running tasks, the first queued ones; each
/// line cut to `width` characters, `height` lines at most. Running tasks
/// come first; the queue keeps at least a few lines when it has rows.
pub fn render(v: &TopView, width: usize, height: usize, now_ms: i64) -> Vec<String> {
    let mut lines = header(v);
    let left = height.saturating_sub(lines.len());
    let running: Vec<[String; 8]> = v.tasks.iter().map(|t| running_row(t, now_ms)).collect();
    let queued: Vec<[String; 7]> = v.queue.iter().map(|t| queued_row(t, now_ms)).collect();
    let running_lines = table(RUNNING_HEADER, &running);
    let queued_lines = table(QUEUED_HEADER, &queued);
    // What the queue section needs, kept for it up to 5 lines (2 on a
    // small terminal: a blank line and a note).
    let queue_needs = 1 + if queued.is_empty() {
        1
    } else {
        queued_lines.len() + usize::from(v.queue_more > 0)
    };
    let keep = if left >= 10 { 5 } else { 2 };
    let running_budget = left.saturating_sub(queue_needs.min(keep));
    let none = |total: usize, state: &str| match total {
        0 => format!("no task is {state}"),
        _ => format!("no task of yours is {state}"),
    };
    let top = section(
        if running.is_empty() {
            Vec::new()
        } else {
            running_lines
        },
        0,
        "running",
        &none(v.running, "running"),
        running_budget,
    );
    let queue_budget = left.saturating_sub(top.len());
    lines.extend(top);
    lines.extend(section(
        if queued.is_empty() {
            Vec::new()
        } else {
            queued_lines
        },
        v.queue_more,
        "queued",
        &none(v.queued, "queued"),
        queue_budget,
    ));
    lines.truncate(height);
    lines
        .into_iter()
        .map(|l| format::truncate(&l, width).into_owned())
        .collect()
}

#[cfg(test)]
#[path = "top_tests.rs"]
mod tests;
