//! The runner: one program as a user, from `/`, environment cleared, stdin
//! null, stdout and stderr captured ([`OUTPUT_MAX`] bytes each at most),
//! bounded in time. git runs on top of it with `-C <dir>` and the settings
//! in [`GIT_CONFIG`].
//!
//! The output is read in `capture.rs`; the child is reaped only after it,
//! here.

use super::capture::{collect, open_pidfd};
use super::{AsUser, GitError};
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

/// Where programs named without a directory are found; also the PATH they get.
pub const SEARCH_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Bytes kept of stdout and of stderr each; the rest is read and dropped.
pub const OUTPUT_MAX: usize = 1 << 20;

/// Given to every git command: no hook, fsmonitor, automatic gc or
/// maintenance of the user's configuration runs on our behalf (nothing can
/// hang on them either).
const GIT_CONFIG: [&str; 8] = [
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "gc.auto=0",
    "-c",
    "maintenance.auto=false",
];

/// What a program printed, and how it ended.
#[derive(Debug)]
pub struct GitOutput {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Output beyond [`OUTPUT_MAX`] was dropped.
    pub truncated: bool,
}

impl GitOutput {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// stdout as text, without its final newline.
    pub fn text(&self) -> String {
        let s = String::from_utf8_lossy(&self.stdout);
        s.strip_suffix('\n').unwrap_or(&s).to_string()
    }

    /// Why it failed, for an error: git's `fatal:`/`error:` lines, else the
    /// last line of stderr, else the exit status.
    pub fn detail(&self) -> String {
        let err = String::from_utf8_lossy(&self.stderr);
        let lines: Vec<&str> = err
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let said: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.starts_with("fatal:") || l.starts_with("error:"))
            .collect();
        let text = match (said.is_empty(), lines.last()) {
            (false, _) => said.join("; "),
            (true, Some(last)) => last.to_string(),
            (true, None) => self.status.to_string(),
        };
        match text.char_indices().nth(500) {
            Some((at, _)) => format!("{}…", &text[..at]),
            None => text,
        }
    }
}

/// `name` found on [`SEARCH_PATH`]; an absolute path is taken as it is.
fn program_path(name: &str) -> Result<PathBuf, GitError> {
    if name.starts_with('/') {
        return Ok(name.into());
    }
    if name.contains('/') {
        return Err(GitError::NotAbsolute { path: name.into() });
    }
    SEARCH_PATH
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| GitError::NotFound {
            program: name.into(),
        })
}

/// "git worktree add in /home/alice/src/app", for errors.
pub(super) fn git_step(dir: &Path, args: &[&OsStr]) -> String {
    let mut words = vec!["git".to_string()];
    if let Some(sub) = args.first() {
        words.push(sub.to_string_lossy().into_owned());
        let two_words = matches!(sub.to_str(), Some("worktree" | "stash" | "submodule"));
        match args.get(1).and_then(|a| a.to_str()) {
            Some(next) if two_words && !next.starts_with('-') => words.push(next.into()),
            _ => {}
        }
    }
    format!("{} in {}", words.join(" "), dir.display())
}

impl AsUser {
    /// Runs `program` (absolute, or a bare name found on [`SEARCH_PATH`])
    /// as this user. `Ok` whatever its exit status; `Err` when it cannot
    /// start or runs longer than `timeout` (its process group is killed).
    pub fn run(
        &self,
        program: &str,
        args: &[&OsStr],
        env: &[(&str, &OsStr)],
        timeout: Duration,
    ) -> Result<GitOutput, GitError> {
        let path = program_path(program)?;
        let mut step = program.to_string();
        for a in args.iter().take(3) {
            step.push(' ');
            step.push_str(&a.to_string_lossy());
        }
        self.spawn_wait(&step, &path, args, env, timeout)
    }

    /// `git -C dir <settings> args` as this user; `Ok` only on exit 0, else
    /// [`GitError::Failed`] with what git said.
    pub fn git(
        &self,
        dir: &Path,
        args: &[&OsStr],
        env: &[(&str, &OsStr)],
        timeout: Duration,
    ) -> Result<GitOutput, GitError> {
        let out = self.git_raw(dir, args, env, timeout)?;
        if out.success() {
            Ok(out)
        } else {
            Err(self.failed(dir, args, &out))
        }
    }

    /// [`AsUser::git`], `Ok` whatever the exit status: for commands whose
    /// status is the answer (`rev-parse --verify`, `show-ref`).
    pub fn git_raw(
        &self,
        dir: &Path,
        args: &[&OsStr],
        env: &[(&str, &OsStr)],
        timeout: Duration,
    ) -> Result<GitOutput, GitError> {
        super::absolute(dir)?;
        let git = program_path("git")?;
        let mut all: Vec<&OsStr> = vec![OsStr::new("-C"), dir.as_os_str()];
        all.extend(GIT_CONFIG.iter().map(OsStr::new));
        all.extend_from_slice(args);
        self.spawn_wait(&git_step(dir, args), &git, &all, env, timeout)
    }

    /// The error for a git command that exited non-zero.
    pub(super) fn failed(&self, dir: &Path, args: &[&OsStr], out: &GitOutput) -> GitError {
        GitError::Failed {
            step: git_step(dir, args),
            user: self.name.clone(),
            detail: out.detail(),
        }
    }

    fn spawn_wait(
        &self,
        step: &str,
        program: &Path,
        args: &[&OsStr],
        env: &[(&str, &OsStr)],
        timeout: Duration,
    ) -> Result<GitOutput, GitError> {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("HOME", &self.home)
            .env("USER", &self.name)
            .env("LOGNAME", &self.name)
            .env("PATH", SEARCH_PATH)
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_OPTIONAL_LOCKS", "0");
        for (key, value) in env {
            cmd.env(key, value);
        }
        cmd.current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut become_user = become_user(self.uid, self.gid, self.groups.clone());
        // SAFETY: between fork and exec only async-signal-safe calls (umask,
        // then those of `become_user`), on data prepared before the fork.
        // The umask is a login's default: claudined's own is 077.
        unsafe {
            cmd.pre_exec(move || {
                libc::umask(0o022);
                become_user()
            });
        }
        let user = || self.name.clone();
        let mut child = cmd.spawn().map_err(|source| GitError::Spawn {
            step: step.into(),
            user: user(),
            source,
        })?;
        let pidfd = open_pidfd(child.id());
        let (stdout, stderr, timed_out) = collect(&mut child, pidfd, timeout);
        let status = child.wait().map_err(|source| GitError::Spawn {
            step: step.into(),
            user: user(),
            source,
        })?;
        if timed_out {
            return Err(GitError::Timeout {
                step: step.into(),
                user: user(),
                after: timeout,
            });
        }
        Ok(GitOutput {
            status,
            truncated: stdout.truncated || stderr.truncated,
            stdout: stdout.buf,
            stderr: stderr.buf,
        })
    }
}

/// The child's side of running a program as a user, for `pre_exec`: a
/// session of its own (its process group is killed afterwards), the user's
/// groups, gid and uid, and a check that root cannot be regained. Only
/// async-signal-safe calls, on data prepared before the fork.
pub fn become_user(
    uid: u32,
    gid: u32,
    groups: Vec<libc::gid_t>,
) -> impl FnMut() -> std::io::Result<()> + Send + Sync + 'static {
    move || {
        // SAFETY: plain system calls on owned data; no allocation.
        let failed = unsafe {
            libc::setsid() < 0
                || libc::setgroups(groups.len(), groups.as_ptr()) != 0
                || libc::setgid(gid) != 0
                || libc::setuid(uid) != 0
                || (uid != 0 && libc::setuid(0) == 0)
        };
        match failed {
            true => Err(std::io::Error::last_os_error()),
            false => Ok(()),
        }
    }
}
