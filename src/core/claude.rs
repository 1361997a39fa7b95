//! A Claude Code task: what makes a task one, how it is checked at submit
//! and how each launch's command line is built. Pure: the daemon mints the
//! session id and resolves the binary; this module decides.
//!
//! The prompt never appears on the command line: every run reads it on
//! stdin from a root-owned file the supervisor opens for it (`claude -p`
//! reads its prompt from stdin when it has none). The kernel caps one
//! argument at 128 KiB, and a command line is readable by every user of the
//! host in `/proc/PID/cmdline`, while a prompt is its owner's alone. A
//! regular file at end of input costs claude no wait (an open, silent pipe
//! costs it 3 s).
//!
//! Sessions belong to claudine: the first run of a task starts the session
//! claudine minted at submit (`--session-id`); every later run of the same
//! task continues it (`--resume`: an id cannot be given to `--session-id`
//! twice). A task that continues another one's session (`--continue-from`)
//! forks it (`--resume <theirs> --fork-session --session-id <its own>`), so
//! the two histories never interleave and either can be resumed later.

use serde::{Deserialize, Serialize};

/// Largest prompt accepted, in bytes (1 MiB).
pub const MAX_PROMPT_BYTES: usize = 1 << 20;
/// Largest value of one option (model, permission mode, a tool pattern, the
/// appended system prompt), in bytes.
pub const MAX_OPTION_BYTES: usize = 64 << 10;
/// Most entries in the allowed/disallowed tool lists and MCP config files.
pub const MAX_LIST_ENTRIES: usize = 256;
/// The prompt of a run that continues a session without new instructions
/// (an automatic resume after a rate limit, `claudinectl resume` without
/// `--prompt`).
pub const CONTINUE_PROMPT: &str =
    "Continue the task from where you left off. If it is already complete, say so briefly.";

/// The per-task options passed to `claude`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaudeOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_tools: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disallowed_tools: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub append_system_prompt: Option<String>,
    /// `--mcp-config` entries: absolute paths of JSON files (read by claude
    /// as the user) or JSON objects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mcp_config: Vec<String>,
}

/// What makes a task a Claude Code task (stored with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaudeTask {
    /// The prompt of the first run.
    pub prompt: String,
    /// This task's session, minted at submit (a UUID).
    pub session_id: String,
    /// A run of this task has started the session: the next one resumes it.
    #[serde(default)]
    pub session_started: bool,
    /// The prompt of the next run when it continues the session
    /// (`claudinectl resume --prompt`); [`CONTINUE_PROMPT`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_prompt: Option<String>,
    /// The task whose session this one forks, and that session's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continue_from: Option<(super::TaskId, String)>,
    /// The `claude` binary found at submit, and what `--version` said.
    pub binary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default)]
    pub options: ClaudeOptions,
}

/// Checks a prompt: not empty (or only blanks), no NUL byte, at most
/// [`MAX_PROMPT_BYTES`].
pub fn check_prompt(prompt: &str) -> Result<(), String> {
    if prompt.trim().is_empty() {
        return Err("the prompt is empty: say what Claude should do".into());
    }
    if prompt.len() > MAX_PROMPT_BYTES {
        return Err(format!(
            "the prompt is {} KiB, more than the {} KiB a task accepts",
            prompt.len().div_ceil(1024),
            MAX_PROMPT_BYTES >> 10
        ));
    }
    if prompt.contains('\0') {
        return Err("the prompt contains a NUL byte".into());
    }
    Ok(())
}

impl ClaudeOptions {
    /// What the daemon can tell is wrong before claude runs. Anything else
    /// (an unknown model, a tool pattern claude rejects) is claude's to
    /// refuse: the task then fails with its message.
    pub fn validate(&self) -> Result<(), String> {
        let one = |what: &str, v: &str| -> Result<(), String> {
            if v.trim().is_empty() {
                return Err(format!("{what} is empty"));
            }
            if v.len() > MAX_OPTION_BYTES {
                return Err(format!(
                    "{what} is longer than {} KiB",
                    MAX_OPTION_BYTES >> 10
                ));
            }
            if v.contains('\0') {
                return Err(format!("{what} contains a NUL byte"));
            }
            Ok(())
        };
        if let Some(m) = &self.model {
            one("the model", m)?;
            if m.starts_with('-') || m.chars().any(char::is_whitespace) {
                return Err(format!("invalid model name {m:?}"));
            }
        }
        if let Some(p) = &self.permission_mode {
            one("the permission mode", p)?;
            if p.starts_with('-') || p.chars().any(char::is_whitespace) {
                return Err(format!("invalid permission mode {p:?}"));
            }
        }
        for (what, list) in [
            ("an allowed tool", &self.allowed_tools),
            ("a disallowed tool", &self.disallowed_tools),
            ("an MCP config", &self.mcp_config),
        ] {
            if list.len() > MAX_LIST_ENTRIES {
                return Err(format!(
                    "more than {MAX_LIST_ENTRIES} entries where {what} is expected"
                ));
            }
            for v in list {
                one(what, v)?;
                if v.starts_with('-') {
                    return Err(format!("{what} may not start with '-': {v:?}"));
                }
            }
        }
        for p in &self.mcp_config {
            if !p.starts_with('/') && !p.trim_start().starts_with('{') {
                return Err(format!(
                    "MCP config {p:?} is neither an absolute path nor a JSON object"
                ));
            }
        }
        if self.max_turns == Some(0) {
            return Err("--max-turns must be at least 1".into());
        }
        if let Some(s) = &self.append_system_prompt {
            one("the appended system prompt", s)?;
        }
        Ok(())
    }
}

/// Whether `s` is a UUID in its usual text form (what `--session-id`
/// accepts).
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A version-4 UUID from 16 random bytes.
pub fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

impl ClaudeTask {
    /// The prompt the next run reads on stdin.
    pub fn next_run_prompt(&self) -> &str {
        if self.session_started {
            self.next_prompt.as_deref().unwrap_or(CONTINUE_PROMPT)
        } else {
            &self.prompt
        }
    }

    /// The command line of the next run (the prompt comes on stdin).
    pub fn argv(&self) -> Vec<String> {
        let mut a: Vec<String> = [
            self.binary.as_str(),
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut push = |k: &str, v: &str| {
            a.push(k.to_owned());
            a.push(v.to_owned());
        };
        match (&self.continue_from, self.session_started) {
            (_, true) => push("--resume", &self.session_id),
            (Some((_, theirs)), false) => {
                push("--resume", theirs);
                push("--session-id", &self.session_id);
                a.push("--fork-session".into());
            }
            (None, false) => push("--session-id", &self.session_id),
        }
        let o = &self.options;
        let mut push = |k: &str, v: &str| {
            a.push(k.to_owned());
            a.push(v.to_owned());
        };
        if let Some(m) = &o.model {
            push("--model", m);
        }
        if let Some(p) = &o.permission_mode {
            push("--permission-mode", p);
        }
        // One flag per entry: a pattern may hold spaces (`Bash(git log:*)`).
        for t in &o.allowed_tools {
            push("--allowed-tools", t);
        }
        for t in &o.disallowed_tools {
            push("--disallowed-tools", t);
        }
        if let Some(n) = o.max_turns {
            push("--max-turns", &n.to_string());
        }
        if let Some(s) = &o.append_system_prompt {
            push("--append-system-prompt", s);
        }
        for f in &o.mcp_config {
            push("--mcp-config", f);
        }
        a
    }

    /// Bytes of user data it holds (for the per-user quota).
    pub fn footprint(&self) -> usize {
        let o = &self.options;
        self.prompt.len()
            + self.next_prompt.as_ref().map_or(0, String::len)
            + self.binary.len()
            + o.append_system_prompt.as_ref().map_or(0, String::len)
            + [&o.allowed_tools, &o.disallowed_tools, &o.mcp_config]
                .iter()
                .flat_map(|l| l.iter())
                .map(String::len)
                .sum::<usize>()
    }
}

#[cfg(test)]
#[path = "claude_tests.rs"]
mod tests;
