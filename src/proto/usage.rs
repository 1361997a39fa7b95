//! `GET /v1/usage?user=NAME`: the tokens and cost of Claude Code runs per
//! hour and per day, the cooldowns in force and the configured budgets.
//!
//! ```json
//! {"user": "alice", "generated_ms": 1795528201000, "tz_offset_s": 3600,
//!  "hours": [{"start_ms": 1795442400000, "end_ms": 1795446000000,
//!             "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0,
//!             "cache_creation_tokens": 0, "cost_usd": 0.0, "runs": 0}, ...],
//!  "days": [...],
//!  "last_hour": {"input_tokens": 1200, "output_tokens": 800,
//!                "cache_read_tokens": 45000, "cache_creation_tokens": 3000,
//!                "cost_usd": 0.42, "runs": 2},
//!  "last_day": {...},
//!  "cooldowns": [{"user": "alice", "uid": 1000, "until_ms": 1795528500000,
//!                 "kind": "rate_limited", "strikes": 2,
//!                 "why": "waiting for the API rate limit: cooldown until 14:15 (2nd limit in a row)"}],
//!  "budgets": {"usd_per_hour": null, "usd_per_day": 5.0,
//!              "tokens_per_hour": null, "tokens_per_day": null}}
//! ```
//!
//! `user` is whose usage it is; `null` means everyone's added up (root and
//! the admin group, when they name no user). Others see only their own
//! usage and cooldowns; naming another user is refused with 403
//! `permission_denied`, an unknown name with 400 `invalid_request`.
//!
//! `hours` are the 24 hours up to now and `days` the 7 days up to now,
//! oldest first, every row present (zero when nothing ran); the last row
//! holds `generated_ms`. Rows are aligned to the hours and midnights of the
//! daemon's zone, whose offset from UTC (at `generated_ms`) is
//! `tz_offset_s`. A run counts in the row of the instant it ended.
//! `last_hour` and `last_day` are rolling: the runs that ended in the last
//! 60 minutes and the last 24 hours, as budgets count them. `why` is in the
//! daemon's local time. `budgets` apply to each user separately; a token
//! budget counts input, output and cache-creation tokens, not cache reads.

use crate::core::governor::{Budgets, Cause, Totals};
use serde::{Deserialize, Serialize};

/// The answer of `GET /v1/usage` (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageView {
    /// Whose usage: a user's name, or `None` for everyone's (admins only).
    pub user: Option<String>,
    /// When the daemon built the answer (Unix ms).
    pub generated_ms: i64,
    /// The daemon's offset from UTC, seconds east; rows are aligned to it.
    pub tz_offset_s: i32,
    /// 24 rows, oldest first.
    pub hours: Vec<UsageRow>,
    /// 7 rows, oldest first.
    pub days: Vec<UsageRow>,
    /// The runs that ended in the last 60 minutes.
    pub last_hour: UsageTotals,
    /// The runs that ended in the last 24 hours.
    pub last_day: UsageTotals,
    /// Cooldowns and retry holds in force, of the users shown.
    pub cooldowns: Vec<CooldownView>,
    /// The configured budgets, per user.
    pub budgets: BudgetsView,
}

/// Usage added up: tokens, cost and the number of runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageTotals {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cost_usd: f64,
    pub runs: u32,
}

impl UsageTotals {
    /// What a token budget counts: all but cache reads.
    pub fn budget_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.output_tokens)
            .saturating_add(self.cache_creation_tokens)
    }
}

impl From<&Totals> for UsageTotals {
    fn from(t: &Totals) -> Self {
        UsageTotals {
            input_tokens: t.input_tokens,
            output_tokens: t.output_tokens,
            cache_read_tokens: t.cache_read_tokens,
            cache_creation_tokens: t.cache_creation_tokens,
            cost_usd: t.cost_usd,
            runs: t.records,
        }
    }
}

/// One hour or one day: the runs that ended at `start_ms <= t < end_ms`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageRow {
    pub start_ms: i64,
    pub end_ms: i64,
    #[serde(flatten)]
    pub totals: UsageTotals,
}

/// A user's Claude tasks held until `until_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CooldownView {
    pub user: String,
    pub uid: u32,
    pub until_ms: i64,
    /// `rate_limited` (HTTP 429), `overloaded` (529), `usage_limit`, or
    /// `retrying` (a task of the user is retrying a refused request).
    pub kind: String,
    /// The user's limited ends in a row.
    pub strikes: u32,
    /// In words, with the daemon's local times.
    pub why: String,
}

/// The kind of a cooldown, as [`CooldownView::kind`] names it.
pub fn cooldown_kind(cause: &Cause) -> &'static str {
    match cause {
        Cause::RateLimited => "rate_limited",
        Cause::Overloaded => "overloaded",
        Cause::UsageLimit(_) => "usage_limit",
        Cause::Retrying(_) => "retrying",
    }
}

/// Budgets per user over the last hour and day (`None`: none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BudgetsView {
    pub usd_per_hour: Option<f64>,
    pub usd_per_day: Option<f64>,
    pub tokens_per_hour: Option<u64>,
    pub tokens_per_day: Option<u64>,
}

impl BudgetsView {
    pub fn is_empty(&self) -> bool {
        *self == BudgetsView::default()
    }
}

impl From<&Budgets> for BudgetsView {
    fn from(b: &Budgets) -> Self {
        BudgetsView {
            usd_per_hour: b.usd_per_hour,
            usd_per_day: b.usd_per_day,
            tokens_per_hour: b.tokens_per_hour,
            tokens_per_day: b.tokens_per_day,
        }
    }
}
