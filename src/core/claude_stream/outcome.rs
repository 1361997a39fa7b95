//! The verdict on one Claude Code run: [`outcome`].
//!
//! Success needs both: the process exited 0 *and* its result line said
//! `is_error: false`. The CLI ends an API failure with `subtype: "success"`,
//! `is_error: true` and exit 1, and SIGINT with exit 0 and `is_error: true`,
//! so neither the subtype nor the exit code says enough alone; a run that
//! exits 0 without any result line did not succeed either.
//!
//! A failure the account or the API will lift by itself is
//! [`ClaudeOutcome::Limited`], for a governor to wait on rather than count
//! as the task's fault:
//!
//! - a usage limit: the result (or one of its `errors`) reads as a
//!   usage-limit message ([`parse_usage_limit`]), or the last
//!   `rate_limit_event` said `rejected`; its reset as far as known;
//! - a rate limit (HTTP 429) or an overload (529): the result's
//!   `api_error_status`, or, without one, the retry in progress when the
//!   run ended (the CLI gave up, or was stopped, while retrying).
//!
//! Whether the daemon itself stopped the run (a cancel, a timeout) is not
//! known here: the caller overrides the verdict for runs it ended.

use super::limit::{parse_usage_limit, Reset};
use super::progress::Progress;
use super::{clip, ResultLine};
use chrono::DateTime;

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaudeOutcome {
    /// Exit 0 and a result line with `is_error: false`.
    Succeeded,
    /// Refused for a while by the API or the account; retrying later may
    /// succeed.
    Limited { limit: Limit, reason: String },
    /// Anything else.
    Failed { reason: String },
}

/// What held a run back.
#[derive(Debug, Clone, PartialEq)]
pub enum Limit {
    /// HTTP 429 from the API.
    RateLimited,
    /// HTTP 529: the API is overloaded.
    Overloaded,
    /// The account's usage limit.
    UsageLimit(Reset),
}

impl ClaudeOutcome {
    pub fn is_success(&self) -> bool {
        matches!(self, ClaudeOutcome::Succeeded)
    }

    /// Why it did not succeed, in words.
    pub fn reason(&self) -> Option<&str> {
        match self {
            ClaudeOutcome::Succeeded => None,
            ClaudeOutcome::Limited { reason, .. } | ClaudeOutcome::Failed { reason } => {
                Some(reason)
            }
        }
    }

    /// When a usage limit lifts, if that instant is known.
    pub fn limited_until_ms(&self) -> Option<i64> {
        match self {
            ClaudeOutcome::Limited {
                limit: Limit::UsageLimit(reset),
                ..
            } => reset.at_ms,
            _ => None,
        }
    }
}

/// Judges a run from how its process ended (`exit_code` when it exited,
/// `signal` when a signal killed it) and what its stream showed.
pub fn outcome(exit_code: Option<i32>, signal: Option<i32>, progress: &Progress) -> ClaudeOutcome {
    let exit = describe_exit(exit_code, signal);
    let exited_0 = exit_code == Some(0) && signal.is_none();
    let Some(result) = &progress.result else {
        let reason = no_result(&exit, exited_0, progress);
        return limited_or_failed(limit_of(None, progress), reason);
    };
    match result.is_error {
        Some(false) if exited_0 => ClaudeOutcome::Succeeded,
        Some(false) => ClaudeOutcome::Failed {
            reason: format!("claude {exit} after a result line without error"),
        },
        _ => {
            let reason = error_result(result, exit);
            limited_or_failed(limit_of(Some(result), progress), reason)
        }
    }
}

fn limited_or_failed(limit: Option<(Limit, String)>, reason: String) -> ClaudeOutcome {
    match limit {
        Some((limit, what)) => ClaudeOutcome::Limited {
            limit,
            reason: format!("{what}; {reason}"),
        },
        None => ClaudeOutcome::Failed { reason },
    }
}

/// `claude exited 0 without a result line`, with the retry in progress and
/// the malformed lines, if any.
fn no_result(exit: &str, exited_0: bool, progress: &Progress) -> String {
    let mut reason = if exited_0 {
        "claude exited 0 without a result line".to_owned()
    } else {
        format!("claude {exit} without a result line")
    };
    if let Some(r) = &progress.retrying {
        reason.push_str(&format!(", while retrying the API ({})", r.describe()));
    }
    let n = progress.malformed_lines;
    if n > 0 {
        let plural = if n == 1 { "" } else { "s" };
        let last = progress.last_malformed.as_deref().unwrap_or("?");
        reason.push_str(&format!("; {n} malformed line{plural}, the last: {last}"));
    }
    reason
}

/// `claude's result is an error (API status 500, subtype success, exited
/// with status 1): API Error: …`.
fn error_result(result: &ResultLine, exit: String) -> String {
    let mut facts = Vec::new();
    if let Some(st) = result.api_error_status {
        facts.push(format!("API status {st}"));
    }
    if let Some(s) = &result.subtype {
        facts.push(format!("subtype {s}"));
    }
    if let Some(t) = &result.terminal_reason {
        facts.push(format!("terminal reason {t}"));
    }
    facts.push(exit);
    let head = if result.is_error.is_some() {
        "claude's result is an error"
    } else {
        "claude's result line does not say is_error"
    };
    let mut reason = format!("{head} ({})", facts.join(", "));
    if let Some(text) = result_text(result) {
        reason.push_str(": ");
        reason.extend(one_line(clip(text.trim())));
    }
    reason
}

/// `s` with each run of white space or control characters as one space.
fn one_line(s: &str) -> impl Iterator<Item = char> + '_ {
    let mut space = false;
    s.chars().filter_map(move |c| {
        let blank = c.is_whitespace() || c.is_control();
        let out = match (blank, space) {
            (true, true) => None,
            (true, false) => Some(' '),
            (false, _) => Some(c),
        };
        space = blank;
        out
    })
}

/// The limit that explains a failed run, and its words.
fn limit_of(result: Option<&ResultLine>, progress: &Progress) -> Option<(Limit, String)> {
    let rejected = progress
        .rate_limit
        .as_ref()
        .filter(|(rl, _)| rl.is_rejected());
    let texts = result.into_iter().flat_map(|r| {
        r.result
            .iter()
            .chain(r.errors.iter())
            .map(|t| t.preview.as_str())
    });
    let mut usage = texts.filter_map(parse_usage_limit).next();
    if usage.is_none() && rejected.is_some() {
        usage = Some(Reset::default());
    }
    if let Some(mut reset) = usage {
        if reset.at_ms.is_none() {
            reset.at_ms = rejected.and_then(|(rl, _)| rl.resets_at_ms);
        }
        let what = format!("usage limit reached, {}", describe_reset(&reset));
        return Some((Limit::UsageLimit(reset), what));
    }
    let status = match result.and_then(|r| r.api_error_status) {
        Some(st) => Some(st),
        None => progress.retrying.and_then(|r| r.error_status),
    };
    match status {
        Some(429) => Some((
            Limit::RateLimited,
            "rate limited by the API (HTTP 429)".into(),
        )),
        Some(529) => Some((Limit::Overloaded, "the API is overloaded (HTTP 529)".into())),
        _ => None,
    }
}

fn describe_reset(reset: &Reset) -> String {
    if let Some(at) = reset.at_ms.and_then(DateTime::from_timestamp_millis) {
        return format!("resets at {}", at.format("%Y-%m-%d %H:%M UTC"));
    }
    match &reset.text {
        Some(t) => format!("resets {t}"),
        None => "reset time unknown".to_owned(),
    }
}

/// The result's text, or its first listed error.
fn result_text(r: &ResultLine) -> Option<&str> {
    r.result
        .iter()
        .chain(r.errors.iter())
        .map(|t| t.preview.as_str())
        .find(|t| !t.trim().is_empty())
}

/// `exited 0`, `exited with status 1`, `was killed by signal 15 (SIGTERM)`.
fn describe_exit(exit_code: Option<i32>, signal: Option<i32>) -> String {
    match (exit_code, signal) {
        (Some(0), _) => "exited 0".to_owned(),
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => match signal_name(sig) {
            Some(name) => format!("was killed by signal {sig} ({name})"),
            None => format!("was killed by signal {sig}"),
        },
        (None, None) => "ended in an unknown way".to_owned(),
    }
}

fn signal_name(sig: i32) -> Option<&'static str> {
    Some(match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        _ => return None,
    })
}

#[cfg(test)]
#[path = "outcome_tests.rs"]
mod tests;
