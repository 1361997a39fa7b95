//! `claudinectl submit "a prompt"`: the Claude Code side of submit — the
//! prompt (words, or `--prompt-file`), claude's options, the session to
//! continue, and the `claude` on the caller's PATH.

use crate::cli::error::CliError;
use crate::core::claude::{ClaudeOptions, MAX_PROMPT_BYTES};
use crate::core::TaskId;
use crate::proto::ClaudeRequest;
use clap::Args;
use std::io::Read;
use std::path::Path;

#[derive(Debug, Args, Default)]
#[command(next_help_heading = "Claude Code tasks (a prompt instead of a command)")]
pub struct ClaudeArgs {
    /// Read the prompt from FILE (- for standard input) instead of the
    /// command line
    #[arg(long, value_name = "FILE")]
    pub prompt_file: Option<String>,

    /// The model, e.g. opus or sonnet (claude --model)
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,

    /// Permission mode: acceptEdits, bypassPermissions, plan, ...
    /// (claude --permission-mode); tools that need approval are otherwise
    /// denied, never waited for
    #[arg(long, value_name = "MODE")]
    pub permission_mode: Option<String>,

    /// Allow a tool without asking, e.g. "Bash(cargo test:*)" (repeatable)
    #[arg(long = "allowed-tools", value_name = "TOOL")]
    pub allowed_tools: Vec<String>,

    /// Deny a tool (repeatable)
    #[arg(long = "disallowed-tools", value_name = "TOOL")]
    pub disallowed_tools: Vec<String>,

    /// Stop after this many turns (claude --max-turns)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_turns: Option<u32>,

    /// Text added to Claude's system prompt
    #[arg(long, value_name = "TEXT")]
    pub append_system_prompt: Option<String>,

    /// An MCP configuration file for claude (repeatable)
    #[arg(long = "mcp-config", value_name = "FILE")]
    pub mcp_config: Vec<String>,

    /// Start on a copy of task ID's Claude session (its whole conversation)
    #[arg(long, value_name = "ID", value_parser = super::parse_id)]
    pub continue_from: Option<TaskId>,
}

impl ClaudeArgs {
    /// Whether any Claude-only option was given.
    pub fn any(&self) -> bool {
        self.prompt_file.is_some()
            || self.model.is_some()
            || self.permission_mode.is_some()
            || !self.allowed_tools.is_empty()
            || !self.disallowed_tools.is_empty()
            || self.max_turns.is_some()
            || self.append_system_prompt.is_some()
            || !self.mcp_config.is_empty()
            || self.continue_from.is_some()
    }

    /// The request for a Claude task with the prompt `words` (joined by
    /// spaces) or the prompt file.
    pub fn request(self, words: Vec<String>) -> Result<ClaudeRequest, CliError> {
        let prompt = match &self.prompt_file {
            Some(f) => read_prompt(f)?,
            None => words.join(" "),
        };
        let mcp_config = self
            .mcp_config
            .iter()
            .map(|p| absolute(p))
            .collect::<Result<_, _>>()?;
        Ok(ClaudeRequest {
            prompt,
            binary: find_claude(std::env::var_os("PATH").as_deref().and_then(|p| p.to_str())),
            options: ClaudeOptions {
                model: self.model,
                permission_mode: self.permission_mode,
                allowed_tools: self.allowed_tools,
                disallowed_tools: self.disallowed_tools,
                max_turns: self.max_turns,
                append_system_prompt: self.append_system_prompt,
                mcp_config,
            },
            continue_from: self.continue_from,
        })
    }
}

pub(crate) fn read_prompt(file: &str) -> Result<String, CliError> {
    let mut bytes = Vec::new();
    let limit = MAX_PROMPT_BYTES as u64 + 1;
    let read = if file == "-" {
        std::io::stdin().lock().take(limit).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(limit).read_to_end(&mut bytes))
    };
    read.map_err(|e| CliError::Usage(format!("cannot read the prompt from {file}: {e}")))?;
    if bytes.len() > MAX_PROMPT_BYTES {
        return Err(CliError::Usage(format!(
            "the prompt in {file} is larger than the {} KiB a task accepts",
            MAX_PROMPT_BYTES >> 10
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| CliError::Usage(format!("the prompt in {file} is not valid UTF-8")))
}

fn absolute(p: &str) -> Result<String, CliError> {
    if p.trim_start().starts_with('{') {
        return Ok(p.to_owned());
    }
    let path =
        std::fs::canonicalize(p).map_err(|e| CliError::Usage(format!("--mcp-config {p}: {e}")))?;
    path.into_os_string()
        .into_string()
        .map_err(|_| CliError::Usage(format!("--mcp-config {p}: not a UTF-8 path")))
}

/// The `claude` the caller would run: the first executable on `path`, or
/// in `~/.local/bin`.
pub fn find_claude(path: Option<&str>) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let home = std::env::var("HOME").ok();
    let dirs = path
        .unwrap_or("")
        .split(':')
        .filter(|d| d.starts_with('/'))
        .map(str::to_owned)
        .chain(home.map(|h| format!("{h}/.local/bin")));
    dirs.map(|d| Path::new(&d).join("claude"))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .and_then(|p| p.into_os_string().into_string().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_is_found_on_the_path_in_order() {
        use std::os::unix::fs::PermissionsExt;
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let exe = |d: &Path, mode| {
            let p = d.join("claude");
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            p.to_str().unwrap().to_owned()
        };
        exe(a.path(), 0o644);
        let want = exe(b.path(), 0o755);
        let path = format!("relative:{}:{}", a.path().display(), b.path().display());
        assert_eq!(find_claude(Some(&path)), Some(want));
    }

    #[test]
    fn a_prompt_file_over_the_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p");
        std::fs::write(&f, vec![b'x'; MAX_PROMPT_BYTES + 1]).unwrap();
        let e = read_prompt(f.to_str().unwrap()).unwrap_err();
        assert!(e.to_string().contains("larger than the 1024 KiB"), "{e}");
        std::fs::write(&f, vec![b'x'; MAX_PROMPT_BYTES]).unwrap();
        assert_eq!(
            read_prompt(f.to_str().unwrap()).unwrap().len(),
            MAX_PROMPT_BYTES
        );
    }
}
