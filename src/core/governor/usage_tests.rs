//! Tests of the usage window, budgets and the report's rows.

use super::super::{report, Governor, GovernorPolicy};
use super::*;

const A: Account = 1000;
const B: Account = 1001;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

fn rec(account: Account, at_ms: i64, tokens: u64, cost_usd: f64) -> UsageRecord {
    UsageRecord {
        account,
        at_ms,
        input_tokens: tokens,
        output_tokens: 0,
        cache_read_tokens: 0,
        cache_creation_tokens: 0,
        cost_usd,
    }
}

#[test]
fn sums_over_the_hour_and_the_day() {
    let mut w = UsageWindow::new();
    w.add(&rec(A, 0, 100, 1.0));
    w.add(&rec(A, 2 * HOUR, 10, 0.5));
    w.add(&rec(A, 2 * HOUR + 30 * MIN, 1, 0.25));
    w.add(&rec(B, 2 * HOUR, 1_000, 9.0));
    let s = w.sums(A, 3 * HOUR);
    assert_eq!(
        (s.hour.input_tokens, s.hour.cost_usd, s.hour.records),
        (1, 0.25, 1)
    );
    assert_eq!(
        (s.day.input_tokens, s.day.cost_usd, s.day.records),
        (111, 1.75, 3)
    );
    // The first record leaves the day exactly 24 h after it.
    assert_eq!(w.sums(A, DAY - 1).day.input_tokens, 111);
    assert_eq!(w.sums(A, DAY).day.input_tokens, 11);
    assert_eq!(w.sums(B, 3 * HOUR).day.cost_usd, 9.0);
    assert_eq!(w.sums(42, 3 * HOUR), Sums::default());
}

#[test]
fn a_budget_hold_lifts_when_the_oldest_usage_leaves() {
    let budgets = Budgets {
        usd_per_day: Some(5.0),
        ..Budgets::default()
    };
    let mut w = UsageWindow::new();
    w.add(&rec(A, 10 * MIN, 0, 3.0));
    assert_eq!(w.budget_hold(A, HOUR, &budgets), None);
    w.add(&rec(A, 2 * HOUR, 0, 2.2));
    let h = w.budget_hold(A, 3 * HOUR, &budgets).expect("spent");
    assert_eq!(h.until_ms, Some(DAY + 10 * MIN));
    assert!(w.budget_hold(A, DAY + 10 * MIN - 1, &budgets).is_some());
    assert_eq!(w.budget_hold(A, DAY + 10 * MIN, &budgets), None);
    assert_eq!(w.budget_hold(B, 3 * HOUR, &budgets), None);
    // Several records must leave before it is under budget again.
    w.add(&rec(A, 3 * HOUR, 0, 4.0));
    let h = w.budget_hold(A, 4 * HOUR, &budgets).unwrap();
    assert_eq!(h.until_ms, Some(DAY + 2 * HOUR));
}

#[test]
fn the_budget_lifting_last_holds() {
    let budgets = Budgets {
        usd_per_hour: Some(1.0),
        usd_per_day: Some(10.0),
        tokens_per_hour: Some(1_000),
        tokens_per_day: None,
    };
    let mut w = UsageWindow::new();
    w.add(&rec(A, 0, 2_000, 0.5));
    w.add(&rec(A, 20 * MIN, 0, 1.0));
    let h = w.budget_hold(A, 30 * MIN, &budgets).unwrap();
    // Tokens lift at 60 min, dollars only when both records left: 80 min.
    assert_eq!(h.until_ms, Some(80 * MIN));
    let HoldWhy::Budget(over) = h.why else {
        panic!("{h:?}")
    };
    assert_eq!(over.span, Span::Hour);
    assert!(matches!(over.amount, Amount::Usd { limit, .. } if limit == 1.0));
    // A budget of nothing never lifts by itself.
    let none = Budgets {
        tokens_per_day: Some(0),
        ..Budgets::default()
    };
    assert_eq!(w.budget_hold(B, 0, &none).unwrap().until_ms, None);
}

#[test]
fn token_budgets_leave_cache_reads_out() {
    let budgets = Budgets {
        tokens_per_hour: Some(1_000),
        ..Budgets::default()
    };
    let mut w = UsageWindow::new();
    let mut r = rec(A, 0, 300, 0.0);
    r.output_tokens = 300;
    r.cache_creation_tokens = 300;
    r.cache_read_tokens = 1_000_000;
    w.add(&r);
    assert_eq!(w.budget_hold(A, 1, &budgets), None);
    w.add(&rec(A, 1, 100, 0.0));
    assert_eq!(w.sums(A, 1).hour.budget_tokens(), 1_000);
    // One entry for the minute, dated by its latest record.
    assert_eq!(
        w.budget_hold(A, 1, &budgets).unwrap().until_ms,
        Some(HOUR + 1)
    );
}

#[test]
fn memory_is_one_entry_a_minute_for_a_day() {
    let mut w = UsageWindow::new();
    for i in 0..3 * 24 * 60 * 4 {
        // Four records a minute for three days.
        w.add(&rec(A, i * 15_000, 1, 0.01));
    }
    assert_eq!(w.accounts[&A].len(), 24 * 60);
    let s = w.sums(A, 3 * DAY);
    assert_eq!(s.hour.input_tokens, 240);
    // Out of order, within the day: merged into its minute.
    w.add(&rec(A, 3 * DAY - 10 * MIN, 5, 0.0));
    assert_eq!(w.sums(A, 3 * DAY).hour.input_tokens, 245);
    assert_eq!(w.accounts[&A].len(), 24 * 60);
    w.expire(5 * DAY);
    assert!(w.accounts.is_empty());
}

#[test]
fn words_of_a_budget_hold() {
    let policy = GovernorPolicy {
        budgets: Budgets {
            usd_per_day: Some(5.0),
            tokens_per_hour: Some(1_000_000),
            ..Budgets::default()
        },
        ..GovernorPolicy::default()
    };
    let mut g = Governor::new(policy, 0);
    g.record(&rec(A, 14 * HOUR + 5 * MIN, 0, 5.2));
    let name = |a: Account| if a == A { "alice".into() } else { "?".into() };
    let at = |ms: i64| format!("{:02}:{:02}", ms / HOUR % 24, ms / MIN % 60);
    let h = g.hold(A, 1, 15 * HOUR).unwrap();
    assert_eq!(
        h.describe_with(name, at),
        "waiting for the daily budget: alice used $5.20 of $5.00 in the last 24 h, until 14:05"
    );
    g.record(&rec(B, 15 * HOUR, 1_200_000, 0.0));
    assert_eq!(
        g.hold(B, 2, 15 * HOUR).unwrap().describe(at),
        "waiting for the hourly token budget: uid 1001 used 1.2M of 1M tokens in the last hour, until 16:00"
    );
}

#[test]
fn report_rows_are_aligned_to_the_zone() {
    let now = 10 * DAY + 13 * HOUR + 20 * MIN;
    let records = [
        rec(A, now, 1, 0.0),
        rec(A, 10 * DAY + 13 * HOUR, 2, 0.0),
        rec(A, 10 * DAY + 13 * HOUR - 1, 4, 0.0),
        rec(A, 10 * DAY, 8, 0.0),
        rec(A, 10 * DAY - 1, 16, 0.0),
        rec(A, 4 * DAY, 32, 0.0),
        rec(A, 4 * DAY - 1, 64, 0.0),
    ];
    let r = report(&records, now, 0);
    assert_eq!((r.hours.len(), r.days.len()), (24, 7));
    let last = &r.hours[23];
    assert_eq!(
        (last.start_ms, last.end_ms),
        (10 * DAY + 13 * HOUR, 10 * DAY + 14 * HOUR)
    );
    assert_eq!(last.totals.input_tokens, 3);
    assert_eq!(r.hours[22].totals.input_tokens, 4);
    assert_eq!(r.hours[0].start_ms, 9 * DAY + 14 * HOUR);
    let tokens: Vec<u64> = r.days.iter().map(|d| d.totals.input_tokens).collect();
    assert_eq!(tokens, [32, 0, 0, 0, 0, 16, 15]);
    assert_eq!((r.days[0].start_ms, r.days[6].end_ms), (4 * DAY, 11 * DAY));
    // At UTC+02:00, the local day began at 22:00 UTC the day before.
    let r = report(&records, now, 2 * 3600);
    assert_eq!(r.days[6].start_ms, 10 * DAY - 2 * HOUR);
    assert_eq!(r.days[6].totals.input_tokens, 31);
    // At +05:30, hours start at :30 UTC.
    let r = report(&records, now, 5 * 3600 + 1800);
    assert_eq!(r.hours[23].start_ms, 10 * DAY + 12 * HOUR + 30 * MIN);
    assert_eq!(r.hours[23].totals.input_tokens, 7);
    // West of UTC, before 1970 included.
    let r = report(&[], 0, -5 * 3600);
    assert_eq!(r.days[6].start_ms, -19 * HOUR);
}
