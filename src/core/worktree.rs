//! A task's own git worktree (`claudinectl submit --worktree`): a new
//! branch `claudine/<id>` checked out in a directory of its own, created as
//! the submitting user at the task's first launch (by its supervisor, in
//! its scope), kept across suspend, resume, relaunches and restarts, shown
//! in status, and removed only by `claudinectl clean`.
//!
//! Where: `~/.local/share/claudine/worktrees/<repo>-<id>` of the user —
//! outside the repository (a worktree inside it would show as untracked in
//! the user's own tree), in a directory the user owns whatever the
//! repository's parent is. The task runs in the same subdirectory of it as
//! it was submitted from.

use super::task::TaskId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Worktree {
    /// The repository's top directory (`git rev-parse --show-toplevel`).
    pub repo: String,
    /// The submitted directory, relative to `repo` ("" at the top).
    pub rel: String,
    /// The directory worktrees go in (`~/.local/share/claudine/worktrees`).
    pub base: String,
    /// The repository's directory name.
    pub name: String,
    /// When `claudinectl clean` removed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_ms: Option<i64>,
}

impl Worktree {
    /// The worktree of a task submitted from `cwd`, in repository `repo`
    /// (its top directory), for a user whose home is `home`.
    pub fn new(repo: &str, cwd: &str, home: &str) -> Worktree {
        let repo = repo.trim_end_matches('/');
        let rel = cwd
            .strip_prefix(repo)
            .map(|r| r.trim_matches('/'))
            .unwrap_or("")
            .to_owned();
        let name: String = repo
            .rsplit('/')
            .find(|s| !s.is_empty())
            .unwrap_or("repo")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        Worktree {
            repo: if repo.is_empty() {
                "/".into()
            } else {
                repo.into()
            },
            rel,
            base: format!(
                "{}/.local/share/claudine/worktrees",
                home.trim_end_matches('/')
            ),
            name: if name.is_empty() || name.starts_with('.') {
                format!("repo{name}")
            } else {
                name
            },
            removed_ms: None,
        }
    }

    /// The worktree's directory.
    pub fn path(&self, id: TaskId) -> String {
        format!("{}/{}-{id}", self.base, self.name)
    }

    /// Its branch.
    pub fn branch(id: TaskId) -> String {
        format!("claudine/{id}")
    }

    /// Where the task runs: the submitted subdirectory, in the worktree.
    pub fn cwd(&self, id: TaskId) -> String {
        match self.rel.as_str() {
            "" => self.path(id),
            rel => format!("{}/{rel}", self.path(id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worktree_mirrors_the_submitted_directory() {
        let w = Worktree::new(
            "/home/alice/src/app",
            "/home/alice/src/app/crates/core",
            "/home/alice",
        );
        assert_eq!(w.rel, "crates/core");
        assert_eq!(
            w.path(42),
            "/home/alice/.local/share/claudine/worktrees/app-42"
        );
        assert_eq!(
            w.cwd(42),
            "/home/alice/.local/share/claudine/worktrees/app-42/crates/core"
        );
        assert_eq!(Worktree::branch(42), "claudine/42");
        let top = Worktree::new("/srv/my repo", "/srv/my repo", "/home/bob/");
        assert_eq!(
            top.cwd(7),
            "/home/bob/.local/share/claudine/worktrees/my_repo-7"
        );
        assert_eq!(
            Worktree::new("/x/.hidden", "/x/.hidden", "/h").name,
            "repo.hidden"
        );
    }
}
