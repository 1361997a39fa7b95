//! Tests of the start rate: the bucket, and the governor's use of it.

use super::super::{Governor, GovernorPolicy};
use super::*;

const A: u32 = 1000;
const B: u32 = 1001;
const MIN: i64 = 60_000;

#[test]
fn the_bucket_allows_a_burst_then_one_per_interval() {
    let mut b = TokenBucket::new(6, 3, 0);
    for _ in 0..3 {
        assert_eq!(b.try_take(0), Ok(()));
    }
    assert_eq!(b.try_take(0), Err(10_000));
    assert_eq!(b.peek(9_999), Err(10_000));
    assert_eq!(b.try_take(10_000), Ok(()));
    assert_eq!(b.try_take(10_000), Err(20_000));
    assert_eq!(b.try_take(25_000), Ok(()));
    assert_eq!(b.peek(25_000), Err(30_000));
    // Refill is continuous and stops at the burst.
    assert_eq!(b.tokens(27_500), 0.75);
    assert_eq!(b.tokens(10 * MIN), 3.0);
    // 7 a minute: 8 571.4 ms apart, the wake-up never early.
    let mut b = TokenBucket::new(7, 1, 0);
    assert_eq!(b.try_take(0), Ok(()));
    assert_eq!(b.try_take(0), Err(8_572));
    assert_eq!(b.try_take(8_572), Ok(()));
}

#[test]
fn the_start_rate_is_global() {
    let policy = GovernorPolicy {
        starts_per_minute: Some(6),
        burst: 2,
        ..GovernorPolicy::default()
    };
    let mut g = Governor::new(policy, 0);
    assert_eq!(g.may_start_claude(0), Ok(()));
    g.on_started(A, 1, 0);
    g.on_started(B, 2, 0);
    let h = g.may_start_claude(1_000).unwrap_err();
    assert_eq!(h.until_ms, Some(10_000));
    assert_eq!(
        h.describe(|ms| format!("{}s", ms / 1000)),
        "waiting for the Claude start rate (6 a minute, bursts of 2), next start at 10s"
    );
    assert_eq!(g.may_start_claude(10_000), Ok(()));
    assert_eq!(
        Governor::new(GovernorPolicy::default(), 0).may_start_claude(0),
        Ok(()),
        "no cap by default"
    );
}
