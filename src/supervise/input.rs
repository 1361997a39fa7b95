//! What the supervisor reads before it runs anything: its task id argument,
//! the [`LaunchSpec`] line and the `go` line (see [`super::spec`]).
//!
//! Validation is strict: anything the child would have to reject after the
//! fork (a NUL byte, a relative directory, a malformed variable) is refused
//! here, so that the only errors left after `go` are the user's own.

use super::spec::{LaunchSpec, GO_LINE};
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> LaunchSpec {
        LaunchSpec {
            task_id: 4,
            uid: 1000,
            gid: 1000,
            groups: vec![1000],
            user: "a".into(),
            argv: vec!["sh".into(), "-c".into(), "true".into()],
            cwd: "/home/a".into(),
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            exit_path: "/var/lib/claudine/exit/4.json".into(),
            attempt: 1,
            umask: 0o022,
            rlimits: vec![],
            log_limits: crate::supervise::LogLimits {
                max_bytes_per_stream: 1 << 20,
                min_free_bytes: 0,
            },
        }
    }

    fn check(edit: impl FnOnce(&mut LaunchSpec)) -> Result<(), InputError> {
        let mut s = spec();
        edit(&mut s);
        validate(&s, 4)
    }

    #[test]
    fn validation() {
        assert!(check(|_| {}).is_ok());
        assert!(matches!(
            check(|s| s.task_id = 5),
            Err(InputError::TaskMismatch { .. })
        ));
        assert!(matches!(
            check(|s| s.argv.clear()),
            Err(InputError::EmptyArgv)
        ));
        assert!(matches!(
            check(|s| s.argv[0].clear()),
            Err(InputError::EmptyProgram)
        ));
        assert!(matches!(
            check(|s| s.cwd = "x".into()),
            Err(InputError::RelativeCwd(_))
        ));
        assert!(matches!(
            check(|s| s.cwd = "/a\0b".into()),
            Err(InputError::Nul(_))
        ));
        assert!(matches!(
            check(|s| s.argv[2] = "\0".into()),
            Err(InputError::Nul(_))
        ));
        assert!(matches!(
            check(|s| s.exit_path = "e.json".into()),
            Err(InputError::RelativeExitPath(_))
        ));
        assert!(matches!(
            check(|s| s.env.push(("A=B".into(), "c".into()))),
            Err(InputError::EnvKey(_))
        ));
        assert!(matches!(
            check(|s| s.env.push((String::new(), "c".into()))),
            Err(InputError::EnvKey(_))
        ));
        assert!(matches!(
            check(|s| s.env.push(("A".into(), "\0".into()))),
            Err(InputError::Nul(_))
        ));
    }

    #[test]
    fn lines() {
        let line = serde_json::to_string(&spec()).unwrap();
        let mut input = io::Cursor::new(format!("{line}\ngo\n"));
        assert_eq!(read_spec(&mut input, 4).unwrap(), spec());
        assert!(wait_for_go(&mut input));
        assert!(wait_for_go(&mut io::Cursor::new("go")));
        assert!(!wait_for_go(&mut io::Cursor::new("g")));
        assert!(!wait_for_go(&mut io::Cursor::new("gone\n")));
        assert!(!wait_for_go(&mut io::Cursor::new("")));
        assert!(matches!(
            read_spec(&mut io::Cursor::new(""), 4),
            Err(InputError::Missing)
        ));
        assert!(matches!(
            read_spec(&mut io::Cursor::new("{}\n"), 4),
            Err(InputError::Parse(_))
        ));
    }

    #[test]
    fn args() {
        let a = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(parse_args(&a(&["s", "12"])).unwrap(), 12);
        assert!(matches!(parse_args(&a(&["s"])), Err(InputError::Usage)));
        assert!(matches!(
            parse_args(&a(&["s", "x"])),
            Err(InputError::TaskArg(_))
        ));
    }
}
