//! The usage-limit governor: when Claude Code tasks of an account (the
//! owner's uid) may start, given what the API and the account said lately
//! and what the account has spent.
//!
//! Pure like the rest of the core: time comes in as `now_ms`, randomness as
//! a `jitter` in [-1, 1] drawn by the caller, local time as a formatter
//! closure in [`Hold::describe`]. The daemon feeds it the runs' signals and
//! asks it before each Claude task starts.
//!
//! # Limits: cooldowns per account (`cooldown.rs`)
//!
//! A run judged [`Limit`]ed ([`crate::core::claude_stream::outcome`]) is
//! not the task's fault: [`Governor::on_limited`] puts the account in a
//! cooldown and returns the [`Requeue`]: when the task may run again (it
//! resumes by itself then) and the words of its wait.
//!
//! - A usage limit whose reset instant is known (`…|<unix time>`, a
//!   rejected `rate_limit_event`, or a wall-clock reset the daemon turned
//!   into an instant in the user's zone) is honoured: the task waits until
//!   then plus `reset_margin_ms`. Without an instant the task retries after
//!   `usage_limit_fallback_ms` (30 min): the subscription windows are 5 h,
//!   so the reset falls anywhere in the next hours; a probe every 30 min is
//!   at most 10 refused requests per window (a refusal uses no quota, and
//!   only one task probes, see below) and is never more than 30 min late.
//! - HTTP 429 and 529 get exponential backoff with jitter and a cap
//!   ("Exponential Backoff And Jitter", AWS Architecture Blog, 2015):
//!   `backoff_base_ms · 2^(strikes − 1)`, at most `backoff_cap_ms`, times
//!   `1 ± jitter_fraction`, never under `min_cooldown_ms`. The base is a
//!   minute because the CLI has already retried (10 times by default, over
//!   two minutes) before it gives up. Under API-key authentication the CLI
//!   reports no reset time at all, only `api_retry.retry_delay_ms` (from a
//!   `retry-after` of at most 60 s; a longer one makes it fail at once with
//!   429), so backoff is the rule there, not the exception.
//! - Strikes count the account's limited ends in a row; a success resets
//!   them. Tasks that hit the same wall count once: an end during a cooldown
//!   in force joins it rather than adding a strike (ten tasks refused at
//!   once are one strike, not ten). A cooldown is never shortened.
//! - When a cooldown has passed, the account is *unproven*: the first task
//!   that starts is its probe and the others wait until a request of the
//!   account goes through ([`Governor::on_request_through`]), the probe
//!   ends, or `probe_hold_ms` passes. Ten tasks released together into a
//!   limit that has not lifted would be ten refusals and ten strikes'
//!   worth of noise; a probe is one.
//!
//! # Early signal: the CLI's own retries
//!
//! An `api_retry` line says the API refused a request of this account just
//! now. [`Governor::on_retrying`] holds the account's *other* Claude tasks
//! for `retry_hold_ms` (or the retry's own delay if longer), renewed by each
//! new line, lifted when that task's request goes through or it ends; the
//! retrying task itself is not held by its own retry.
//!
//! # Spending: budgets and the start rate (`usage.rs`, `bucket.rs`)
//!
//! Each run's tokens and cost ([`UsageRecord`]) are summed per account over
//! the last hour and the last 24 h ([`UsageWindow`], per-minute entries:
//! bounded memory). An optional budget of dollars or tokens per hour or day
//! holds the account's Claude tasks while it is spent, until enough usage
//! has left the window; running tasks are not stopped, so a budget can be
//! overshot by what is running. An optional global rate of Claude task
//! starts ([`TokenBucket`]: `starts_per_minute`, bursts of `burst`) spaces
//! starts of all users, so a released queue does not hit the API at once.
//! [`report`] builds the hourly and daily rows of `claudinectl usage`.
//!
//! Files: `cooldown.rs` (one account's cooldowns, retries and probe),
//! `hold.rs` (why a task waits, in words), `bucket.rs`, `usage.rs` (the
//! rolling sums and budgets), `report.rs`.

mod bucket;
mod cooldown;
mod hold;
mod report;
mod usage;

pub use bucket::TokenBucket;
pub use cooldown::{backoff_ms, Cause, Cooldown, Requeue, MAX_RESET_AHEAD_MS};
pub use hold::{format_count, Amount, BudgetOver, Hold, HoldWhy, Span};
pub use report::{report, Report, ReportRow};
pub use usage::{Budgets, Sums, Totals, UsageRecord, UsageWindow};

use super::claude_stream::{Limit, Retry};
use super::task::TaskId;
use cooldown::AccountState;
use std::collections::BTreeMap;

/// An account: the uid owning the tasks (their Claude credentials are the
/// user's).
pub type Account = u32;

#[derive(Debug, Clone, PartialEq)]
pub struct GovernorPolicy {
    /// The first cooldown after a 429 or 529; each strike in a row doubles it.
    pub backoff_base_ms: i64,
    /// The longest cooldown backoff reaches (before jitter).
    pub backoff_cap_ms: i64,
    /// Cooldowns are spread by up to this fraction either way (0.2: ±20 %).
    pub jitter_fraction: f64,
    /// How long an `api_retry` line holds the account's other tasks.
    pub retry_hold_ms: i64,
    /// How long the probe after a cooldown holds the account's other tasks
    /// at most, if no request of the account goes through.
    pub probe_hold_ms: i64,
    /// The wait after a usage limit whose reset instant is not known.
    pub usage_limit_fallback_ms: i64,
    /// Added to a known reset instant (clocks differ; resets are not exact).
    pub reset_margin_ms: i64,
    /// No cooldown is shorter than this.
    pub min_cooldown_ms: i64,
    /// Claude task starts per minute, all users together (`None`: no cap).
    pub starts_per_minute: Option<u32>,
    /// Starts allowed at once on a rested bucket (at least 1).
    pub burst: u32,
    pub budgets: Budgets,
}

impl Default for GovernorPolicy {
    fn default() -> Self {
        GovernorPolicy {
            backoff_base_ms: 60_000,
            backoff_cap_ms: 30 * 60_000,
            jitter_fraction: 0.2,
            retry_hold_ms: 120_000,
            probe_hold_ms: 120_000,
            usage_limit_fallback_ms: 30 * 60_000,
            reset_margin_ms: 5_000,
            min_cooldown_ms: 5_000,
            starts_per_minute: None,
            burst: 5,
            budgets: Budgets::default(),
        }
    }
}

/// The governor's state: every account's cooldowns, the usage window and
/// the start-rate bucket.
#[derive(Debug, Clone)]
pub struct Governor {
    policy: GovernorPolicy,
    accounts: BTreeMap<Account, AccountState>,
    usage: UsageWindow,
    bucket: Option<TokenBucket>,
}

impl Governor {
    /// A governor with nobody in cooldown and a full start-rate bucket.
    pub fn new(policy: GovernorPolicy, now_ms: i64) -> Governor {
        let bucket = policy
            .starts_per_minute
            .map(|n| TokenBucket::new(n, policy.burst, now_ms));
        Governor {
            policy,
            accounts: BTreeMap::new(),
            usage: UsageWindow::new(),
            bucket,
        }
    }

    pub fn policy(&self) -> &GovernorPolicy {
        &self.policy
    }

    /// `task` of `account` ended refused by `limit`: the account's cooldown
    /// and when the task runs again. `jitter` is uniform in [-1, 1].
    pub fn on_limited(
        &mut self,
        account: Account,
        task: TaskId,
        limit: &Limit,
        now_ms: i64,
        jitter: f64,
    ) -> Requeue {
        let state = self.accounts.entry(account).or_default();
        state.on_limited(&self.policy, task, limit, now_ms, jitter)
    }

    /// `task`'s stream shows an `api_retry` line.
    pub fn on_retrying(&mut self, account: Account, task: TaskId, retry: &Retry, now_ms: i64) {
        let state = self.accounts.entry(account).or_default();
        state.on_retrying(&self.policy, task, retry, now_ms);
    }

    /// `task`'s stream shows a request went through (a model message began):
    /// its retry hold lifts, and the account is proven after a cooldown.
    /// A cooldown from a limited end stays.
    pub fn on_request_through(&mut self, account: Account, task: TaskId) {
        if let Some(state) = self.accounts.get_mut(&account) {
            state.on_request_through(task);
        }
    }

    /// A Claude task of `account` started: it takes a start from the bucket
    /// and, if the account is unproven after a cooldown, is its probe.
    pub fn on_started(&mut self, account: Account, task: TaskId, now_ms: i64) {
        if let Some(bucket) = &mut self.bucket {
            // The decision asked `may_start_claude` first; a start the caller
            // made anyway still empties the bucket.
            let _ = bucket.try_take(now_ms);
        }
        if let Some(state) = self.accounts.get_mut(&account) {
            state.on_started(&self.policy, task, now_ms);
        }
    }

    /// `task` succeeded: the account's strikes are reset.
    pub fn on_success(&mut self, account: Account, task: TaskId) {
        if let Some(state) = self.accounts.get_mut(&account) {
            state.on_success(task);
        }
    }

    /// `task` ended otherwise (failed, cancelled): its retry hold and its
    /// part as a probe end; strikes stay.
    pub fn on_ended(&mut self, account: Account, task: TaskId) {
        if let Some(state) = self.accounts.get_mut(&account) {
            state.on_ended(task);
        }
    }

    /// Whether `task`, a Claude task of `account`, may not start now, and
    /// why: a cooldown, another task's retry or probe, a spent budget.
    pub fn hold(&self, account: Account, task: TaskId, now_ms: i64) -> Option<Hold> {
        self.accounts
            .get(&account)
            .and_then(|s| s.hold(&self.policy, task, now_ms))
            .or_else(|| {
                self.usage
                    .budget_hold(account, now_ms, &self.policy.budgets)
            })
    }

    /// Whether the start rate lets any Claude task start now; if not, the
    /// hold says when the next may.
    pub fn may_start_claude(&self, now_ms: i64) -> Result<(), Hold> {
        let Some(bucket) = &self.bucket else {
            return Ok(());
        };
        bucket.peek(now_ms).map_err(|next_ms| Hold {
            until_ms: Some(next_ms),
            why: HoldWhy::StartRate {
                per_minute: bucket.per_minute(),
                burst: bucket.burst(),
            },
        })
    }

    /// Counts a run's tokens and cost.
    pub fn record(&mut self, record: &UsageRecord) {
        self.usage.add(record);
    }

    /// `account`'s usage over the last hour and day.
    pub fn sums(&self, account: Account, now_ms: i64) -> Sums {
        self.usage.sums(account, now_ms)
    }

    /// Cooldowns and retry holds in force, by account.
    pub fn cooldowns(&self, now_ms: i64) -> Vec<(Account, Cooldown)> {
        self.accounts
            .iter()
            .flat_map(|(&a, s)| s.in_force(now_ms).into_iter().map(move |c| (a, c)))
            .collect()
    }

    /// `account`'s limited ends in a row.
    pub fn strikes(&self, account: Account) -> u32 {
        self.accounts.get(&account).map_or(0, |s| s.strikes())
    }

    /// Forgets what has lapsed: retry holds and probes past their time,
    /// usage older than a day, and accounts whose last cooldown ended more
    /// than `backoff_cap_ms` ago with nothing since (strikes included: a
    /// limit that long ago is not one "in a row").
    pub fn expire(&mut self, now_ms: i64) {
        let policy = &self.policy;
        self.accounts.retain(|_, s| !s.expire(policy, now_ms));
        self.usage.expire(now_ms);
    }
}

#[cfg(test)]
#[path = "governor_tests.rs"]
mod tests;
