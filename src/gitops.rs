//! A blocking git adapter that runs every command AS A GIVEN USER, for
//! checkpoints (snapshots of a working tree under `refs/claudine/<id>/<n>`)
//! and git worktrees. Used from the per-task supervisor (single-threaded,
//! blocking) and from the daemon through `spawn_blocking`.
//!
//! The daemon is root; the repositories are the users'. So nothing here
//! touches a user path as root: git enters the directory itself (`git -C`,
//! the process's cwd is `/`), and every existence, write or removal check on
//! a user path is a program run as the user (`find`, `cp`, `rm`). A user
//! who makes `.git/rebase-merge` a symlink to `/root/...` learns nothing.
//!
//! - `run.rs`: the runner. One program as the user (own session, groups,
//!   gid, uid, checked that root cannot be regained), environment cleared,
//!   output captured (1 MiB each at most), bounded in time: the process
//!   group is killed at the deadline and when the program exits
//!   (`capture.rs`: one thread, `poll` on the pipes and a pidfd).
//! - `repo.rs`: [`repo_info`] (where a directory's repository is, its HEAD,
//!   branch and [`RepoState`]) and [`writable`].
//! - `snapshot.rs`: [`snapshot`], the working tree as a commit through a
//!   temporary index, without touching branches, HEAD, index or files.
//! - `worktree.rs`: [`add_worktree`], [`open_worktree`], [`dirty`],
//!   [`remove_worktree`].
//!
//! Every path given to this module must be absolute.

mod capture;
mod repo;
mod run;
mod snapshot;
mod worktree;

#[cfg(test)]
mod tests;

pub use repo::{repo_info, writable, RepoInfo, RepoState};
pub use run::{become_user, GitOutput, OUTPUT_MAX, SEARCH_PATH};
pub use snapshot::{snapshot, Snapshot};
pub use worktree::{add_worktree, dirty, open_worktree, remove_worktree, Worktree};

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Bound of each metadata step that takes no timeout of its own
/// ([`repo_info`], [`dirty`], [`open_worktree`], [`writable`]).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// Bound of [`remove_worktree`] (it deletes a whole tree).
pub const REMOVE_TIMEOUT: Duration = Duration::from_secs(600);

/// The account commands run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    pub name: String,
    pub home: String,
}

/// What can go wrong. `step` names the command and where it ran
/// ("git worktree add in /home/alice/src/app").
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{program} not found on {SEARCH_PATH}")]
    NotFound { program: String },
    #[error("{} is not an absolute path", path.display())]
    NotAbsolute { path: PathBuf },
    #[error("the checkpoint message contains a NUL byte")]
    NulInMessage,
    #[error("cannot run {step} as {user}: {source}")]
    Spawn {
        step: String,
        user: String,
        source: std::io::Error,
    },
    #[error("{step} as {user}: {detail}")]
    Failed {
        step: String,
        user: String,
        detail: String,
    },
    #[error("{step} as {user} did not finish within {} ms and was killed", after.as_millis())]
    Timeout {
        step: String,
        user: String,
        after: Duration,
    },
    #[error("{step} as {user}: unexpected output: {detail}")]
    Unexpected {
        step: String,
        user: String,
        detail: String,
    },
    #[error("{} is not inside a git work tree", dir.display())]
    NotARepo { dir: PathBuf },
    #[error("the repository {} has no commit yet", dir.display())]
    Unborn { dir: PathBuf },
    #[error("{branch:?} is not a valid branch name")]
    BadBranch { branch: String },
    #[error("a branch {branch} already exists in {}", repo.display())]
    BranchExists { branch: String, repo: PathBuf },
    #[error("cannot create a worktree at {}: it already exists", path.display())]
    PathExists { path: PathBuf },
    #[error("cannot create a worktree: {user} cannot write {}", path.display())]
    NotWritable { user: String, path: PathBuf },
    #[error("{} is not a worktree: {why}", path.display())]
    NotAWorktree { path: PathBuf, why: &'static str },
    #[error("the worktree {} is on {found}, not on the branch {expected}", path.display())]
    WrongBranch {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error(
        "the worktree {} has {count} uncommitted change{} ({list}): commit them, or use --force",
        path.display(),
        if *count == 1 { "" } else { "s" }
    )]
    Dirty {
        path: PathBuf,
        count: usize,
        list: String,
    },
}

/// `s` as an argument (`&str`, `&Path`, `String`… all are `AsRef<OsStr>`).
pub(crate) fn os<S: AsRef<OsStr> + ?Sized>(s: &S) -> &OsStr {
    s.as_ref()
}

/// Refuses a relative path: relative to what, when the cwd is `/`?
pub(crate) fn absolute(path: &Path) -> Result<(), GitError> {
    if path.is_absolute() {
        Ok(())
    } else {
        Err(GitError::NotAbsolute { path: path.into() })
    }
}

/// One deadline shared by the steps of an operation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Instant);

impl Deadline {
    pub(crate) fn after(timeout: Duration) -> Self {
        Deadline(Instant::now() + timeout)
    }

    /// What is left (zero once passed: the next step times out at once).
    pub(crate) fn left(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }
}
