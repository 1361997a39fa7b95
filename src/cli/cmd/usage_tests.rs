//! `usage`'s text from fixed answers.

use super::*;
use crate::proto::usage::CooldownView;

/// 2023-11-14 23:13:20 at UTC+01:00.
const NOW: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const TZ: i32 = 3600;

fn rows(len: i64, n: i64) -> Vec<UsageRow> {
    let offset = i64::from(TZ) * 1000;
    let current = (NOW + offset).div_euclid(len) * len - offset;
    (0..n)
        .rev()
        .map(|back| UsageRow {
            start_ms: current - back * len,
            end_ms: current - back * len + len,
            totals: UsageTotals::default(),
        })
        .collect()
}

fn totals(runs: u32, input: u64, cost: f64) -> UsageTotals {
    UsageTotals {
        input_tokens: input,
        output_tokens: input / 4,
        cache_read_tokens: input * 20,
        cache_creation_tokens: 1_500,
        cost_usd: cost,
        runs,
    }
}

fn view() -> UsageView {
    let mut hours = rows(HOUR, 24);
    hours[20].totals = totals(1, 12_300, 0.5);
    hours[23].totals = totals(2, 800, 0.14);
    let mut days = rows(DAY, 7);
    days[1].totals = totals(4, 250_000, 3.0);
    days[6].totals = totals(3, 13_100, 0.66);
    UsageView {
        user: Some("alice".into()),
        generated_ms: NOW,
        tz_offset_s: TZ,
        hours,
        days,
        last_hour: totals(2, 800, 0.14),
        last_day: totals(3, 13_100, 0.66),
        cooldowns: vec![],
        budgets: Default::default(),
    }
}

fn cooldown(user: &str, why: &str) -> CooldownView {
    CooldownView {
        user: user.into(),
        uid: 1000,
        until_ms: NOW + 300_000,
        kind: "rate_limited".into(),
        strikes: 2,
        why: why.into(),
    }
}

#[test]
fn one_users_usage() {
    let want = [
        "Claude Code usage of alice (times UTC+01:00)",
        "last hour: 2 runs, 800 in, 200 out, cache 16k read + 1500 written, $0.14",
        "last 24 h: 3 runs, 13.1k in, 3275 out, cache 262k read + 1500 written, $0.66",
        "",
        "HOUR   RUNS     IN   OUT   COST",
        "20:00     1  12.3k  3075  $0.50",
        "23:00     2    800   200  $0.14",
        "",
        "DAY         RUNS     IN    OUT   COST",
        "2023-11-08     0      0      0  $0.00",
        "2023-11-09     4   250k  62.5k  $3.00",
        "2023-11-10     0      0      0  $0.00",
        "2023-11-11     0      0      0  $0.00",
        "2023-11-12     0      0      0  $0.00",
        "2023-11-13     0      0      0  $0.00",
        "2023-11-14     3  13.1k   3275  $0.66",
        "",
        "no cooldown in force",
    ];
    assert_eq!(render(&view(), 200), want);
}

#[test]
fn everyones_cooldowns_and_budgets() {
    let mut v = view();
    v.user = None;
    v.cooldowns = vec![
        cooldown("alice", "waiting for the usage limit to reset at 00:05"),
        cooldown(
            "bob",
            "waiting for the API rate limit: cooldown until 23:18 (2nd limit in a row)",
        ),
    ];
    v.budgets = BudgetsView {
        usd_per_day: Some(5.0),
        tokens_per_hour: Some(2_000_000),
        ..Default::default()
    };
    let lines = render(&v, 200);
    assert_eq!(lines[0], "Claude Code usage of all users (times UTC+01:00)");
    assert_eq!(
        lines[lines.len() - 5..],
        [
            "cooldowns in force:",
            "  alice: waiting for the usage limit to reset at 00:05",
            "  bob: waiting for the API rate limit: cooldown until 23:18 (2nd limit in a row)",
            "",
            "budgets per user: $5.00 a day, 2M tokens an hour",
        ]
    );
}

#[test]
fn one_users_budgets_say_what_is_used_and_what_is_spent() {
    let mut v = view();
    v.cooldowns = vec![cooldown("alice", "waiting for the overloaded API")];
    v.budgets = BudgetsView {
        usd_per_hour: Some(0.1),
        usd_per_day: Some(5.0),
        tokens_per_hour: None,
        tokens_per_day: Some(1_000_000),
    };
    let lines = render(&v, 200);
    assert_eq!(
        lines[lines.len() - 7..],
        [
            "cooldowns in force:",
            "  waiting for the overloaded API",
            "",
            "budgets:",
            "  $0.10 an hour    $0.14 used in the last hour: spent, new Claude tasks wait",
            "  $5.00 a day      $0.66 used in the last 24 h",
            "  1M tokens a day  17.9k used in the last 24 h (in + out + cache written)",
        ]
    );
}

#[test]
fn a_quiet_week_and_a_narrow_terminal() {
    let mut v = view();
    for r in v.hours.iter_mut().chain(v.days.iter_mut()) {
        r.totals = UsageTotals::default();
    }
    v.last_hour = UsageTotals::default();
    v.last_day = UsageTotals::default();
    assert_eq!(
        render(&v, 200),
        [
            "Claude Code usage of alice (times UTC+01:00)",
            "last hour: 0 runs, 0 in, 0 out, cache 0 read + 0 written, $0.00",
            "last 24 h: 0 runs, 0 in, 0 out, cache 0 read + 0 written, $0.00",
            "",
            "no runs in the last 7 days",
            "",
            "no cooldown in force",
        ]
    );
    // Runs this week, none today: the days still show.
    let mut v = view();
    for r in &mut v.hours {
        r.totals = UsageTotals::default();
    }
    let lines = render(&v, 200);
    assert_eq!(lines[4], "no runs in the last 24 hours");
    assert_eq!(lines[6], "DAY         RUNS     IN    OUT   COST");

    let mut v = view();
    v.user = Some("eve\x1b[2J".into());
    v.cooldowns = vec![cooldown("alice", "a reason\nwith a newline")];
    let lines = render(&v, 30);
    assert!(lines.iter().all(|l| l.chars().count() <= 30), "{lines:?}");
    assert_eq!(lines[0], "Claude Code usage of eve\\x1b[…");
    assert_eq!(lines[1], "last hour: 2 runs, 800 in, 20…");
    assert!(lines.contains(&"  a reason\\nwith a newline".to_string()));
}
