//! The text a line renders to: [`Out`] (lines, indented for a subagent,
//! control characters escaped; texts in full or cut) and the small readers
//! of JSON values the renderer shares.

use super::SHOWN_LINES;
use crate::cli::format::truncate;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt::Write as _;

/// Characters of one shown line of a tool's result or command.
const LINE_CHARS: usize = 1000;
/// Characters of a value shown as JSON (a tool's input, a block not known
/// here).
const JSON_CHARS: usize = 200;

/// The rendered text of one line, each line of it indented (a subagent's).
pub(super) struct Out {
    pub(super) text: String,
    pub(super) indent: &'static str,
}

impl Out {
    pub(super) fn new(indent: &'static str) -> Self {
        Out {
            text: String::new(),
            indent,
        }
    }

    /// One line; control characters in it are escaped.
    pub(super) fn line(&mut self, line: &str) {
        self.text.push_str(self.indent);
        self.text.push_str(&escape(line));
        self.text.push('\n');
    }

    /// A text in full: its first line after `head`, the others as they are.
    pub(super) fn text_block(&mut self, head: &str, text: &str) {
        for (i, line) in lines(text).enumerate() {
            if i == 0 {
                self.line(&format!("{head}{line}"));
            } else {
                self.line(line);
            }
        }
    }

    /// `head: text` when the text is one line; otherwise `head:` and the
    /// first [`SHOWN_LINES`] lines indented, then how many more there were.
    /// Each line is cut to [`LINE_CHARS`] characters.
    pub(super) fn cut_block(&mut self, head: &str, text: &str) {
        let mut all = lines(text);
        let first = all.next();
        let second = all.next();
        match (first, second) {
            (None, _) => self.line(head),
            (Some(only), None) => self.line(&format!("{head}: {}", truncate(only, LINE_CHARS))),
            (Some(first), Some(second)) => {
                self.line(&format!("{head}:"));
                let mut rest = [first, second].into_iter().chain(all);
                for line in rest.by_ref().take(SHOWN_LINES) {
                    self.line(&format!("  {}", truncate(line, LINE_CHARS)));
                }
                let more = rest.count();
                if more > 0 {
                    let s = if more == 1 { "" } else { "s" };
                    self.line(&format!("  … ({more} more line{s})"));
                }
            }
        }
    }
}

/// The lines of a text without its leading and trailing blank lines; a
/// `\r` before a newline is dropped.
pub(super) fn lines(text: &str) -> impl Iterator<Item = &str> {
    let text = text.trim_matches(|c| c == '\n' || c == '\r');
    text.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(move |_| !text.is_empty())
}

/// Control characters (C0, DEL, C1) other than tab as `\xNN`.
pub(super) fn escape(s: &str) -> Cow<'_, str> {
    let bad = |c: char| c.is_control() && c != '\t';
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

pub(super) fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A value as one line of JSON, cut to [`JSON_CHARS`] characters.
pub(super) fn compact(v: &Value) -> String {
    truncate(&v.to_string(), JSON_CHARS).into_owned()
}

pub(super) fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}
