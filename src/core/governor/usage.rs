//! Tokens and cost per account over the last hour and day, and the budgets
//! that hold an account's Claude tasks once spent.
//!
//! Records are kept per account in time order, one entry per minute (records
//! of one minute are added together, dated by the latest of them), and
//! dropped a day after: at most 1 441 entries an account, however many runs
//! report. An entry leaves a window when its latest record does, so a
//! budget hold lifts exactly when enough usage has left the window, to the
//! millisecond for entries of one record.
//!
//! A budget of tokens counts input, output and cache-creation tokens, not
//! cache reads: a long session rereads its whole context at every turn, so
//! cache reads dwarf the rest (often nine tenths of the count) while costing
//! a tenth of an input token; the dollar budget weighs them all.

use super::hold::{Amount, BudgetOver, Hold, HoldWhy, Span};
use super::Account;
use std::collections::{BTreeMap, VecDeque};

const MINUTE_MS: i64 = 60_000;

/// What one run (or one part of a run) used, as the CLI's result reports.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct UsageRecord {
    pub account: Account,
    pub at_ms: i64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cost_usd: f64,
}

impl UsageRecord {
    /// What a run's result line says it used (a cost that is not a finite,
    /// non-negative number counts as 0).
    pub fn of_result(
        account: Account,
        at_ms: i64,
        r: &crate::core::claude_stream::ResultLine,
    ) -> UsageRecord {
        let n = |v: Option<u64>| v.unwrap_or(0);
        UsageRecord {
            account,
            at_ms,
            input_tokens: n(r.usage.input_tokens),
            output_tokens: n(r.usage.output_tokens),
            cache_read_tokens: n(r.usage.cache_read_input_tokens),
            cache_creation_tokens: n(r.usage.cache_creation_input_tokens),
            cost_usd: r
                .total_cost_usd
                .filter(|c| c.is_finite() && *c >= 0.0)
                .unwrap_or(0.0),
        }
    }
}

/// Usage added up.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Totals {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cost_usd: f64,
    /// How many records.
    pub records: u32,
}

impl Totals {
    pub fn add(&mut self, r: &UsageRecord) {
        self.input_tokens = self.input_tokens.saturating_add(r.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(r.output_tokens);
        self.cache_read_tokens = self.cache_read_tokens.saturating_add(r.cache_read_tokens);
        self.cache_creation_tokens = self
            .cache_creation_tokens
            .saturating_add(r.cache_creation_tokens);
        // A negative or NaN cost is a misread: it counts as nothing.
        if r.cost_usd > 0.0 {
            self.cost_usd += r.cost_usd;
        }
        self.records = self.records.saturating_add(1);
    }

    pub fn merge(&mut self, t: &Totals) {
        self.input_tokens = self.input_tokens.saturating_add(t.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(t.output_tokens);
        self.cache_read_tokens = self.cache_read_tokens.saturating_add(t.cache_read_tokens);
        self.cache_creation_tokens = self
            .cache_creation_tokens
            .saturating_add(t.cache_creation_tokens);
        self.cost_usd += t.cost_usd;
        self.records = self.records.saturating_add(t.records);
    }

    /// The tokens a token budget counts: all but cache reads.
    pub fn budget_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.output_tokens)
            .saturating_add(self.cache_creation_tokens)
    }
}

/// An account's usage over the last hour and the last 24 h.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sums {
    pub hour: Totals,
    pub day: Totals,
}

/// Optional budgets per account (the same for every account).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Budgets {
    pub usd_per_hour: Option<f64>,
    pub usd_per_day: Option<f64>,
    pub tokens_per_hour: Option<u64>,
    pub tokens_per_day: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    minute: i64,
    /// The latest record's time: the entry leaves a window with it.
    last_ms: i64,
    totals: Totals,
}

/// Per-account usage over the last day.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UsageWindow {
    accounts: BTreeMap<Account, VecDeque<Entry>>,
}

impl UsageWindow {
    pub fn new() -> UsageWindow {
        UsageWindow::default()
    }

    /// Adds a record; one older than a day before the account's latest is
    /// dropped.
    pub fn add(&mut self, r: &UsageRecord) {
        let entries = self.accounts.entry(r.account).or_default();
        let minute = r.at_ms.div_euclid(MINUTE_MS);
        match entries.binary_search_by_key(&minute, |e| e.minute) {
            Ok(i) => {
                let e = &mut entries[i];
                e.totals.add(r);
                e.last_ms = e.last_ms.max(r.at_ms);
            }
            Err(i) => {
                let mut totals = Totals::default();
                totals.add(r);
                let entry = Entry {
                    minute,
                    last_ms: r.at_ms,
                    totals,
                };
                entries.insert(i, entry);
            }
        }
        let newest = entries.back().map_or(r.at_ms, |e| e.last_ms);
        prune(entries, newest);
    }

    /// `account`'s usage in the hour and the 24 h up to `now_ms`.
    pub fn sums(&self, account: Account, now_ms: i64) -> Sums {
        let mut sums = Sums::default();
        for e in self.entries(account) {
            if in_window(e, Span::Day, now_ms) {
                sums.day.merge(&e.totals);
            }
            if in_window(e, Span::Hour, now_ms) {
                sums.hour.merge(&e.totals);
            }
        }
        sums
    }

    /// The budget `account` has spent at `now_ms`, if any: of several, the
    /// one that lifts last, and when.
    pub fn budget_hold(&self, account: Account, now_ms: i64, budgets: &Budgets) -> Option<Hold> {
        // A NaN budget is no budget (the configuration refuses one).
        let usd = |b: Option<f64>| b.filter(|l| !l.is_nan()).map(Limit::Usd);
        let checks = [
            (Span::Hour, usd(budgets.usd_per_hour)),
            (Span::Day, usd(budgets.usd_per_day)),
            (Span::Hour, budgets.tokens_per_hour.map(Limit::Tokens)),
            (Span::Day, budgets.tokens_per_day.map(Limit::Tokens)),
        ];
        checks
            .into_iter()
            .filter_map(|(span, limit)| self.spent(account, span, limit?, now_ms))
            // `None` (never by itself) lifts last.
            .max_by_key(|h| h.until_ms.map_or((1, 0), |t| (0, t)))
    }

    fn spent(&self, account: Account, span: Span, limit: Limit, now_ms: i64) -> Option<Hold> {
        let window: Vec<&Entry> = self
            .entries(account)
            .filter(|e| in_window(e, span, now_ms))
            .collect();
        let used: f64 = window.iter().map(|e| limit.measure(&e.totals)).sum();
        if used < limit.value() {
            return None;
        }
        // Oldest first, each entry leaves at `last_ms + span`.
        let mut left = used;
        let until_ms = window.iter().find_map(|e| {
            left -= limit.measure(&e.totals);
            (left < limit.value()).then_some(e.last_ms + span.ms())
        });
        let amount = match limit {
            Limit::Usd(l) => Amount::Usd { used, limit: l },
            Limit::Tokens(l) => Amount::Tokens {
                used: used as u64,
                limit: l,
            },
        };
        Some(Hold {
            until_ms,
            why: HoldWhy::Budget(BudgetOver {
                account,
                span,
                amount,
            }),
        })
    }

    /// Drops entries more than a day old at `now_ms`, and empty accounts.
    pub fn expire(&mut self, now_ms: i64) {
        for entries in self.accounts.values_mut() {
            prune(entries, now_ms);
        }
        self.accounts.retain(|_, e| !e.is_empty());
    }

    fn entries(&self, account: Account) -> impl Iterator<Item = &Entry> {
        self.accounts.get(&account).into_iter().flatten()
    }
}

/// In the window ending at `now_ms`: its latest record is less than a span
/// old (records dated after `now_ms` count too).
fn in_window(e: &Entry, span: Span, now_ms: i64) -> bool {
    e.last_ms + span.ms() > now_ms
}

fn prune(entries: &mut VecDeque<Entry>, now_ms: i64) {
    while entries
        .front()
        .is_some_and(|e| !in_window(e, Span::Day, now_ms))
    {
        entries.pop_front();
    }
}

#[derive(Debug, Clone, Copy)]
enum Limit {
    Usd(f64),
    Tokens(u64),
}

impl Limit {
    fn value(self) -> f64 {
        match self {
            Limit::Usd(l) => l,
            Limit::Tokens(l) => l as f64,
        }
    }

    fn measure(self, t: &Totals) -> f64 {
        match self {
            Limit::Usd(_) => t.cost_usd,
            Limit::Tokens(_) => t.budget_tokens() as f64,
        }
    }
}

#[cfg(test)]
#[path = "usage_tests.rs"]
mod tests;
