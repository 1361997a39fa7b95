//! `claudinectl usage`: Claude Code tasks' tokens and cost per hour and
//! day, the cooldowns in force and the budgets.
//!
//! [`render`] is a pure function of the answer ([`UsageView`], documented
//! in [`crate::proto::usage`]) and the width; times are written in the
//! daemon's zone, to which the rows are aligned.

use crate::cli::client::Client;
use crate::cli::error::CliError;
use crate::cli::{exit, format, Output};
use crate::core::governor::format_count;
use crate::proto::usage::{BudgetsView, UsageRow, UsageTotals};
use crate::proto::UsageView;
use chrono::{DateTime, FixedOffset};
use clap::Args;

const EXAMPLES: &str = "\
Examples:
  claudinectl usage                 your Claude Code usage (everyone's for administrators)
  claudinectl usage --user alice    alice's (others' need administrator rights)
  claudinectl usage --json | jq .last_day.cost_usd

The header has the tokens (input, output, cache read and written) and cost of
the runs that ended in the last hour and the last 24 hours. Below, the hours
of the last 24 that had runs and the last 7 days (times in claudined's zone;
a run counts when it ended), the cooldowns in force (after the API refused a
run with 429 or 529, or a usage limit; Claude tasks of the user wait until
then), and the budgets if any are configured (per user; a token budget counts
input, output and cache-written tokens, not cache reads).";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct UsageArgs {
    /// Only this user's usage (another user's needs administrator rights)
    #[arg(long, short = 'u', value_name = "NAME")]
    pub user: Option<String>,
}

pub async fn run(client: &Client, args: UsageArgs, o: &mut Output<'_>) -> Result<i32, CliError> {
    let answer = client.usage(args.user.as_deref()).await?;
    if o.json {
        o.json_value(&answer.raw)?;
        return Ok(exit::OK);
    }
    for line in render(&answer.value, o.width.unwrap_or(usize::MAX)) {
        o.line(&line)?;
    }
    Ok(exit::OK)
}

/// The lines of the human form, each cut to `width` characters.
pub fn render(v: &UsageView, width: usize) -> Vec<String> {
    let tz = FixedOffset::east_opt(v.tz_offset_s).unwrap_or(FixedOffset::east_opt(0).unwrap());
    let whose = match &v.user {
        Some(u) => format::sanitize(u).into_owned(),
        None => "all users".into(),
    };
    let mut lines = vec![
        format!("Claude Code usage of {whose} (times UTC{tz})"),
        format!("last hour: {}", totals(&v.last_hour)),
        format!("last 24 h: {}", totals(&v.last_day)),
        String::new(),
    ];
    if v.days.iter().all(|d| d.totals.runs == 0) {
        lines.push("no runs in the last 7 days".into());
    } else {
        let hours: Vec<&UsageRow> = v.hours.iter().filter(|h| h.totals.runs > 0).collect();
        if hours.is_empty() {
            lines.push("no runs in the last 24 hours".into());
        } else {
            lines.extend(table("HOUR", &hours, |ms| at(ms, &tz, "%H:%M")));
        }
        lines.push(String::new());
        let days: Vec<&UsageRow> = v.days.iter().collect();
        lines.extend(table("DAY", &days, |ms| at(ms, &tz, "%Y-%m-%d")));
    }
    lines.push(String::new());
    if v.cooldowns.is_empty() {
        lines.push("no cooldown in force".into());
    } else {
        lines.push("cooldowns in force:".into());
        for c in &v.cooldowns {
            let who = match v.user {
                Some(_) => String::new(),
                None => format!("{}: ", format::sanitize(&c.user)),
            };
            lines.push(format!("  {who}{}", format::sanitize(&c.why)));
        }
    }
    lines.extend(budgets(v));
    lines
        .into_iter()
        .map(|l| format::truncate(&l, width).into_owned())
        .collect()
}

/// `2 runs, 12.3k in, 4k out, cache 1.2M read + 30k written, $0.42`.
fn totals(t: &UsageTotals) -> String {
    format!(
        "{}, {} in, {} out, cache {} read + {} written, {}",
        runs(t.runs),
        format_count(t.input_tokens),
        format_count(t.output_tokens),
        format_count(t.cache_read_tokens),
        format_count(t.cache_creation_tokens),
        usd(t.cost_usd)
    )
}

fn runs(n: u32) -> String {
    match n {
        1 => "1 run".into(),
        n => format!("{n} runs"),
    }
}

fn usd(v: f64) -> String {
    format!("${v:.2}")
}

fn at(ms: i64, tz: &FixedOffset, fmt: &str) -> String {
    match DateTime::from_timestamp_millis(ms) {
        Some(t) => t.with_timezone(tz).format(fmt).to_string(),
        None => format!("@{ms}ms"),
    }
}

/// Rows under a header: the first column to the left, figures to the right.
fn table(first: &str, rows: &[&UsageRow], label: impl Fn(i64) -> String) -> Vec<String> {
    let mut cells = vec![[first, "RUNS", "IN", "OUT", "COST"].map(String::from)];
    cells.extend(rows.iter().map(|r| {
        let t = &r.totals;
        [
            label(r.start_ms),
            t.runs.to_string(),
            format_count(t.input_tokens),
            format_count(t.output_tokens),
            usd(t.cost_usd),
        ]
    }));
    let mut widths = [0; 5];
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    cells
        .iter()
        .map(|row| {
            let mut line = format!("{:w$}", row[0], w = widths[0]);
            for (c, w) in row.iter().zip(widths).skip(1) {
                line.push_str(&format!("  {c:>w$}"));
            }
            line
        })
        .collect()
}

/// The budgets, and for one user what of each is used.
fn budgets(v: &UsageView) -> Vec<String> {
    let b: &BudgetsView = &v.budgets;
    if b.is_empty() {
        return vec![];
    }
    let (h, d) = (&v.last_hour, &v.last_day);
    let usd_row = |limit: f64, span: &str, t: &UsageTotals, last: &str| {
        (
            format!("{} {span}", usd(limit)),
            usd(t.cost_usd),
            t.cost_usd >= limit,
            last.to_string(),
        )
    };
    let tok_row = |limit: u64, span: &str, t: &UsageTotals, last: &str| {
        let used = t.budget_tokens();
        let what = format!("{} tokens {span}", format_count(limit));
        (
            what,
            format_count(used),
            used >= limit,
            format!("{last} (in + out + cache written)"),
        )
    };
    let rows: Vec<(String, String, bool, String)> = [
        b.usd_per_hour
            .map(|l| usd_row(l, "an hour", h, "the last hour")),
        b.usd_per_day
            .map(|l| usd_row(l, "a day", d, "the last 24 h")),
        b.tokens_per_hour
            .map(|l| tok_row(l, "an hour", h, "the last hour")),
        b.tokens_per_day
            .map(|l| tok_row(l, "a day", d, "the last 24 h")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut lines = vec![String::new()];
    if v.user.is_none() {
        let all: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        lines.push(format!("budgets per user: {}", all.join(", ")));
        return lines;
    }
    lines.push("budgets:".into());
    let w = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    for (what, used, spent, last) in rows {
        let spent = if spent {
            ": spent, new Claude tasks wait"
        } else {
            ""
        };
        lines.push(format!("  {what:w$}  {used} used in {last}{spent}"));
    }
    lines
}

#[cfg(test)]
#[path = "usage_tests.rs"]
mod tests;
