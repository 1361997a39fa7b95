//! Tests of cooldowns, retry holds, probes and their words (the start rate:
//! `governor/bucket_tests.rs`; usage and budgets: `governor/usage_tests.rs`).

use super::*;
use crate::core::claude_stream::Reset;

const A: Account = 1000;
const B: Account = 1001;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn gov() -> Governor {
    Governor::new(GovernorPolicy::default(), 0)
}

/// `HH:MM` of a time in UTC, as the daemon would write it in its zone.
fn hhmm(ms: i64) -> String {
    format!("{:02}:{:02}", ms / HOUR % 24, ms / MIN % 60)
}

fn retry(attempt: u64, status: u16, delay_ms: u64) -> Retry {
    Retry {
        attempt: Some(attempt),
        max_retries: Some(10),
        retry_delay_ms: Some(delay_ms),
        error_status: Some(status),
        at_ms: 0,
    }
}

fn usage_at(at_ms: i64) -> Limit {
    Limit::UsageLimit(Reset {
        at_ms: Some(at_ms),
        ..Reset::default()
    })
}

fn words(h: Option<Hold>) -> String {
    h.expect("a hold").describe(hhmm)
}

#[test]
fn backoff_doubles_and_caps() {
    let p = GovernorPolicy::default();
    let at = |strikes| backoff_ms(&p, strikes, 0.0);
    assert_eq!(at(0), MIN);
    assert_eq!(at(1), MIN);
    assert_eq!(at(2), 2 * MIN);
    assert_eq!(at(3), 4 * MIN);
    assert_eq!(at(5), 16 * MIN);
    // 32 min is past the 30 min cap.
    assert_eq!(at(6), 30 * MIN);
    assert_eq!(at(64), 30 * MIN);
    assert_eq!(at(65), 30 * MIN);
    assert_eq!(at(u32::MAX), 30 * MIN);
}

#[test]
fn jitter_stays_within_its_fraction_and_above_the_minimum() {
    let p = GovernorPolicy::default();
    assert_eq!(backoff_ms(&p, 1, 1.0), 72_000);
    assert_eq!(backoff_ms(&p, 1, -1.0), 48_000);
    assert_eq!(backoff_ms(&p, 1, 0.5), 66_000);
    // Out of range is clamped; NaN is no jitter.
    assert_eq!(backoff_ms(&p, 1, 7.0), 72_000);
    assert_eq!(backoff_ms(&p, 1, -7.0), 48_000);
    assert_eq!(backoff_ms(&p, 1, f64::NAN), MIN);
    assert_eq!(backoff_ms(&p, 9, 1.0), 36 * MIN);
    for i in -10..=10 {
        let ms = backoff_ms(&p, 2, f64::from(i) / 10.0);
        assert!((96_000..=144_000).contains(&ms), "{ms}");
    }
    let short = GovernorPolicy {
        backoff_base_ms: 1_000,
        jitter_fraction: 0.5,
        ..GovernorPolicy::default()
    };
    assert_eq!(backoff_ms(&short, 1, -1.0), 5_000);
    assert_eq!(backoff_ms(&short, 4, -1.0), 5_000);
    assert_eq!(backoff_ms(&short, 4, 1.0), 12_000);
}

#[test]
fn a_rate_limit_holds_the_account_and_requeues_the_task() {
    let mut g = gov();
    let r = g.on_limited(A, 7, &Limit::RateLimited, 10_000, 0.0);
    assert_eq!((r.eligible_ms, r.strikes), (70_000, 1));
    assert_eq!(r.hold.until_ms, Some(70_000));
    let h = g.hold(A, 8, 69_999).expect("held");
    assert_eq!(h.until_ms, Some(70_000));
    assert!(g.hold(A, 7, 69_999).is_some(), "the task itself waits too");
    assert_eq!(g.hold(A, 8, 70_000), None);
    // Other accounts are never held.
    assert_eq!(g.hold(B, 9, 20_000), None);
    let r = g.on_limited(A, 7, &Limit::Overloaded, 80_000, 0.0);
    assert_eq!((r.eligible_ms, r.strikes), (200_000, 2));
    assert_eq!(g.strikes(A), 2);
    assert_eq!(g.strikes(B), 0);
}

#[test]
fn tasks_hitting_the_same_wall_count_once() {
    let mut g = gov();
    let first = g.on_limited(A, 1, &Limit::RateLimited, 0, 0.0);
    let second = g.on_limited(A, 2, &Limit::RateLimited, 5_000, 1.0);
    let third = g.on_limited(A, 3, &Limit::RateLimited, 59_000, -1.0);
    assert_eq!(first.eligible_ms, MIN);
    assert_eq!((second.eligible_ms, second.strikes), (MIN, 1));
    assert_eq!((third.eligible_ms, third.strikes), (MIN, 1));
    assert_eq!(g.strikes(A), 1);
}

#[test]
fn a_known_reset_instant_is_honoured() {
    let mut g = gov();
    let r = g.on_limited(A, 1, &usage_at(5 * HOUR), 0, 1.0);
    assert_eq!(r.eligible_ms, 5 * HOUR + 5_000);
    assert_eq!(
        g.hold(A, 2, 5 * HOUR + 4_999).unwrap().until_ms,
        r.hold.until_ms
    );
    assert_eq!(
        r.describe(hhmm),
        "waiting for the usage limit to reset at 05:00"
    );
    // A reset already past: the minimum; one absurdly far: 8 days.
    let mut g = gov();
    assert_eq!(
        g.on_limited(A, 1, &usage_at(0), HOUR, 0.0).eligible_ms,
        HOUR + 5_000
    );
    let mut g = gov();
    let far = g.on_limited(A, 1, &usage_at(400 * 24 * HOUR), 0, 0.0);
    assert_eq!(far.eligible_ms, MAX_RESET_AHEAD_MS);
}

#[test]
fn an_unknown_reset_waits_the_fallback() {
    let mut g = gov();
    let r = g.on_limited(A, 1, &Limit::UsageLimit(Reset::default()), 0, -0.5);
    assert_eq!(r.eligible_ms, 27 * MIN);
    // Another task on the same wall joins it.
    let r = g.on_limited(A, 2, &Limit::UsageLimit(Reset::default()), MIN, 1.0);
    assert_eq!(r.eligible_ms, 27 * MIN);
}

#[test]
fn a_longer_cooldown_is_never_shortened() {
    let mut g = gov();
    let usage = g.on_limited(A, 1, &usage_at(3 * HOUR), 0, 0.0);
    // A 429 of a task that was already running, a minute later.
    let r = g.on_limited(A, 2, &Limit::RateLimited, MIN, 1.0);
    assert_eq!(r.eligible_ms, usage.eligible_ms);
    assert_eq!(r.hold, usage.hold);
    // An earlier reset does not shorten it; a later one lengthens it.
    let r = g.on_limited(A, 3, &usage_at(HOUR), 2 * MIN, 0.0);
    assert_eq!(r.eligible_ms, 3 * HOUR + 5_000);
    let r = g.on_limited(A, 4, &usage_at(4 * HOUR), 3 * MIN, 0.0);
    assert_eq!(r.eligible_ms, 4 * HOUR + 5_000);
    // A usage limit during a rate-limit cooldown replaces it when longer.
    let mut g = gov();
    g.on_limited(A, 1, &Limit::RateLimited, 0, 0.0);
    let r = g.on_limited(A, 2, &Limit::UsageLimit(Reset::default()), 1_000, 0.0);
    assert_eq!(r.eligible_ms, 1_000 + 30 * MIN);
    assert_eq!(g.strikes(A), 1);
}

#[test]
fn a_retrying_task_holds_its_siblings_not_itself() {
    let mut g = gov();
    g.on_retrying(A, 17, &retry(1, 429, 500), 0);
    assert_eq!(g.hold(A, 17, 1_000), None);
    assert_eq!(g.hold(B, 18, 1_000), None);
    assert_eq!(g.hold(A, 18, 1_000).unwrap().until_ms, Some(120_000));
    // Each new line renews the hold; without one it lapses.
    g.on_retrying(A, 17, &retry(3, 429, 2_000), 100_000);
    assert_eq!(g.hold(A, 18, 219_999).unwrap().until_ms, Some(220_000));
    assert_eq!(g.hold(A, 18, 220_000), None);
    // A retry delay longer than the hold sets it.
    g.on_retrying(A, 20, &retry(1, 529, 300_000), 300_000);
    assert_eq!(g.hold(A, 18, 300_000).unwrap().until_ms, Some(600_000));
}

#[test]
fn a_request_through_lifts_its_retry_hold_only() {
    let mut g = gov();
    g.on_limited(A, 1, &Limit::RateLimited, 0, 0.0);
    g.on_retrying(A, 17, &retry(1, 429, 500), 1_000);
    g.on_retrying(A, 19, &retry(1, 429, 500), 2_000);
    g.on_request_through(A, 17);
    // The limited end's cooldown stays.
    assert_eq!(g.hold(A, 18, 59_000).unwrap().until_ms, Some(MIN));
    // Task 19 still retries.
    assert_eq!(g.hold(A, 18, 60_000).unwrap().until_ms, Some(122_000));
    g.on_ended(A, 19);
    assert_eq!(g.hold(A, 18, 60_000), None);
}

#[test]
fn after_a_cooldown_one_task_probes_first() {
    let mut g = gov();
    g.on_limited(A, 1, &Limit::RateLimited, 0, 0.0);
    assert_eq!(g.hold(A, 1, MIN), None);
    g.on_started(A, 1, MIN);
    assert_eq!(g.hold(A, 1, MIN), None);
    let h = g.hold(A, 2, MIN + 1).expect("probing");
    assert_eq!(h.until_ms, Some(3 * MIN));
    assert_eq!(
        h.describe(hhmm),
        "waiting: task 1 of the same user is trying the API first after a limit"
    );
    assert_eq!(
        g.hold(A, 2, 3 * MIN),
        None,
        "a silent probe holds 2 min at most"
    );
    // The probe gave up: the next task to start probes.
    g.on_ended(A, 1);
    g.on_started(A, 2, MIN + 10);
    assert!(g.hold(A, 3, MIN + 20).is_some());
    // It went through: everyone may start.
    g.on_request_through(A, 2);
    assert_eq!(g.hold(A, 3, MIN + 20), None);
    g.on_started(A, 3, MIN + 30);
    assert_eq!(g.hold(A, 4, MIN + 40), None);
}

#[test]
fn success_resets_the_strikes() {
    let mut g = gov();
    g.on_limited(A, 1, &Limit::RateLimited, 0, 0.0);
    g.on_limited(A, 1, &Limit::RateLimited, 2 * MIN, 0.0);
    assert_eq!(g.strikes(A), 2);
    g.on_success(A, 1);
    assert_eq!(g.strikes(A), 0);
    let r = g.on_limited(A, 1, &Limit::RateLimited, 10 * MIN, 0.0);
    assert_eq!((r.eligible_ms, r.strikes), (11 * MIN, 1));
}

#[test]
fn cooldowns_in_force_and_expiry() {
    let mut g = gov();
    g.on_limited(A, 1, &Limit::RateLimited, 0, 0.0);
    g.on_retrying(B, 5, &retry(2, 529, 500), 0);
    let list = g.cooldowns(1_000);
    let brief: Vec<(Account, TaskId, i64)> =
        list.iter().map(|(a, c)| (*a, c.task, c.until_ms)).collect();
    assert_eq!(brief, vec![(A, 1, MIN), (B, 5, 120_000)]);
    assert!(matches!(list[1].1.cause, Cause::Retrying(r) if r.attempt == Some(2)));
    assert_eq!(g.cooldowns(120_000), vec![]);
    // Strikes outlive the cooldown, not a cap's length of quiet after it.
    g.expire(MIN + 30 * MIN - 1);
    assert_eq!(g.strikes(A), 1);
    g.expire(MIN + 30 * MIN);
    assert_eq!(g.strikes(A), 0);
}

#[test]
fn words_of_each_cooldown() {
    let mut g = gov();
    g.on_limited(A, 1, &Limit::RateLimited, 0, 0.0);
    g.on_limited(A, 1, &Limit::RateLimited, 2 * MIN, 0.0);
    g.on_limited(A, 1, &Limit::RateLimited, 5 * MIN, 0.0);
    assert_eq!(
        words(g.hold(A, 2, 5 * MIN)),
        "waiting for the API rate limit: cooldown until 00:09 (3rd limit in a row)"
    );
    g.on_limited(B, 3, &Limit::Overloaded, 0, 0.0);
    assert_eq!(
        words(g.hold(B, 4, 0)),
        "waiting for the overloaded API: cooldown until 00:01"
    );
    let mut g = gov();
    g.on_retrying(A, 17, &retry(3, 429, 500), 0);
    assert_eq!(
        words(g.hold(A, 18, 0)),
        "waiting: task 17 of the same user is retrying the API (attempt 3 of 10, status 429)"
    );
    let said = Reset {
        text: Some("6:20pm (Europe/Berlin)".into()),
        ..Reset::default()
    };
    g.on_limited(B, 1, &Limit::UsageLimit(said), 0, 0.0);
    assert_eq!(
        words(g.hold(B, 2, 0)),
        "waiting for the usage limit, which the CLI says resets 6:20pm (Europe/Berlin): next try at 00:30"
    );
    let mut g = gov();
    g.on_limited(A, 1, &Limit::UsageLimit(Reset::default()), 0, 0.0);
    assert_eq!(
        words(g.hold(A, 2, 0)),
        "waiting for the usage limit to reset, time unknown: next try at 00:30"
    );
}
