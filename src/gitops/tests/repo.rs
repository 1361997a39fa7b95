//! `repo_info` and `writable`.

use super::*;

#[test]
fn outside_a_work_tree_is_none_and_a_missing_dir_an_error() {
    let Some(fx) = Fx::root() else { return };
    let plain = fx.mkdir("plain");
    assert_eq!(repo_info(&fx.user, &plain).unwrap(), None);
    let repo = fx.repo("r");
    assert_eq!(repo_info(&fx.user, &repo.join(".git")).unwrap(), None);
    let err = repo_info(&fx.user, &fx.path("missing")).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("git rev-parse in "), "{text}");
    assert!(text.contains("as root: fatal: cannot change to"), "{text}");
    let err = repo_info(&fx.user, Path::new("relative")).unwrap_err();
    assert_eq!(err.to_string(), "relative is not an absolute path");
}

#[test]
fn repo_info_names_the_top_the_git_dirs_the_prefix_head_and_branch() {
    let Some(fx) = Fx::root() else { return };
    let repo = fx.repo("r");
    let sub = fx.mkdir("r/sub/dir");
    let info = repo_info(&fx.user, &sub).unwrap().unwrap();
    let head = fx.git(&repo, &["rev-parse", "HEAD"]);
    assert_eq!(
        info,
        RepoInfo {
            toplevel: repo.clone(),
            git_dir: repo.join(".git"),
            common_dir: repo.join(".git"),
            rel: "sub/dir".into(),
            head: Some(head.clone()),
            branch: Some("main".into()),
            state: RepoState::Normal,
            bare: false,
        }
    );
    assert!(!info.is_linked_worktree());
    assert_eq!(repo_info(&fx.user, &repo).unwrap().unwrap().rel, "");

    fx.git(&repo, &["checkout", "-q", "--detach"]);
    let info = repo_info(&fx.user, &repo).unwrap().unwrap();
    assert_eq!((info.head, info.branch), (Some(head), None));
}

#[test]
fn an_unborn_branch_has_no_head() {
    let Some(fx) = Fx::root() else { return };
    let dir = fx.mkdir("u");
    fx.git(&dir, &["init", "-q", "-b", "trunk"]);
    let info = repo_info(&fx.user, &dir).unwrap().unwrap();
    assert_eq!((info.head, info.branch.as_deref()), (None, Some("trunk")));
}

#[test]
fn states_are_read_from_the_git_dir_as_the_user() {
    let Some(fx) = Fx::root() else { return };
    let repo = fx.repo("r");
    let state = |fx: &Fx| repo_info(&fx.user, &repo).unwrap().unwrap().state;
    fx.git(&repo, &["bisect", "start"]);
    assert_eq!(state(&fx), RepoState::Bisect);
    fx.git(&repo, &["bisect", "reset"]);
    assert_eq!(state(&fx), RepoState::Normal);
    // The files are looked for as the user, without following symlinks:
    // one to a file only root can see says the same whether it exists.
    let secret = root_only_file(&fx);
    let Some(nobody) = Fx::nobody() else { return };
    let theirs = nobody.repo("r");
    let planted = theirs.join(".git/REVERT_HEAD");
    std::os::unix::fs::symlink(&secret, &planted).unwrap();
    let state = |fx: &Fx| repo_info(&fx.user, &theirs).unwrap().unwrap().state;
    assert_eq!(state(&nobody), RepoState::Revert);
    fs::remove_file(&planted).unwrap();
    std::os::unix::fs::symlink(secret.with_file_name("missing"), &planted).unwrap();
    assert_eq!(state(&nobody), RepoState::Revert);
    assert_eq!(RepoState::Revert.describe(), "a revert in progress");
    assert_eq!(
        serde_json::to_string(&RepoState::CherryPick).unwrap(),
        "\"cherry_pick\""
    );
}

#[test]
fn another_users_repository_is_dubious_to_git() {
    let Some(root) = Fx::root() else { return };
    let repo = root.repo("r");
    let nobody = AsUser {
        home: "/nonexistent".into(),
        ..nobody_user()
    };
    let err = repo_info(&nobody, &repo).unwrap_err().to_string();
    assert!(
        err.contains("as nobody: fatal: detected dubious ownership"),
        "{err}"
    );
}

#[test]
fn writable_is_checked_as_the_user() {
    let Some(root) = Fx::root() else { return };
    let repo = root.repo("r");
    let info = repo_info(&root.user, &repo).unwrap().unwrap();
    writable(&root.user, &info).unwrap();
    let Some(fx) = Fx::nobody() else { return };
    trust_all(&fx);
    let info = repo_info(&fx.user, &repo).unwrap().unwrap();
    let err = writable(&fx.user, &info).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot create a worktree: nobody cannot write {}",
            repo.join(".git").display()
        )
    );
}

pub(super) fn nobody_user() -> AsUser {
    AsUser {
        uid: NOBODY,
        gid: NOBODY,
        groups: vec![NOBODY],
        name: "nobody".into(),
        home: String::new(),
    }
}

/// `safe.directory = *` in the fixture user's `~/.gitconfig`: git then
/// works in a repository someone else owns.
pub(super) fn trust_all(fx: &Fx) {
    fx.write("home/.gitconfig", "[safe]\n\tdirectory = *\n");
}

/// `<base>/secret/x`, in a directory only root can enter.
fn root_only_file(fx: &Fx) -> PathBuf {
    let dir = fx.mkdir("secret");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    fx.write("secret/x", "");
    dir.join("x")
}
