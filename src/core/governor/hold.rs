//! Why a Claude task may not start yet, and the words for it.
//!
//! The core has no time zone: [`Hold::describe`] takes the formatter of
//! instants (the daemon's local `14:05`), and [`Hold::describe_with`] also
//! the account's name (the daemon's account cache), for budgets.

use super::cooldown::{Cause, Cooldown};
use super::Account;
use crate::core::task::TaskId;

/// A task held until `until_ms` (`None`: until something changes, e.g. a
/// budget of zero).
#[derive(Debug, Clone, PartialEq)]
pub struct Hold {
    pub until_ms: Option<i64>,
    pub why: HoldWhy,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HoldWhy {
    /// The account is in a cooldown, or another of its tasks is retrying.
    Cooldown(Cooldown),
    /// After a cooldown, another task of the account is trying first.
    Probing { task: TaskId },
    /// The account spent a budget.
    Budget(BudgetOver),
    /// Claude task starts of all users are at their rate.
    StartRate { per_minute: u32, burst: u32 },
}

/// A budget spent: what was used against what is allowed, over a span.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetOver {
    pub account: Account,
    pub span: Span,
    pub amount: Amount,
}

/// The rolling window a budget applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// The last hour.
    Hour,
    /// The last 24 hours.
    Day,
}

impl Span {
    pub fn ms(self) -> i64 {
        match self {
            Span::Hour => 3_600_000,
            Span::Day => 24 * 3_600_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    Usd { used: f64, limit: f64 },
    Tokens { used: u64, limit: u64 },
}

impl Hold {
    pub(super) fn cooldown(c: Cooldown) -> Hold {
        Hold {
            until_ms: Some(c.until_ms),
            why: HoldWhy::Cooldown(c),
        }
    }

    /// The words of the wait, instants written by `at`; an account is
    /// named `uid 1000`.
    pub fn describe(&self, at: impl Fn(i64) -> String) -> String {
        self.describe_with(|a| format!("uid {a}"), at)
    }

    /// The words of the wait, accounts named by `user`, instants by `at`.
    pub fn describe_with(
        &self,
        user: impl Fn(Account) -> String,
        at: impl Fn(i64) -> String,
    ) -> String {
        let until = self.until_ms.map(&at);
        match &self.why {
            HoldWhy::Cooldown(c) => describe_cooldown(c, &at),
            HoldWhy::Probing { task } => format!(
                "waiting: task {task} of the same user is trying the API first after a limit"
            ),
            HoldWhy::Budget(b) => {
                let mut s = describe_budget(b, &user(b.account));
                if let Some(t) = until {
                    s.push_str(&format!(", until {t}"));
                }
                s
            }
            HoldWhy::StartRate { per_minute, burst } => {
                let mut s = format!(
                    "waiting for the Claude start rate ({per_minute} a minute, bursts of {burst})"
                );
                if let Some(t) = until {
                    s.push_str(&format!(", next start at {t}"));
                }
                s
            }
        }
    }
}

fn describe_cooldown(c: &Cooldown, at: &impl Fn(i64) -> String) -> String {
    let until = at(c.until_ms);
    let in_a_row = if c.strikes >= 2 {
        format!(" ({} limit in a row)", ordinal(c.strikes))
    } else {
        String::new()
    };
    match &c.cause {
        Cause::UsageLimit(reset) => match (reset.at_ms, &reset.text) {
            (Some(_), _) => format!("waiting for the usage limit to reset at {until}"),
            (None, Some(text)) => format!(
                "waiting for the usage limit, which the CLI says resets {text}: next try at {until}"
            ),
            (None, None) => {
                format!("waiting for the usage limit to reset, time unknown: next try at {until}")
            }
        },
        Cause::RateLimited => {
            format!("waiting for the API rate limit: cooldown until {until}{in_a_row}")
        }
        Cause::Overloaded => {
            format!("waiting for the overloaded API: cooldown until {until}{in_a_row}")
        }
        Cause::Retrying(retry) => format!(
            "waiting: task {} of the same user is retrying the API ({})",
            c.task,
            retry.describe()
        ),
    }
}

/// `waiting for the daily budget: alice used $5.20 of $5.00 in the last
/// 24 h`.
fn describe_budget(b: &BudgetOver, name: &str) -> String {
    let (span, last) = match b.span {
        Span::Hour => ("hourly", "the last hour"),
        Span::Day => ("daily", "the last 24 h"),
    };
    match b.amount {
        Amount::Usd { used, limit } => format!(
            "waiting for the {span} budget: {name} used ${used:.2} of ${limit:.2} in {last}"
        ),
        Amount::Tokens { used, limit } => format!(
            "waiting for the {span} token budget: {name} used {} of {} tokens in {last}",
            format_count(used),
            format_count(limit)
        ),
    }
}

/// `950`, `15.3k`, `1.2M`, `2G` (one decimal, dropped when zero).
pub fn format_count(n: u64) -> String {
    let (value, suffix) = match n {
        0..=9_999 => return n.to_string(),
        // Bounds where one decimal would round up to the next suffix.
        10_000..=999_949 => (n as f64 / 1e3, "k"),
        999_950..=999_949_999 => (n as f64 / 1e6, "M"),
        _ => (n as f64 / 1e9, "G"),
    };
    let s = format!("{value:.1}");
    let s = s.strip_suffix(".0").unwrap_or(&s);
    format!("{s}{suffix}")
}

/// `1st`, `2nd`, `3rd`, `4th`, `11th`, `12th`, `13th`, `21st`.
pub fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
#[path = "hold_tests.rs"]
mod tests;
