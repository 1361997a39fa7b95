//! `GET /v1/usage`: Claude Code runs' tokens and cost per hour and day, the
//! cooldowns in force and the budgets (wire form in [`crate::proto::usage`]).
//!
//! Who sees what is the rule of `list --user` (`list::whose`): one's own
//! usage, or anyone's for root and the admin group. The records are read
//! from the store (the last 7 days of runs of the users shown, one indexed
//! query); the rows come from `core::governor::report` in the daemon's
//! zone, the cooldowns from the governor in memory. `Actor::usage` only
//! gathers; [`view`] builds the answer and is pure.

use crate::core::governor::{report, Account, Budgets, Cooldown, Hold, HoldWhy, UsageRecord};
use crate::daemon::actor::{internal, now_ms, Actor};
use crate::daemon::list::whose;
use crate::daemon::users::Caller;
use crate::proto::usage::{cooldown_kind, CooldownView, UsageRow, UsageTotals};
use crate::proto::{ErrorInfo, UsageView};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// How far back the store is read: the oldest daily row starts after this.
const READ_BACK_MS: i64 = 7 * DAY_MS;

/// Whose usage an answer shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// `None`: everyone's.
    pub uid: Option<u32>,
    /// The user's name, `None` for everyone.
    pub name: Option<String>,
}

/// Whose usage `caller` asked for (`owner`: `?user=NAME`, resolved by the
/// server), or why not.
pub fn shown(caller: &Caller, owner: Option<(String, Option<u32>)>) -> Result<Shown, ErrorInfo> {
    let given = owner.as_ref().map(|(name, _)| name.clone());
    let uid = whose(caller, owner, "see other users' usage")?;
    let name = match (uid, given) {
        (None, _) => None,
        (Some(_), Some(name)) => Some(name),
        (Some(_), None) => Some(caller.name.clone()),
    };
    Ok(Shown { uid, name })
}

/// What the answer is built from, all read by the caller.
pub struct Inputs<'a> {
    /// Runs' usage over the last 7 days (others than the shown user's are
    /// left out here too).
    pub records: &'a [UsageRecord],
    /// The governor's cooldowns in force, each with its account's strikes.
    pub cooldowns: &'a [(Account, Cooldown, u32)],
    pub budgets: &'a Budgets,
    pub now_ms: i64,
    /// The daemon's offset from UTC, seconds east.
    pub tz_offset_s: i32,
}

/// The answer: rows, rolling totals, the cooldowns of the users shown in
/// words (accounts named by `name`, instants written by `at`), budgets.
pub fn view(
    shown: Shown,
    i: &Inputs<'_>,
    name: impl Fn(Account) -> String,
    at: impl Fn(i64) -> String,
) -> UsageView {
    let mine = |a: Account| shown.uid.is_none_or(|u| u == a);
    let records: Vec<&UsageRecord> = i.records.iter().filter(|r| mine(r.account)).collect();
    let rep = report(records.iter().copied(), i.now_ms, i.tz_offset_s);
    let row = |r: &crate::core::governor::ReportRow| UsageRow {
        start_ms: r.start_ms,
        end_ms: r.end_ms,
        totals: UsageTotals::from(&r.totals),
    };
    let rolling = |span: i64| {
        let mut t = crate::core::governor::Totals::default();
        // As the budgets count: a run leaves the window `span` after it.
        for r in records.iter().filter(|r| r.at_ms + span > i.now_ms) {
            t.add(r);
        }
        UsageTotals::from(&t)
    };
    let mut cooldowns: Vec<CooldownView> = i
        .cooldowns
        .iter()
        .filter(|(a, ..)| mine(*a))
        .map(|(a, c, strikes)| CooldownView {
            user: name(*a),
            uid: *a,
            until_ms: c.until_ms,
            kind: cooldown_kind(&c.cause).into(),
            strikes: *strikes,
            why: Hold {
                until_ms: Some(c.until_ms),
                why: HoldWhy::Cooldown(c.clone()),
            }
            .describe_with(&name, &at),
        })
        .collect();
    cooldowns.sort_by_key(|c| (c.uid, c.until_ms));
    UsageView {
        user: shown.name,
        generated_ms: i.now_ms,
        tz_offset_s: i.tz_offset_s,
        hours: rep.hours.iter().map(row).collect(),
        days: rep.days.iter().map(row).collect(),
        last_hour: rolling(HOUR_MS),
        last_day: rolling(DAY_MS),
        cooldowns,
        budgets: i.budgets.into(),
    }
}

impl Actor {
    /// `GET /v1/usage` for `caller`; `owner` is `?user=NAME` resolved.
    pub(in crate::daemon) fn usage(
        &self,
        caller: &Caller,
        owner: Option<(String, Option<u32>)>,
    ) -> Result<UsageView, ErrorInfo> {
        let shown = shown(caller, owner)?;
        let now = now_ms();
        let records = self
            .store
            .claude_usage_of(now - READ_BACK_MS, shown.uid)
            .map_err(internal)?;
        let g = &self.claude.governor;
        let cooldowns: Vec<_> = g
            .cooldowns(now)
            .into_iter()
            .map(|(a, c)| (a, c, g.strikes(a)))
            .collect();
        let inputs = Inputs {
            records: &records,
            cooldowns: &cooldowns,
            budgets: &self.cfg.claude.budgets,
            now_ms: now,
            tz_offset_s: chrono::Local::now().offset().local_minus_utc(),
        };
        let name = |uid: u32| match self.accounts.cached_account(uid) {
            Some(Ok(a)) => a.name,
            _ => format!("uid {uid}"),
        };
        Ok(view(shown, &inputs, name, super::govern::local_time))
    }
}

#[cfg(test)]
#[path = "usage_tests.rs"]
mod tests;
