//! Worktrees: add, open, dirty, remove, and who owns what.

use super::repo::trust_all;
use super::*;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

fn listed(fx: &Fx, repo: &Path, path: &Path) -> bool {
    let list = fx.git(repo, &["worktree", "list", "--porcelain"]);
    list.lines()
        .any(|l| l == format!("worktree {}", path.display()))
}

#[test]
fn add_open_and_the_errors_of_add() {
    let Some(fx) = Fx::root() else { return };
    let repo = fx.repo("r");
    let path = fx.path("trees/deep/42");
    let wt = add_worktree(&fx.user, &repo, &path, "claudine/42", T).unwrap();
    let head = fx.git(&repo, &["rev-parse", "HEAD"]);
    assert_eq!(
        wt,
        Worktree {
            path: path.clone(),
            branch: "claudine/42".into(),
            head: head.clone(),
            common_dir: repo.join(".git"),
        }
    );
    assert_eq!(fx.git(&repo, &["rev-parse", "claudine/42"]), head);
    assert!(listed(&fx, &repo, &path));
    assert_eq!(fs::read_to_string(path.join("a.txt")).unwrap(), "one\n");
    assert_eq!(open_worktree(&fx.user, &path, "claudine/42").unwrap(), wt);
    let info = repo_info(&fx.user, &path).unwrap().unwrap();
    assert!(info.is_linked_worktree());
    assert_eq!(info.git_dir, repo.join(".git/worktrees/42"));

    let err = open_worktree(&fx.user, &path, "claudine/43").unwrap_err();
    let want = format!(
        "the worktree {} is on the branch claudine/42, not on the branch claudine/43",
        path.display()
    );
    assert_eq!(err.to_string(), want);
    let err = open_worktree(&fx.user, &repo, "main").unwrap_err();
    assert!(err
        .to_string()
        .ends_with("is not a worktree: it is a repository's main work tree"));

    let other = fx.path("trees/other");
    let err = add_worktree(&fx.user, &repo, &other, "claudine/42", T).unwrap_err();
    let want = format!("a branch claudine/42 already exists in {}", repo.display());
    assert_eq!(err.to_string(), want);
    let err = add_worktree(&fx.user, &repo, &path, "claudine/44", T).unwrap_err();
    assert!(matches!(err, GitError::PathExists { .. }), "{err}");
    for bad in ["a..b", "-x", "@{-1}", "x.lock", ""] {
        let err = add_worktree(&fx.user, &repo, &other, bad, T).unwrap_err();
        assert!(matches!(err, GitError::BadBranch { .. }), "{bad}: {err}");
    }
    let plain = fx.mkdir("plain");
    let err = add_worktree(&fx.user, &plain, &other, "x", T).unwrap_err();
    assert!(matches!(err, GitError::NotARepo { .. }), "{err}");
    let unborn = fx.mkdir("u");
    fx.git(&unborn, &["init", "-q"]);
    let err = add_worktree(&fx.user, &unborn, &other, "x", T).unwrap_err();
    let want = format!("the repository {} has no commit yet", unborn.display());
    assert_eq!(err.to_string(), want);
    assert!(!other.exists());
}

#[test]
fn dirty_and_remove() {
    let Some(fx) = Fx::root() else { return };
    let repo = fx.repo("r");
    let path = fx.path("wt");
    add_worktree(&fx.user, &repo, &path, "claudine/1", T).unwrap();
    assert!(dirty(&fx.user, &path).unwrap().is_empty());
    fx.write("wt/a.txt", "changed\n");
    fx.mkdir("wt/n");
    fx.write("wt/n/new.txt", "new\n");
    fx.write("wt/old.txt", "old\n");
    fx.git(&path, &["add", "old.txt"]);
    fx.git(&path, &["commit", "-q", "-m", "old"]);
    fx.git(&path, &["mv", "old.txt", "renamed.txt"]);
    let mut changes = dirty(&fx.user, &path).unwrap();
    changes.sort();
    assert_eq!(changes, ["a.txt", "n/new.txt", "renamed.txt"]);

    let err = remove_worktree(&fx.user, &path, false).unwrap_err();
    let want = format!(
        "the worktree {} has 3 uncommitted changes (a.txt, ",
        path.display()
    );
    assert!(err.to_string().starts_with(&want), "{err}");
    assert!(
        err.to_string().ends_with("): commit them, or use --force"),
        "{err}"
    );
    assert!(path.exists());

    remove_worktree(&fx.user, &path, true).unwrap();
    assert!(!path.exists());
    assert!(!listed(&fx, &repo, &path));
    let branch = fx.git(&repo, &["log", "-1", "--format=%s", "claudine/1"]);
    assert_eq!(branch, "old");

    let clean = fx.path("clean");
    add_worktree(&fx.user, &repo, &clean, "claudine/2", T).unwrap();
    remove_worktree(&fx.user, &clean, false).unwrap();
    assert!(!clean.exists());
    let err = remove_worktree(&fx.user, &repo, true).unwrap_err();
    assert!(matches!(err, GitError::NotAWorktree { .. }), "{err}");
}

#[test]
fn nobody_cannot_add_a_worktree_to_roots_repository() {
    let Some(root) = Fx::root() else { return };
    let repo = root.repo("r");
    let Some(fx) = Fx::nobody() else { return };
    trust_all(&fx);
    let path = fx.path("wt");
    let err = add_worktree(&fx.user, &repo, &path, "claudine/5", T).unwrap_err();
    let want = format!(
        "cannot create a worktree: nobody cannot write {}",
        repo.join(".git").display()
    );
    assert_eq!(err.to_string(), want);
    assert!(!path.exists());
}

#[test]
fn nobodys_worktree_and_its_parents_are_nobodys() {
    let Some(fx) = Fx::nobody() else { return };
    let repo = fx.repo("r");
    let path = fx.path("trees/a/b");
    add_worktree(&fx.user, &repo, &path, "claudine/6", T).unwrap();
    for p in walk(&fx.path("trees")).into_iter().chain(walk(&repo)) {
        let meta = fs::symlink_metadata(&p).unwrap();
        assert_eq!(meta.uid(), NOBODY, "{}", p.display());
    }
    let mode = fs::metadata(fx.path("trees/a")).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o755);
    let snap = snapshot(&fx.user, &path, 6, 1, "in a worktree", T).unwrap();
    assert_eq!(snap.branch.as_deref(), Some("claudine/6"));
    remove_worktree(&fx.user, &path, false).unwrap();
    assert!(!path.exists());
}

#[test]
fn no_hook_fsmonitor_or_signing_of_the_users_runs() {
    let Some(fx) = Fx::root() else { return };
    let repo = fx.repo("r");
    let marker = fx.path("ran");
    let script = format!("#!/bin/sh\necho \"$0\" >> {}\n", marker.display());
    for hook in ["post-checkout", "pre-commit", "reference-transaction"] {
        let hook = repo.join(".git/hooks").join(hook);
        fs::write(&hook, &script).unwrap();
        fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let monitor = repo.join(".git/hooks/fsmonitor-watchman");
    fx.git(
        &repo,
        &["config", "core.fsmonitor", &monitor.to_string_lossy()],
    );
    fx.git(&repo, &["config", "commit.gpgSign", "true"]);
    fx.git(&repo, &["config", "gpg.program", "/bin/false"]);
    fs::write(&monitor, &script).unwrap();
    fs::set_permissions(&monitor, fs::Permissions::from_mode(0o755)).unwrap();

    fx.write("r/a.txt", "changed\n");
    snapshot(&fx.user, &repo, 8, 1, "signed?", T).unwrap();
    let path = fx.path("wt");
    add_worktree(&fx.user, &repo, &path, "claudine/8", T).unwrap();
    assert!(dirty(&fx.user, &path).unwrap().is_empty());
    remove_worktree(&fx.user, &path, false).unwrap();
    assert!(!marker.exists(), "{}", fs::read_to_string(&marker).unwrap());
}
