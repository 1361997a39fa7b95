//! Git worktrees for tasks: [`add_worktree`] (a new branch at HEAD in a new
//! linked worktree), [`open_worktree`] (the same worktree found again for a
//! relaunch), [`dirty`] and [`remove_worktree`] (the branch stays: its
//! commits are the user's work).

use super::repo::{exists, repo_info_by, writable_by};
use super::{absolute, os, AsUser, Deadline, GitError, RepoInfo, REMOVE_TIMEOUT, STEP_TIMEOUT};
use serde::{Deserialize, Serialize};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A linked worktree on a branch of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Worktree {
    /// Its top directory.
    pub path: PathBuf,
    /// Its branch, without `refs/heads/`.
    pub branch: String,
    /// The commit its HEAD named when made or opened.
    pub head: String,
    /// The repository's common git dir (`.git` of the main work tree).
    pub common_dir: PathBuf,
}

/// Creates the worktree `path` (absolute; missing parent directories are
/// created by git, as the user) on a new branch `branch` at the HEAD of the
/// repository `repo_dir` is in: `git worktree add -b <branch> <path> HEAD`.
pub fn add_worktree(
    user: &AsUser,
    repo_dir: &Path,
    path: &Path,
    branch: &str,
    timeout: Duration,
) -> Result<Worktree, GitError> {
    absolute(path)?;
    let deadline = Deadline::after(timeout);
    let info = repo_info_by(user, repo_dir, &deadline)?.ok_or_else(|| GitError::NotARepo {
        dir: repo_dir.into(),
    })?;
    check_branch_name(user, repo_dir, branch, &deadline)?;
    let head = info.head.clone().ok_or_else(|| GitError::Unborn {
        dir: info.toplevel.clone(),
    })?;
    let full = format!("refs/heads/{branch}");
    let show = [os("show-ref"), os("--verify"), os("-q"), os(&full)];
    let out = user.git_raw(repo_dir, &show, &[], deadline.left())?;
    match out.status.code() {
        Some(1) => {}
        Some(0) => {
            return Err(GitError::BranchExists {
                branch: branch.into(),
                repo: info.toplevel,
            })
        }
        _ => return Err(user.failed(repo_dir, &show, &out)),
    }
    if exists(user, &[path.to_path_buf()], &deadline)?[0] {
        return Err(GitError::PathExists { path: path.into() });
    }
    writable_by(user, &info, &deadline)?;
    let add = [
        os("worktree"),
        os("add"),
        os("-b"),
        os(branch),
        os(path),
        os(&head),
    ];
    user.git(repo_dir, &add, &[], deadline.left())?;
    Ok(Worktree {
        path: path.into(),
        branch: branch.into(),
        head,
        common_dir: info.common_dir,
    })
}

/// `git check-ref-format --branch`, and the name must come back unchanged
/// (no `@{-1}` expanded, no option).
fn check_branch_name(
    user: &AsUser,
    dir: &Path,
    branch: &str,
    deadline: &Deadline,
) -> Result<(), GitError> {
    let bad = || GitError::BadBranch {
        branch: branch.into(),
    };
    if branch.starts_with('-') || branch.contains('\0') {
        return Err(bad());
    }
    let check = [os("check-ref-format"), os("--branch"), os(branch)];
    let out = user.git_raw(dir, &check, &[], deadline.left())?;
    if out.success() && out.text() == branch {
        Ok(())
    } else {
        Err(bad())
    }
}

/// The linked worktree at `path` (its top directory), checked to be on
/// `branch`: the worktree a relaunch continues in.
pub fn open_worktree(user: &AsUser, path: &Path, branch: &str) -> Result<Worktree, GitError> {
    let deadline = Deadline::after(STEP_TIMEOUT);
    let info = linked(user, path, &deadline)?;
    if info.branch.as_deref() != Some(branch) {
        return Err(GitError::WrongBranch {
            path: path.into(),
            expected: branch.into(),
            found: match info.branch {
                Some(b) => format!("the branch {b}"),
                None => "a detached HEAD".into(),
            },
        });
    }
    Ok(Worktree {
        path: path.into(),
        branch: branch.into(),
        head: info
            .head
            .ok_or_else(|| GitError::Unborn { dir: path.into() })?,
        common_dir: info.common_dir,
    })
}

/// The repository of `path`, which must be the top of a linked worktree.
fn linked(user: &AsUser, path: &Path, deadline: &Deadline) -> Result<RepoInfo, GitError> {
    let not = |why| GitError::NotAWorktree {
        path: path.into(),
        why,
    };
    let info = repo_info_by(user, path, deadline)?.ok_or(not("not inside a git work tree"))?;
    if !info.rel.is_empty() {
        return Err(not("it is inside one, not its top directory"));
    }
    if !info.is_linked_worktree() {
        return Err(not("it is a repository's main work tree"));
    }
    Ok(info)
}

/// Uncommitted changes in the work tree at `path`, untracked files
/// included (`git status --porcelain=v1 -z --untracked-files=all`): one
/// path each (the new one of a rename), relative to the top.
pub fn dirty(user: &AsUser, path: &Path) -> Result<Vec<String>, GitError> {
    dirty_by(user, path, &Deadline::after(STEP_TIMEOUT))
}

fn dirty_by(user: &AsUser, path: &Path, deadline: &Deadline) -> Result<Vec<String>, GitError> {
    let status = [
        os("status"),
        os("--porcelain=v1"),
        os("-z"),
        os("--untracked-files=all"),
    ];
    let out = user.git(path, &status, &[], deadline.left())?;
    let mut entries = out.stdout.split(|b| *b == 0).filter(|e| !e.is_empty());
    let mut paths = Vec::new();
    while let Some(entry) = entries.next() {
        // "XY path"; a rename or copy is followed by its source path.
        if entry.len() < 4 {
            continue;
        }
        if matches!(entry[0], b'R' | b'C') || matches!(entry[1], b'R' | b'C') {
            entries.next();
        }
        paths.push(String::from_utf8_lossy(&entry[3..]).into_owned());
    }
    Ok(paths)
}

/// Removes the linked worktree at `path` (`git worktree remove`, run in the
/// common git dir, then `git worktree prune`). Refuses one with
/// uncommitted changes unless `force`. Its branch stays.
pub fn remove_worktree(user: &AsUser, path: &Path, force: bool) -> Result<(), GitError> {
    let deadline = Deadline::after(REMOVE_TIMEOUT);
    let info = linked(user, path, &deadline)?;
    if !force {
        let changes = dirty_by(user, path, &deadline)?;
        if !changes.is_empty() {
            let mut list = changes
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if changes.len() > 3 {
                list.push_str(", …");
            }
            return Err(GitError::Dirty {
                path: path.into(),
                count: changes.len(),
                list,
            });
        }
    }
    let mut remove: Vec<&OsStr> = vec![os("worktree"), os("remove")];
    if force {
        remove.push(os("--force"));
    }
    remove.push(os(path));
    let repo = &info.common_dir;
    user.git(repo, &remove, &[], deadline.left())?;
    user.git(repo, &[os("worktree"), os("prune")], &[], deadline.left())?;
    Ok(())
}
