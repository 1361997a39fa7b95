//! One account's state: its cooldown from limited ends, the holds of its
//! retrying tasks, its strikes and its probe after a cooldown (the policy is
//! explained in the module above).

use super::hold::{Hold, HoldWhy};
use super::GovernorPolicy;
use crate::core::claude_stream::{Limit, Reset, Retry};
use crate::core::task::TaskId;

/// A reset instant further ahead than this (8 days: beyond a weekly limit)
/// is taken as this far: a misread number must not hold an account forever.
pub const MAX_RESET_AHEAD_MS: i64 = 8 * 24 * 3_600_000;

/// Why an account's tasks are held.
#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    /// A run ended with HTTP 429.
    RateLimited,
    /// A run ended with HTTP 529.
    Overloaded,
    /// A run ended on the account's usage limit; its reset as far as known.
    UsageLimit(Reset),
    /// A task is retrying a refused request (its last `api_retry` line).
    Retrying(Retry),
}

/// An account held until `until_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cooldown {
    pub until_ms: i64,
    pub cause: Cause,
    /// The account's limited ends in a row when this was set.
    pub strikes: u32,
    /// The task whose end (or retry) set it.
    pub task: TaskId,
    /// When it was set (for a retry: the first line of the series).
    pub since_ms: i64,
}

/// Where a limited task goes: back to the queue, eligible at `eligible_ms`
/// (the account's cooldown, which may be longer than this end alone asks).
#[derive(Debug, Clone, PartialEq)]
pub struct Requeue {
    pub eligible_ms: i64,
    pub strikes: u32,
    /// The cooldown that holds it, for its words.
    pub hold: Hold,
}

impl Requeue {
    /// The waiting task's note, e.g. `waiting for the usage limit to reset
    /// at 14:05`.
    pub fn describe(&self, at: impl Fn(i64) -> String) -> String {
        self.hold.describe(at)
    }
}

/// The cooldown after `strikes` rate limits or overloads in a row:
/// `base · 2^(strikes − 1)`, at most the cap, spread by `jitter` (in
/// [-1, 1]) times the policy's fraction, at least the minimum.
pub fn backoff_ms(policy: &GovernorPolicy, strikes: u32, jitter: f64) -> i64 {
    let base = policy.backoff_base_ms.max(0);
    let doubled = 1i64
        .checked_shl(strikes.saturating_sub(1))
        .filter(|&m| m > 0)
        .map_or(i64::MAX, |m| base.saturating_mul(m));
    jittered(policy, doubled.min(policy.backoff_cap_ms.max(0)), jitter)
}

fn jittered(policy: &GovernorPolicy, ms: i64, jitter: f64) -> i64 {
    let j = if jitter.is_nan() {
        0.0
    } else {
        jitter.clamp(-1.0, 1.0)
    };
    let fraction = if policy.jitter_fraction.is_nan() {
        0.0
    } else {
        policy.jitter_fraction.clamp(0.0, 1.0)
    };
    let spread = (ms as f64 * (1.0 + fraction * j)).round() as i64;
    spread.max(policy.min_cooldown_ms)
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct AccountState {
    strikes: u32,
    /// From the last limited end; kept after it passes (it dates the probe).
    limited: Option<Cooldown>,
    /// One per task whose stream shows a retry.
    retrying: Vec<Cooldown>,
    /// A limit was met and no request of the account has gone through since.
    unproven: bool,
    /// The task trying first after a cooldown, and when it started.
    probe: Option<(TaskId, i64)>,
}

impl AccountState {
    pub(super) fn strikes(&self) -> u32 {
        self.strikes
    }

    pub(super) fn on_limited(
        &mut self,
        p: &GovernorPolicy,
        task: TaskId,
        limit: &Limit,
        now: i64,
        jitter: f64,
    ) -> Requeue {
        self.forget_task(task);
        let current = self.limited.as_ref().filter(|c| now < c.until_ms);
        let same_wall = current.is_some_and(|c| same_kind(&c.cause, limit));
        if current.is_none() {
            self.strikes = self.strikes.saturating_add(1);
        }
        // What this end asks for: a known reset always counts (it is news);
        // without one, an end on the wall the account already waits for
        // asks nothing more.
        let asked = match limit {
            Limit::UsageLimit(Reset {
                at_ms: Some(at), ..
            }) => {
                let latest = now.saturating_add(MAX_RESET_AHEAD_MS);
                let at = at.saturating_add(p.reset_margin_ms).min(latest);
                Some(at.max(now.saturating_add(p.min_cooldown_ms)))
            }
            _ if same_wall => None,
            Limit::UsageLimit(_) => {
                Some(now.saturating_add(jittered(p, p.usage_limit_fallback_ms, jitter)))
            }
            Limit::RateLimited | Limit::Overloaded => {
                Some(now.saturating_add(backoff_ms(p, self.strikes, jitter)))
            }
        };
        // Never shorter than the cooldown in force.
        let cooldown = match (asked, current) {
            (Some(until), Some(c)) if until <= c.until_ms => c.clone(),
            (None, Some(c)) => c.clone(),
            (until, _) => Cooldown {
                until_ms: until.unwrap_or(now),
                cause: cause_of(limit),
                strikes: self.strikes,
                task,
                since_ms: now,
            },
        };
        self.limited = Some(cooldown.clone());
        self.unproven = true;
        Requeue {
            eligible_ms: cooldown.until_ms,
            strikes: self.strikes,
            hold: Hold::cooldown(cooldown),
        }
    }

    pub(super) fn on_retrying(
        &mut self,
        p: &GovernorPolicy,
        task: TaskId,
        retry: &Retry,
        now: i64,
    ) {
        let delay = retry
            .retry_delay_ms
            .map_or(0, |d| i64::try_from(d).unwrap_or(i64::MAX));
        let until = now.saturating_add(p.retry_hold_ms.max(delay));
        match self.retrying.iter_mut().find(|c| c.task == task) {
            Some(c) => {
                c.until_ms = c.until_ms.max(until);
                c.cause = Cause::Retrying(*retry);
            }
            None => self.retrying.push(Cooldown {
                until_ms: until,
                cause: Cause::Retrying(*retry),
                strikes: self.strikes,
                task,
                since_ms: now,
            }),
        }
    }

    pub(super) fn on_request_through(&mut self, task: TaskId) {
        self.retrying.retain(|c| c.task != task);
        self.unproven = false;
        self.probe = None;
    }

    pub(super) fn on_started(&mut self, p: &GovernorPolicy, task: TaskId, now: i64) {
        let cooled = self.limited.as_ref().is_none_or(|c| c.until_ms <= now);
        if self.unproven && cooled && self.live_probe(p, now).is_none() {
            self.probe = Some((task, now));
        }
    }

    pub(super) fn on_success(&mut self, task: TaskId) {
        self.on_request_through(task);
        self.strikes = 0;
    }

    pub(super) fn on_ended(&mut self, task: TaskId) {
        self.forget_task(task);
    }

    fn forget_task(&mut self, task: TaskId) {
        self.retrying.retain(|c| c.task != task);
        if self.probe.is_some_and(|(t, _)| t == task) {
            self.probe = None;
        }
    }

    /// The probe still holding the others: (task, until).
    fn live_probe(&self, p: &GovernorPolicy, now: i64) -> Option<(TaskId, i64)> {
        let (task, since) = self.probe.filter(|_| self.unproven)?;
        let until = since.saturating_add(p.probe_hold_ms);
        (now < until).then_some((task, until))
    }

    pub(super) fn hold(&self, p: &GovernorPolicy, task: TaskId, now: i64) -> Option<Hold> {
        if let Some(c) = self.limited.as_ref().filter(|c| now < c.until_ms) {
            return Some(Hold::cooldown(c.clone()));
        }
        let retry = self
            .retrying
            .iter()
            .filter(|c| c.task != task && now < c.until_ms)
            .max_by_key(|c| c.until_ms);
        if let Some(c) = retry {
            return Some(Hold::cooldown(c.clone()));
        }
        match self.live_probe(p, now) {
            Some((probe, until)) if probe != task => Some(Hold {
                until_ms: Some(until),
                why: HoldWhy::Probing { task: probe },
            }),
            _ => None,
        }
    }

    /// The cooldown and retry holds in force.
    pub(super) fn in_force(&self, now: i64) -> Vec<Cooldown> {
        let mut v: Vec<Cooldown> = self.limited.iter().chain(&self.retrying).cloned().collect();
        v.retain(|c| now < c.until_ms);
        v
    }

    /// Drops what lapsed; true when nothing of the account is left to keep.
    pub(super) fn expire(&mut self, p: &GovernorPolicy, now: i64) -> bool {
        self.retrying.retain(|c| now < c.until_ms);
        if self.live_probe(p, now).is_none() {
            self.probe = None;
        }
        let old = self
            .limited
            .as_ref()
            .is_none_or(|c| c.until_ms.saturating_add(p.backoff_cap_ms) <= now);
        old && self.retrying.is_empty() && self.probe.is_none()
    }
}

fn same_kind(cause: &Cause, limit: &Limit) -> bool {
    matches!(
        (cause, limit),
        (Cause::RateLimited, Limit::RateLimited)
            | (Cause::Overloaded, Limit::Overloaded)
            | (Cause::UsageLimit(_), Limit::UsageLimit(_))
    )
}

fn cause_of(limit: &Limit) -> Cause {
    match limit {
        Limit::RateLimited => Cause::RateLimited,
        Limit::Overloaded => Cause::Overloaded,
        Limit::UsageLimit(reset) => Cause::UsageLimit(reset.clone()),
    }
}
