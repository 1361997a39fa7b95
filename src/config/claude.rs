//! The keys of Claude Code tasks' usage governor (`core::governor`): the
//! cooldown after a rate limit, an optional cap on Claude task starts per
//! minute for all users together, and optional per-user budgets of cost and
//! tokens over the last hour and day. All off or at their defaults unless
//! set.

use crate::core::governor::{Budgets, GovernorPolicy};
use serde::Deserialize;

/// The keys as written (`claude_*` at the top level of the file).
#[derive(Debug, Default, Deserialize, Clone)]
pub struct RawClaude {
    pub claude_backoff: Option<String>,
    pub claude_backoff_max: Option<String>,
    pub claude_starts_per_minute: Option<i64>,
    pub claude_burst: Option<i64>,
    pub claude_budget_usd_per_hour: Option<f64>,
    pub claude_budget_usd_per_day: Option<f64>,
    pub claude_budget_tokens_per_hour: Option<i64>,
    pub claude_budget_tokens_per_day: Option<i64>,
}

/// The governor's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaudeConfig {
    pub backoff_ms: i64,
    pub backoff_max_ms: i64,
    pub starts_per_minute: Option<u32>,
    pub burst: u32,
    pub budgets: Budgets,
}

impl Default for ClaudeConfig {
    fn default() -> Self {
        let p = GovernorPolicy::default();
        ClaudeConfig {
            backoff_ms: p.backoff_base_ms,
            backoff_max_ms: p.backoff_cap_ms,
            starts_per_minute: None,
            burst: p.burst,
            budgets: Budgets::default(),
        }
    }
}

impl ClaudeConfig {
    pub fn policy(&self) -> GovernorPolicy {
        GovernorPolicy {
            backoff_base_ms: self.backoff_ms,
            backoff_cap_ms: self.backoff_max_ms,
            starts_per_minute: self.starts_per_minute,
            burst: self.burst,
            budgets: self.budgets,
            ..GovernorPolicy::default()
        }
    }
}

/// Checks the keys; an error names the key.
pub fn resolve(raw: RawClaude) -> Result<ClaudeConfig, (&'static str, String)> {
    let mut c = ClaudeConfig::default();
    let dur = |key: &'static str, v: &str| {
        crate::core::units::parse_positive_duration(v).map_err(|e| (key, e))
    };
    if let Some(v) = &raw.claude_backoff {
        c.backoff_ms = dur("claude_backoff", v)?;
    }
    if let Some(v) = &raw.claude_backoff_max {
        c.backoff_max_ms = dur("claude_backoff_max", v)?;
    }
    if c.backoff_max_ms < c.backoff_ms {
        return Err((
            "claude_backoff_max",
            "must not be shorter than claude_backoff".into(),
        ));
    }
    let count = |key: &'static str, v: i64, max: i64| {
        if (1..=max).contains(&v) {
            Ok(v)
        } else {
            Err((key, format!("must be in 1..={max}, got {v}")))
        }
    };
    if let Some(v) = raw.claude_starts_per_minute {
        c.starts_per_minute = Some(count("claude_starts_per_minute", v, 100_000)? as u32);
    }
    if let Some(v) = raw.claude_burst {
        c.burst = count("claude_burst", v, 100_000)? as u32;
    }
    let usd = |key: &'static str, v: Option<f64>| match v {
        Some(v) if !(v.is_finite() && v >= 0.0) => Err((
            key,
            format!("must be a non-negative amount of USD, got {v}"),
        )),
        v => Ok(v),
    };
    c.budgets.usd_per_hour = usd("claude_budget_usd_per_hour", raw.claude_budget_usd_per_hour)?;
    c.budgets.usd_per_day = usd("claude_budget_usd_per_day", raw.claude_budget_usd_per_day)?;
    let tokens = |key: &'static str, v: Option<i64>| match v {
        Some(v) if v < 0 => Err((key, format!("must not be negative, got {v}"))),
        v => Ok(v.map(|v| v as u64)),
    };
    c.budgets.tokens_per_hour = tokens(
        "claude_budget_tokens_per_hour",
        raw.claude_budget_tokens_per_hour,
    )?;
    c.budgets.tokens_per_day = tokens(
        "claude_budget_tokens_per_day",
        raw.claude_budget_tokens_per_day,
    )?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_and_named() {
        let c = resolve(RawClaude {
            claude_backoff: Some("30s".into()),
            claude_starts_per_minute: Some(20),
            claude_budget_usd_per_day: Some(5.0),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.backoff_ms, 30_000);
        assert_eq!(c.policy().starts_per_minute, Some(20));
        assert_eq!(c.budgets.usd_per_day, Some(5.0));
        let e = resolve(RawClaude {
            claude_budget_usd_per_hour: Some(-1.0),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.0, "claude_budget_usd_per_hour");
        let e = resolve(RawClaude {
            claude_backoff: Some("10m".into()),
            claude_backoff_max: Some("1m".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.0, "claude_backoff_max");
        assert_eq!(
            resolve(RawClaude {
                claude_burst: Some(0),
                ..Default::default()
            })
            .unwrap_err()
            .0,
            "claude_burst"
        );
    }
}
