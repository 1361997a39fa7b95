//! Usage-limit messages and the reset time they give.
//!
//! The CLI's wording has changed over versions; users report, among others:
//!
//! ```text
//! Claude AI usage limit reached|1762952400
//! Claude usage limit reached. Your limit will reset at 9am (America/Chicago).
//! You've hit your limit · resets 6:20pm (Europe/Berlin)
//! You've hit your limit · resets Apr 23 at 4pm (America/Recife)
//! 5-hour limit reached ∙ resets 3pm
//! You're out of extra usage · resets 1pm (America/Los_Angeles)
//! ```
//!
//! [`parse_usage_limit`] recognises such a text and takes what it can: an
//! absolute time after `|` (Unix seconds), or a wall-clock time, a date and
//! a zone after `resets`/`reset at`. A wall-clock time is not turned into an
//! instant here: that needs the zone's rules (and, without a zone, the
//! user's), which the pure core does not have. Whatever does not parse is
//! left `None`; the words after "resets" are kept as printed.

use super::epoch_ms;

/// When a usage limit resets, as far as it is known.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reset {
    /// The instant, Unix ms: from `…|<seconds>` or a `rate_limit_event`.
    pub at_ms: Option<i64>,
    /// The wall-clock time the text gives, in `zone` (the user's zone when
    /// there is none).
    pub wall: Option<WallTime>,
    /// The zone named in parentheses, e.g. `Europe/Berlin`.
    pub zone: Option<String>,
    /// The words after "resets", as printed (at most 64 characters).
    pub text: Option<String>,
}

/// A wall-clock time (24-hour), with the date when the text gives one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallTime {
    /// 1..=12.
    pub month: Option<u8>,
    pub day: Option<u8>,
    pub hour: u8,
    pub minute: u8,
}

/// `Some` when `text` reads as a usage-limit message, with what it says of
/// the reset. A text that only warns ("approaching usage limit") is not one.
pub fn parse_usage_limit(text: &str) -> Option<Reset> {
    // ASCII lower case keeps every byte where it was, so an index found in
    // `lower` is one in `text`.
    let lower = text.to_ascii_lowercase();
    let is_limit = !lower.contains("approaching")
        && (lower.contains("usage limit")
            || lower.contains("limit reached")
            || lower.contains("hit your limit")
            || lower.contains("out of extra usage"));
    if !is_limit {
        return None;
    }
    let mut reset = Reset {
        at_ms: epoch_suffix(text),
        ..Reset::default()
    };
    if let Some(phrase) = after_resets(&lower, text) {
        let (wall, zone) = wall_time(phrase);
        reset.wall = wall;
        reset.zone = zone;
        let kept: String = phrase.chars().take(64).collect();
        reset.text = Some(kept).filter(|s| !s.is_empty());
    }
    Some(reset)
}

/// The Unix time after the last `|`, if that is all digits.
fn epoch_suffix(text: &str) -> Option<i64> {
    let (_, tail) = text.rsplit_once('|')?;
    let tail = tail.trim();
    if tail.is_empty() || tail.len() > 16 || !tail.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    epoch_ms(tail.parse().ok()?)
}

/// The words after "resets" / "reset at" in `original` (`lower` is its
/// ASCII lower-case form), up to the end of the sentence.
fn after_resets<'a>(lower: &str, original: &'a str) -> Option<&'a str> {
    let at = ["resets at ", "reset at ", "resets on ", "resets "]
        .iter()
        .find_map(|k| {
            lower
                .match_indices(k)
                .map(|(i, _)| i)
                // A word of its own ("presets " is not one).
                .find(|&i| !lower[..i].ends_with(|c: char| c.is_ascii_alphabetic()))
                .map(|i| i + k.len())
        })?;
    let rest = original.get(at..)?;
    let end = rest
        .find(". ")
        .or_else(|| rest.find('|'))
        .unwrap_or(rest.len());
    Some(rest[..end].trim().trim_end_matches('.').trim())
}

/// A date, a wall-clock time and a zone out of e.g. `Apr 23 at 4pm
/// (America/Recife)`, `6:20pm (Europe/Berlin)`, `9:30 AM`, `14:00 UTC`.
fn wall_time(phrase: &str) -> (Option<WallTime>, Option<String>) {
    let (words, zone) = match (phrase.find('('), phrase.find(')')) {
        (Some(open), Some(close)) if open < close => {
            let zone = phrase[open + 1..close].trim();
            (
                &phrase[..open],
                Some(zone.to_owned()).filter(|z| !z.is_empty()),
            )
        }
        _ => (phrase, None),
    };
    let tokens: Vec<String> = words
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut month = None;
    let mut day = None;
    let mut time = None;
    let mut zone = zone;
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i].as_str();
        if let Some(m) = month_number(t) {
            month = Some(m);
            if let Some(d) = tokens.get(i + 1).and_then(|d| day_number(d)) {
                day = Some(d);
                i += 1;
            }
        } else if time.is_none() {
            let next = tokens.get(i + 1).map(String::as_str);
            if let Some((h, m, used_next)) = clock(t, next) {
                time = Some((h, m));
                i += usize::from(used_next);
            }
        } else if zone.is_none() && (t == "utc" || t == "gmt") {
            zone = Some(t.to_uppercase());
        }
        i += 1;
    }
    let wall = time.map(|(hour, minute)| WallTime {
        month,
        day,
        hour,
        minute,
    });
    (wall, zone)
}

fn month_number(t: &str) -> Option<u8> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    if t.len() < 3 || !t.bytes().all(|b| b.is_ascii_alphabetic() || b == b'.') {
        return None;
    }
    let i = MONTHS.iter().position(|m| t.starts_with(m))?;
    Some(i as u8 + 1)
}

fn day_number(t: &str) -> Option<u8> {
    let digits = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let d: u8 = digits.parse().ok()?;
    (1..=31).contains(&d).then_some(d)
}

/// `4pm`, `6:20pm`, `9:30` + `am`, `14:00`: (hour 0..24, minute, whether
/// `next` was the am/pm). A bare number without am/pm or a colon is no time.
fn clock(t: &str, next: Option<&str>) -> Option<(u8, u8, bool)> {
    let is_meridiem = |s: &str| matches!(s, "am" | "pm" | "a.m." | "p.m.");
    let digits_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == ':'))
        .unwrap_or(t.len());
    let (num, suffix) = t.split_at(digits_end);
    let (suffix, used_next) = match (suffix, next) {
        ("", Some(n)) if is_meridiem(n) => (n, true),
        (s, _) => (s, false),
    };
    let (h, m) = match num.split_once(':') {
        Some((h, m)) if m.len() == 2 => (h.parse::<u8>().ok()?, m.parse::<u8>().ok()?),
        Some(_) => return None,
        None => (num.parse::<u8>().ok()?, 0),
    };
    if m > 59 {
        return None;
    }
    let hour = match suffix {
        "am" | "a.m." if (1..=12).contains(&h) => h % 12,
        "pm" | "p.m." if (1..=12).contains(&h) => h % 12 + 12,
        "" if num.contains(':') && h < 24 => h,
        _ => return None,
    };
    Some((hour, m, used_next))
}
