//! Small text helpers for human output: durations, shell quoting, escaping
//! of control characters, truncation, times and the terminal width.

use crate::proto::TaskView;
use chrono::{DateTime, TimeZone};
use std::borrow::Cow;
use std::fmt::Write as _;

/// A compact duration: `0s`, `59s`, `1m05s`, `2h03m`, `3d04h`. Negative
/// values (a clock that went back) read as `0s`.
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{m}m{:02}s", s % 60)
    } else if s < 86400 {
        format!("{h}h{:02}m", m % 60)
    } else {
        format!("{d}d{:02}h", h % 24)
    }
}

/// One argument as a POSIX shell would need it typed: bare when it only has
/// safe characters, in single quotes otherwise, and as `$'...'` when it holds
/// control characters (so a table row stays one line and no escape sequence
/// reaches the terminal).
pub fn shell_quote(arg: &str) -> Cow<'_, str> {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if !arg.is_empty() && arg.chars().all(safe) {
        return Cow::Borrowed(arg);
    }
    if arg.chars().any(char::is_control) {
        let mut out = String::from("$'");
        for c in arg.chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                c if c.is_control() => push_escape(&mut out, c),
                c => out.push(c),
            }
        }
        out.push('\'');
        return Cow::Owned(out);
    }
    Cow::Owned(format!("'{}'", arg.replace('\'', r"'\''")))
}

/// The command line as one string that a shell would split back into `argv`.
pub fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Free text from the daemon (reasons, paths, messages) with its control
/// characters escaped, so it cannot move the cursor or break a line.
pub fn sanitize(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => push_escape(&mut out, c),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn push_escape(out: &mut String, c: char) {
    let n = c as u32;
    if n <= 0xff {
        let _ = write!(out, "\\x{n:02x}");
    } else {
        let _ = write!(out, "\\u{{{n:x}}}");
    }
}

/// At most `width` characters; a cut line ends with `…`.
pub fn truncate(s: &str, width: usize) -> Cow<'_, str> {
    if s.chars().count() <= width {
        return Cow::Borrowed(s);
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    if width > 0 {
        out.push('…');
    }
    Cow::Owned(out)
}

/// `SIGKILL` for 9, if the number is a known signal.
pub fn signal_name(sig: i32) -> Option<&'static str> {
    nix::sys::signal::Signal::try_from(sig)
        .ok()
        .map(|s| s.as_str())
}

/// How a finished task ended, in words: `exited with status 3`,
/// `killed by signal 9 (SIGKILL)`.
pub fn outcome(t: &TaskView) -> Option<String> {
    match (t.exit_code, t.signal) {
        (Some(code), _) => Some(format!("exited with status {code}")),
        (None, Some(sig)) => Some(match signal_name(sig) {
            Some(name) => format!("killed by signal {sig} ({name})"),
            None => format!("killed by signal {sig}"),
        }),
        _ => None,
    }
}

/// `2025-11-23 11:04:05` in the given zone (the local one in `main`).
pub fn time<Tz: TimeZone>(ms: i64, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    match DateTime::from_timestamp_millis(ms) {
        Some(t) => t.with_timezone(tz).format("%Y-%m-%d %H:%M:%S").to_string(),
        None => format!("@{ms}ms"),
    }
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The width to cut table rows to: the terminal's when stdout is one,
/// `None` (no cutting) when it is a pipe or a file.
pub fn stdout_width() -> Option<usize> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct we pass.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    if rc == 0 && ws.ws_col > 0 {
        return Some(ws.ws_col.into());
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&c| c > 0)
        .or(Some(80))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let s = 1000;
        for (ms, want) in [
            (-5, "0s"),
            (0, "0s"),
            (999, "0s"),
            (59 * s, "59s"),
            (60 * s, "1m00s"),
            (65 * s, "1m05s"),
            (3599 * s, "59m59s"),
            (3600 * s, "1h00m"),
            (2 * 3600 * s + 3 * 60 * s + 59 * s, "2h03m"),
            (86400 * s, "1d00h"),
            (3 * 86400 * s + 4 * 3600 * s, "3d04h"),
        ] {
            assert_eq!(duration(ms), want, "{ms}");
        }
    }

    #[test]
    fn quoting() {
        let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            shell_join(&argv(&["cargo", "test", "--lib"])),
            "cargo test --lib"
        );
        assert_eq!(
            shell_join(&argv(&["claude", "-p", "fix the bug", ""])),
            "claude -p 'fix the bug' ''"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
        assert_eq!(shell_quote("a=b,c:/d@e%f+g"), "a=b,c:/d@e%f+g");
        assert_eq!(shell_quote("é"), "'é'");
        assert_eq!(shell_quote("a\nb'c"), r"$'a\nb\'c'");
        assert_eq!(shell_quote("\x1b[2J"), r"$'\x1b[2J'");
    }

    #[test]
    fn sanitize_and_truncate() {
        assert_eq!(sanitize("plain text"), "plain text");
        assert_eq!(sanitize("a\nb\x1b[0m\u{9b}"), r"a\nb\x1b[0m\x9b");
        assert_eq!(truncate("hello", 5), "hello");
        assert_eq!(truncate("hello world", 5), "hell…");
        assert_eq!(truncate("héllo wörld", 6), "héllo…");
        assert_eq!(truncate("hello", 0), "");
    }

    #[test]
    fn signals_and_times() {
        assert_eq!(signal_name(9), Some("SIGKILL"));
        assert_eq!(signal_name(1000), None);
        assert_eq!(time(0, &chrono::Utc), "1970-01-01 00:00:00");
        let cet = chrono::FixedOffset::east_opt(3600).unwrap();
        assert_eq!(time(1_700_000_000_000, &cet), "2023-11-14 23:13:20");
    }
}
