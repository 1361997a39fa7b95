//! Where a directory's repository is, and what it is doing: [`repo_info`]
//! (git's own answers, the files of an operation in progress checked by
//! `find` as the user), and [`writable`] (`find -writable` as the user).

use super::{absolute, os, AsUser, Deadline, GitError, STEP_TIMEOUT};
use serde::{Deserialize, Serialize};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// An operation in progress in a work tree, as `git status` tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepoState {
    /// Nothing in progress.
    Normal,
    /// `rebase-merge/` or `rebase-apply/` (not from `git am`).
    Rebase,
    /// `MERGE_HEAD`.
    Merge,
    /// `CHERRY_PICK_HEAD`.
    CherryPick,
    /// `REVERT_HEAD`.
    Revert,
    /// `BISECT_LOG`.
    Bisect,
    /// `rebase-apply/applying`.
    Am,
}

impl RepoState {
    pub fn describe(&self) -> &'static str {
        match self {
            RepoState::Normal => "no operation in progress",
            RepoState::Rebase => "a rebase in progress",
            RepoState::Merge => "a merge in progress",
            RepoState::CherryPick => "a cherry-pick in progress",
            RepoState::Revert => "a revert in progress",
            RepoState::Bisect => "a bisect in progress",
            RepoState::Am => "git am in progress",
        }
    }
}

/// The repository a directory is in, as its user sees it. Paths are absolute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoInfo {
    /// The top of the work tree (of the linked worktree, in one).
    pub toplevel: PathBuf,
    /// `.git`, or `.git/worktrees/<name>` in a linked worktree.
    pub git_dir: PathBuf,
    /// `.git` of the main work tree: objects, refs, config.
    pub common_dir: PathBuf,
    /// The directory relative to `toplevel` ("" at the top, no final `/`).
    pub rel: String,
    /// The commit HEAD names; `None` while the branch is unborn.
    pub head: Option<String>,
    /// The branch HEAD is on (without `refs/heads/`); `None` when detached.
    pub branch: Option<String>,
    pub state: RepoState,
    /// Always false: a bare repository has no work tree, so no `RepoInfo`.
    pub bare: bool,
}

impl RepoInfo {
    /// A worktree made by `git worktree add`, not the main work tree.
    pub fn is_linked_worktree(&self) -> bool {
        self.git_dir != self.common_dir
    }
}

/// The files that say an operation is in progress, in the order `git
/// status` looks at them, with what each means.
const STATE_FILES: [(&str, RepoState); 7] = [
    ("rebase-apply/applying", RepoState::Am),
    ("rebase-merge", RepoState::Rebase),
    ("rebase-apply", RepoState::Rebase),
    ("MERGE_HEAD", RepoState::Merge),
    ("CHERRY_PICK_HEAD", RepoState::CherryPick),
    ("REVERT_HEAD", RepoState::Revert),
    ("BISECT_LOG", RepoState::Bisect),
];

/// The repository `dir` is in; `None` when it is not inside a git work
/// tree (outside any repository, in a `.git` directory, in a bare one).
pub fn repo_info(user: &AsUser, dir: &Path) -> Result<Option<RepoInfo>, GitError> {
    repo_info_by(user, dir, &Deadline::after(STEP_TIMEOUT))
}

pub(super) fn repo_info_by(
    user: &AsUser,
    dir: &Path,
    deadline: &Deadline,
) -> Result<Option<RepoInfo>, GitError> {
    absolute(dir)?;
    let inside: [&OsStr; 2] = [os("rev-parse"), os("--is-inside-work-tree")];
    let out = user.git_raw(dir, &inside, &[], deadline.left())?;
    if !out.success() {
        if out.detail().contains("not a git repository") {
            return Ok(None);
        }
        return Err(user.failed(dir, &inside, &out));
    }
    if out.text() != "true" {
        return Ok(None);
    }

    // The state files first, in git's default format (relative to `dir` or
    // absolute, as they are): `--path-format` would resolve symlinks, and
    // fail on one the user planted into a directory they cannot enter.
    let mut args: Vec<&OsStr> = vec![os("rev-parse")];
    for (file, _) in STATE_FILES {
        args.extend([os("--git-path"), os(file)]);
    }
    args.extend(
        ["--path-format=absolute", "--show-toplevel", "--git-dir"]
            .iter()
            .chain(&["--git-common-dir", "--show-prefix"])
            .map(os),
    );
    let out = user.git(dir, &args, &[], deadline.left())?;
    // One line per answer; a path holding a newline would break the count.
    let lines: Vec<&[u8]> = out.stdout.split(|b| *b == b'\n').collect();
    let n = STATE_FILES.len();
    if lines.len() != n + 5 || !lines[n + 4].is_empty() {
        return Err(GitError::Unexpected {
            step: super::run::git_step(dir, &args),
            user: user.name.clone(),
            detail: format!("{} lines", lines.len()),
        });
    }
    let path = |b: &[u8]| PathBuf::from(OsString::from_vec(b.to_vec()));
    let prefix = String::from_utf8_lossy(lines[n + 3]);
    let state_paths: Vec<PathBuf> = lines[..n].iter().map(|l| dir.join(path(l))).collect();
    let present = exists(user, &state_paths, deadline)?;
    let state = STATE_FILES
        .iter()
        .zip(present)
        .find(|(_, here)| *here)
        .map_or(RepoState::Normal, |((_, state), _)| *state);

    let verify = [
        os("rev-parse"),
        os("-q"),
        os("--verify"),
        os("HEAD^{commit}"),
    ];
    let out = user.git_raw(dir, &verify, &[], deadline.left())?;
    let head = match out.status.code() {
        Some(0) => Some(out.text()),
        Some(1) => None,
        _ => return Err(user.failed(dir, &verify, &out)),
    };
    let symbolic = [os("symbolic-ref"), os("-q"), os("HEAD")];
    let out = user.git_raw(dir, &symbolic, &[], deadline.left())?;
    let branch = match out.status.code() {
        Some(0) => {
            let full = out.text();
            Some(
                full.strip_prefix("refs/heads/")
                    .unwrap_or(&full)
                    .to_string(),
            )
        }
        Some(1) => None,
        _ => return Err(user.failed(dir, &symbolic, &out)),
    };
    Ok(Some(RepoInfo {
        toplevel: path(lines[n]),
        git_dir: path(lines[n + 1]),
        common_dir: path(lines[n + 2]),
        rel: prefix.trim_end_matches('/').to_string(),
        head,
        branch,
        state,
        bare: false,
    }))
}

/// Whether `user` can write the repository's common git dir (and its
/// `worktrees/` and `refs/heads/` where they exist), which a new worktree
/// needs. Checked with `access(2)` as the user (`find -writable`).
pub fn writable(user: &AsUser, info: &RepoInfo) -> Result<(), GitError> {
    writable_by(user, info, &Deadline::after(STEP_TIMEOUT))
}

pub(super) fn writable_by(
    user: &AsUser,
    info: &RepoInfo,
    deadline: &Deadline,
) -> Result<(), GitError> {
    let common = &info.common_dir;
    let paths = [
        common.clone(),
        common.join("worktrees"),
        common.join("refs/heads"),
    ];
    let mut args: Vec<&OsStr> = paths.iter().map(os).collect();
    args.extend(
        ["-maxdepth", "0", "!", "-writable", "-print0"]
            .iter()
            .map(os),
    );
    let out = find(user, &args, deadline)?;
    match out.split(|b| *b == 0).find(|p| !p.is_empty()) {
        None => Ok(()),
        Some(p) => Err(GitError::NotWritable {
            user: user.name.clone(),
            path: PathBuf::from(OsStr::from_bytes(p)),
        }),
    }
}

/// Which of `paths` (absolute) exist, as `user` sees them (a symlink
/// exists, whatever it points to).
pub(super) fn exists(
    user: &AsUser,
    paths: &[PathBuf],
    deadline: &Deadline,
) -> Result<Vec<bool>, GitError> {
    let mut args: Vec<&OsStr> = paths.iter().map(os).collect();
    args.extend(["-maxdepth", "0", "-print0"].iter().map(os));
    let out = find(user, &args, deadline)?;
    let found: Vec<&[u8]> = out.split(|b| *b == 0).collect();
    Ok(paths
        .iter()
        .map(|p| found.contains(&p.as_os_str().as_bytes()))
        .collect())
}

/// `find <starting points> <expression>` as `user`, its stdout. find exits
/// 1 for a starting point that does not exist: that is an answer here.
fn find(user: &AsUser, args: &[&OsStr], deadline: &Deadline) -> Result<Vec<u8>, GitError> {
    for a in args.iter().take_while(|a| !a.as_bytes().starts_with(b"-")) {
        absolute(Path::new(a))?;
    }
    let out = user.run("find", args, &[], deadline.left())?;
    match out.status.code() {
        Some(0 | 1) => Ok(out.stdout),
        _ => Err(GitError::Failed {
            step: format!("find {}", Path::new(args[0]).display()),
            user: user.name.clone(),
            detail: out.detail(),
        }),
    }
}
