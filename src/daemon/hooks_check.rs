//! Checking a hook's configuration at start: the `[[hooks]]` table as
//! written ([`HookConfig`]), what can be wrong with it ([`HookError`]), and
//! the checked [`Spec`] a runner gets (program resolved to an absolute
//! path, user looked up, executability checked for that user).

use super::{DEFAULT_TIMEOUT_MS, DEFAULT_USER, HOOK_PATH, MAX_TIMEOUT_MS};
use nix::unistd::User;
use serde::Deserialize;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One `[[hooks]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// Event names (`"task:stalled"`), prefixes ending in `*` (`"task:*"`),
    /// or `"*"` for every event.
    pub events: Vec<String>,
    /// The program and its arguments; no shell is involved.
    pub command: Vec<String>,
    /// Longest run, in milliseconds (1 ..= [`MAX_TIMEOUT_MS`]).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The user the command runs as; [`DEFAULT_USER`] when absent.
    #[serde(default)]
    pub user: Option<String>,
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

/// Why [`super::Hooks::start`] refused a configuration. `index` is the position of
/// the `[[hooks]]` table, from 0.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("hooks[{index}]: command is empty; give the program and its arguments")]
    EmptyCommand { index: usize },
    #[error("hooks[{index}]: command contains a NUL byte")]
    NulInCommand { index: usize },
    #[error(
        "hooks[{index}]: events is empty; name events such as \"task:stalled\", or \"*\" for all"
    )]
    NoEvents { index: usize },
    #[error(
        "hooks[{index}]: event pattern {pattern:?} is empty or has a '*' elsewhere than at its end"
    )]
    BadEventPattern { index: usize, pattern: String },
    #[error("hooks[{index}]: timeout_ms must be between 1 and {MAX_TIMEOUT_MS}, got {timeout_ms}")]
    BadTimeout { index: usize, timeout_ms: u64 },
    #[error("hooks[{index}]: program {program:?} is a relative path; give an absolute path or a bare name found on {HOOK_PATH}")]
    RelativeProgram { index: usize, program: String },
    #[error("hooks[{index}]: program {program:?} not found on {HOOK_PATH}")]
    NotOnPath { index: usize, program: String },
    #[error("hooks[{index}]: program {}: {source}", path.display())]
    Inaccessible {
        index: usize,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("hooks[{index}]: program {} is not a regular file", path.display())]
    NotAFile { index: usize, path: PathBuf },
    #[error("hooks[{index}]: program {} is not executable by user {user} (mode {mode:04o}, owner uid {owner})", path.display())]
    NotExecutable {
        index: usize,
        path: PathBuf,
        user: String,
        mode: u32,
        owner: u32,
    },
    #[error("hooks[{index}]: user {user:?} does not exist")]
    NoSuchUser { index: usize, user: String },
    #[error("hooks[{index}]: cannot look up user {user:?}: {source}")]
    UserLookup {
        index: usize,
        user: String,
        source: nix::Error,
    },
}

/// A checked hook, ready to run.
pub(super) struct Spec {
    pub index: usize,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub timeout: Duration,
    pub user: Account,
}

/// The user a hook runs as.
pub(super) struct Account {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
    pub home: String,
}
pub(super) fn check(index: usize, c: &HookConfig) -> Result<Spec, HookError> {
    let (program, args) = c
        .command
        .split_first()
        .ok_or(HookError::EmptyCommand { index })?;
    if c.command.iter().any(|a| a.contains('\0')) {
        return Err(HookError::NulInCommand { index });
    }
    if c.events.is_empty() {
        return Err(HookError::NoEvents { index });
    }
    if let Some(p) = c
        .events
        .iter()
        .find(|p| p.is_empty() || p.trim_end_matches('*').contains('*') || p.ends_with("**"))
    {
        let pattern = p.clone();
        return Err(HookError::BadEventPattern { index, pattern });
    }
    if !(1..=MAX_TIMEOUT_MS).contains(&c.timeout_ms) {
        let timeout_ms = c.timeout_ms;
        return Err(HookError::BadTimeout { index, timeout_ms });
    }
    let user = account(index, c.user.as_deref().unwrap_or(DEFAULT_USER))?;
    let path = resolve(index, program)?;
    let meta = std::fs::metadata(&path).map_err(|source| HookError::Inaccessible {
        index,
        path: path.clone(),
        source,
    })?;
    if !meta.is_file() {
        return Err(HookError::NotAFile { index, path });
    }
    // Whose bits apply: the owner's, the primary group's (the only group a
    // hook keeps) or everyone's; root needs any execute bit.
    let mode = meta.mode();
    let bits = match user.uid {
        0 => mode | mode >> 3 | mode >> 6,
        uid if uid == meta.uid() => mode >> 6,
        _ if user.gid == meta.gid() => mode >> 3,
        _ => mode,
    };
    if bits & 1 == 0 {
        return Err(HookError::NotExecutable {
            index,
            path,
            user: user.name,
            mode: mode & 0o7777,
            owner: meta.uid(),
        });
    }
    Ok(Spec {
        index,
        program: path,
        args: args.to_vec(),
        timeout: Duration::from_millis(c.timeout_ms),
        user,
    })
}

fn account(index: usize, name: &str) -> Result<Account, HookError> {
    let user = name.to_string();
    match User::from_name(name) {
        Ok(Some(u)) => Ok(Account {
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
            name: u.name,
            home: u.dir.display().to_string(),
        }),
        Ok(None) => Err(HookError::NoSuchUser { index, user }),
        Err(source) => Err(HookError::UserLookup {
            index,
            user,
            source,
        }),
    }
}

/// An absolute path as it is; a bare name looked up on [`HOOK_PATH`] (the
/// first regular file of that name); anything else refused.
fn resolve(index: usize, program: &str) -> Result<PathBuf, HookError> {
    let program_owned = || program.to_string();
    if program.starts_with('/') {
        return Ok(PathBuf::from(program));
    }
    if program.contains('/') || program.is_empty() {
        let program = program_owned();
        return Err(HookError::RelativeProgram { index, program });
    }
    HOOK_PATH
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
        .ok_or_else(|| HookError::NotOnPath {
            index,
            program: program_owned(),
        })
}
