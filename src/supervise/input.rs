//! What the supervisor reads before it runs anything: its task id argument,
//! the [`LaunchSpec`] line and the `go` line (see [`super::spec`]).
//!
//! Validation is strict: anything the child would have to reject after the
//! fork (a NUL byte, a relative directory, a malformed variable, an unknown
//! resource limit or one whose soft value is above its hard one, a umask
//! with more than permission bits) is refused here, so that the only errors
//! left after `go` are the user's own.

use super::prepare::rlimit_resource;
use super::spec::{LaunchSpec, RlimitSpec, GO_LINE};
use std::ffi::OsString;
use std::io::{self, BufRead, Read};
use std::os::unix::ffi::OsStrExt;

/// Longest spec line accepted (the whole environment travels in it).
pub const MAX_SPEC_LINE: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("usage: claudine-supervise <task-id>")]
    Usage,
    #[error("invalid task id argument {0:?}")]
    TaskArg(String),
    #[error("read launch spec from stdin: {0}")]
    Read(#[source] io::Error),
    #[error("no launch spec on stdin")]
    Missing,
    #[error("launch spec line longer than {MAX_SPEC_LINE} bytes")]
    TooLong,
    #[error("parse launch spec: {0}")]
    Parse(#[source] serde_json::Error),
    #[error("launch spec is for task {got}, expected task {expected}")]
    TaskMismatch { got: i64, expected: i64 },
    #[error("launch spec argv is empty")]
    EmptyArgv,
    #[error("launch spec argv[0] is empty")]
    EmptyProgram,
    #[error("launch spec cwd {0:?} is not absolute")]
    RelativeCwd(String),
    #[error("launch spec exit_path {0:?} is not absolute")]
    RelativeExitPath(std::path::PathBuf),
    #[error("launch spec {0} contains a NUL byte")]
    Nul(String),
    #[error("launch spec env key {0:?} is empty or contains '='")]
    EnvKey(String),
    #[error("launch spec attempt must be at least 1")]
    Attempt,
    #[error("launch spec umask {0:#o} has bits above 0o777")]
    Umask(u32),
    #[error("launch spec rlimit {0:?} is not a known resource")]
    RlimitName(String),
    #[error("launch spec rlimit {0:?} is given twice")]
    RlimitTwice(String),
    #[error("launch spec rlimit {0:?} has a soft limit above its hard limit")]
    RlimitOrder(String),
    #[error("launch spec log_limits.{0} must be between {1} and {max}", max = i64::MAX)]
    LogLimit(&'static str, u64),
}

/// Parses the command line: exactly one argument, the task id.
pub fn parse_args(args: &[OsString]) -> Result<i64, InputError> {
    match args {
        [_, id] => {
            let text = id.to_string_lossy();
            text.parse::<i64>()
                .map_err(|_| InputError::TaskArg(text.into_owned()))
        }
        _ => Err(InputError::Usage),
    }
}

/// Reads one line (without its `\n`), at most `limit` bytes. `Ok(None)` at end
/// of input before any byte.
fn read_line(input: &mut impl BufRead, limit: u64) -> Result<Option<Vec<u8>>, InputError> {
    let mut line = Vec::new();
    input
        .take(limit + 1)
        .read_until(b'\n', &mut line)
        .map_err(InputError::Read)?;
    if line.is_empty() {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    } else if line.len() as u64 > limit {
        return Err(InputError::TooLong);
    }
    Ok(Some(line))
}

/// Reads and validates the spec line for task `task_id`.
pub fn read_spec(input: &mut impl BufRead, task_id: i64) -> Result<LaunchSpec, InputError> {
    let line = read_line(input, MAX_SPEC_LINE)?.ok_or(InputError::Missing)?;
    let spec: LaunchSpec = serde_json::from_slice(&line).map_err(InputError::Parse)?;
    validate(&spec, task_id)?;
    Ok(spec)
}

/// Waits for the `go` line. Anything else, end of input or a read error
/// means "do not run" (the daemon gave up on this launch).
pub fn wait_for_go(input: &mut impl BufRead) -> bool {
    matches!(read_line(input, 64), Ok(Some(line)) if line == GO_LINE.as_bytes())
}

fn no_nul(what: impl FnOnce() -> String, bytes: &[u8]) -> Result<(), InputError> {
    if bytes.contains(&0) {
        return Err(InputError::Nul(what()));
    }
    Ok(())
}

/// Checks everything the child relies on.
pub fn validate(spec: &LaunchSpec, task_id: i64) -> Result<(), InputError> {
    if spec.task_id != task_id {
        return Err(InputError::TaskMismatch {
            got: spec.task_id,
            expected: task_id,
        });
    }
    let program = spec.argv.first().ok_or(InputError::EmptyArgv)?;
    if program.is_empty() {
        return Err(InputError::EmptyProgram);
    }
    for (i, arg) in spec.argv.iter().enumerate() {
        no_nul(|| format!("argv[{i}]"), arg.as_bytes())?;
    }
    no_nul(|| "user".into(), spec.user.as_bytes())?;
    no_nul(|| "cwd".into(), spec.cwd.as_bytes())?;
    if !spec.cwd.starts_with('/') {
        return Err(InputError::RelativeCwd(spec.cwd.clone()));
    }
    no_nul(|| "exit_path".into(), spec.exit_path.as_os_str().as_bytes())?;
    if !spec.exit_path.is_absolute() {
        return Err(InputError::RelativeExitPath(spec.exit_path.clone()));
    }
    for (key, value) in &spec.env {
        no_nul(|| format!("env key {key:?}"), key.as_bytes())?;
        no_nul(|| format!("env value of {key:?}"), value.as_bytes())?;
        if key.is_empty() || key.contains('=') {
            return Err(InputError::EnvKey(key.clone()));
        }
    }
    if spec.attempt < 1 {
        return Err(InputError::Attempt);
    }
    if spec.umask > 0o777 {
        return Err(InputError::Umask(spec.umask));
    }
    for (i, limit) in spec.rlimits.iter().enumerate() {
        validate_rlimit(limit)?;
        if spec.rlimits[..i]
            .iter()
            .any(|l| l.resource == limit.resource)
        {
            return Err(InputError::RlimitTwice(limit.resource.clone()));
        }
    }
    let max = i64::MAX as u64;
    let limits = &spec.log_limits;
    if !(1..=max).contains(&limits.max_bytes_per_stream) {
        return Err(InputError::LogLimit("max_bytes_per_stream", 1));
    }
    if limits.min_free_bytes > max {
        return Err(InputError::LogLimit("min_free_bytes", 0));
    }
    Ok(())
}

/// A known resource, and soft <= hard (unlimited being the largest).
fn validate_rlimit(limit: &RlimitSpec) -> Result<(), InputError> {
    if rlimit_resource(&limit.resource).is_none() {
        return Err(InputError::RlimitName(limit.resource.clone()));
    }
    let above = match (limit.soft, limit.hard) {
        (Some(soft), Some(hard)) => soft > hard,
        (None, Some(_)) => true,
        (_, None) => false,
    };
    if above {
        return Err(InputError::RlimitOrder(limit.resource.clone()));
    }
    Ok(())
}

#[cfg(test)]
#[path = "input_tests.rs"]
mod tests;
