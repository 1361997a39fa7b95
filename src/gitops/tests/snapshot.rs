//! `snapshot`: what the commit holds, and that nothing of the user's moved.

use super::*;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// Everything a snapshot must leave as it was.
#[derive(Debug, PartialEq)]
struct Before {
    index: Vec<u8>,
    head: String,
    heads: String,
    stash: String,
    unmerged: String,
    files: Vec<(PathBuf, Vec<u8>)>,
}

fn before(fx: &Fx, repo: &Path) -> Before {
    let files = walk(repo)
        .into_iter()
        .filter(|p| !p.starts_with(repo.join(".git")) && p.is_file())
        .map(|p| (p.clone(), fs::read(&p).unwrap()))
        .collect();
    Before {
        index: fs::read(repo.join(".git/index")).unwrap_or_default(),
        head: fs::read_to_string(repo.join(".git/HEAD")).unwrap(),
        heads: fx.git(repo, &["for-each-ref", "refs/heads"]),
        stash: fx.git(repo, &["stash", "list"]),
        unmerged: fx.git(repo, &["ls-files", "-u"]),
        files,
    }
}

fn tree_files(fx: &Fx, repo: &Path, commit: &str) -> Vec<String> {
    let names = fx.git(repo, &["ls-tree", "-r", "--name-only", commit]);
    names.lines().map(String::from).collect()
}

fn no_temp_index_left(repo: &Path) {
    let left: Vec<_> = walk(&repo.join(".git"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("claudine-index"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_dirty_tree_is_recorded_and_nothing_of_the_users_moves() {
    let Some(fx) = Fx::root() else { return };
    let repo = fx.repo("r");
    fx.write("r/.gitignore", "*.log\n");
    fx.write("r/b.txt", "bee\n");
    fx.git(&repo, &["add", ".gitignore", "b.txt"]);
    fx.git(&repo, &["commit", "-q", "-m", "two"]);
    fx.write("r/b.txt", "stashed\n");
    fx.git(&repo, &["stash", "-q"]);
    fx.write("r/a.txt", "changed\n");
    fx.write("r/b.txt", "staged\n");
    fx.git(&repo, &["add", "b.txt"]);
    fx.write("r/new.txt", "untracked\n");
    fx.write("r/debug.log", "ignored\n");
    fx.mkdir("r/sub");
    fx.write("r/sub/deep.txt", "deep\n");
    let was = before(&fx, &repo);

    let snap = snapshot(&fx.user, &repo.join("sub"), 7, 1, "checkpoint 1", T).unwrap();
    assert_eq!(before(&fx, &repo), was);
    no_temp_index_left(&repo);
    assert_eq!(snap.ref_name, "refs/claudine/7/1");
    assert_eq!(
        fx.git(&repo, &["rev-parse", "refs/claudine/7/1"]),
        snap.commit
    );
    let head = fx.git(&repo, &["rev-parse", "HEAD"]);
    assert_eq!(
        (snap.head.as_deref(), snap.branch.as_deref()),
        (Some(&head[..]), Some("main"))
    );
    assert_eq!((snap.state, snap.changed), (RepoState::Normal, 4));
    let files = tree_files(&fx, &repo, &snap.commit);
    assert_eq!(
        files,
        [".gitignore", "a.txt", "b.txt", "new.txt", "sub/deep.txt"]
    );
    let show = |spec: &str| fx.git(&repo, &["show", &format!("{}:{spec}", snap.commit)]);
    assert_eq!(
        (show("a.txt"), show("b.txt")),
        ("changed".into(), "staged".into())
    );
    assert_eq!(
        fx.git(&repo, &["rev-parse", &format!("{}^", snap.commit)]),
        head
    );
    let who = fx.git(
        &repo,
        &["log", "-1", "--format=%an <%ae>|%cn|%s", &snap.commit],
    );
    assert_eq!(
        who,
        "claudine checkpoint <root@claudine>|claudine checkpoint|checkpoint 1"
    );

    fx.write("r/new.txt", "again\n");
    let second = snapshot(&fx.user, &repo, 7, 2, "checkpoint 2", T).unwrap();
    let refs = fx.git(
        &repo,
        &["for-each-ref", "--format=%(refname)", "refs/claudine/7"],
    );
    assert_eq!(refs, "refs/claudine/7/1\nrefs/claudine/7/2");
    assert_ne!(second.commit, snap.commit);
}

#[test]
fn a_conflicted_merge_keeps_its_unmerged_index() {
    let Some(fx) = Fx::root() else { return };
    let repo = fx.repo("r");
    fx.git(&repo, &["checkout", "-q", "-b", "other"]);
    fx.write("r/a.txt", "theirs\n");
    fx.git(&repo, &["commit", "-q", "-am", "theirs"]);
    fx.git(&repo, &["checkout", "-q", "main"]);
    fx.write("r/a.txt", "ours\n");
    fx.git(&repo, &["commit", "-q", "-am", "ours"]);
    assert!(!fx.git_raw(&repo, &["merge", "-q", "other"]).success());
    fx.write("r/scratch.txt", "new\n");
    let was = before(&fx, &repo);
    assert!(!was.unmerged.is_empty());

    let snap = snapshot(&fx.user, &repo, 3, 1, "mid-merge", T).unwrap();
    assert_eq!(before(&fx, &repo), was);
    no_temp_index_left(&repo);
    assert_eq!(snap.state, RepoState::Merge);
    assert_eq!(snap.branch.as_deref(), Some("main"));
    let a = fx.git(&repo, &["show", &format!("{}:a.txt", snap.commit)]);
    assert!(a.contains("<<<<<<<") && a.contains("theirs"), "{a}");
    assert_eq!(
        tree_files(&fx, &repo, &snap.commit),
        ["a.txt", "scratch.txt"]
    );
    assert!(repo.join(".git/MERGE_HEAD").exists());
}

#[test]
fn a_rebase_in_progress_is_recorded_on_its_detached_head() {
    let Some(fx) = Fx::root() else { return };
    let repo = fx.repo("r");
    fx.git(&repo, &["checkout", "-q", "-b", "topic"]);
    fx.write("r/a.txt", "topic\n");
    fx.git(&repo, &["commit", "-q", "-am", "topic"]);
    fx.git(&repo, &["checkout", "-q", "main"]);
    fx.write("r/a.txt", "main\n");
    fx.git(&repo, &["commit", "-q", "-am", "main"]);
    fx.git(&repo, &["checkout", "-q", "topic"]);
    assert!(!fx.git_raw(&repo, &["rebase", "main"]).success());
    let was = before(&fx, &repo);

    let snap = snapshot(&fx.user, &repo, 4, 1, "mid-rebase", T).unwrap();
    assert_eq!(before(&fx, &repo), was);
    assert_eq!(
        (snap.state, snap.branch.as_deref()),
        (RepoState::Rebase, None)
    );
    let main = fx.git(&repo, &["rev-parse", "main"]);
    assert_eq!(snap.head.as_deref(), Some(&main[..]));
    assert_eq!(
        fx.git(&repo, &["rev-parse", &format!("{}^", snap.commit)]),
        main
    );
    assert!(!fx.git_raw(&repo, &["symbolic-ref", "-q", "HEAD"]).success());
}

#[test]
fn an_unborn_repository_gets_a_root_commit() {
    let Some(fx) = Fx::root() else { return };
    let dir = fx.mkdir("u");
    fx.git(&dir, &["init", "-q", "-b", "main"]);
    fx.write("u/x.txt", "x\n");
    fx.write("u/y.txt", "y\n");
    let snap = snapshot(&fx.user, &dir, 5, 1, "first", T).unwrap();
    assert_eq!((snap.head, snap.changed), (None, 2));
    let parents = fx.git(&dir, &["rev-list", "--parents", "-n", "1", &snap.commit]);
    assert_eq!(parents, snap.commit);
    assert!(!fx
        .git_raw(&dir, &["rev-parse", "-q", "--verify", "HEAD"])
        .success());
    assert!(!dir.join(".git/index").exists());
    no_temp_index_left(&dir);
}

#[test]
fn as_nobody_every_file_made_is_nobodys() {
    let Some(fx) = Fx::nobody() else { return };
    let repo = fx.repo("r");
    fx.write("r/a.txt", "changed\n");
    let snap = snapshot(&fx.user, &repo, 9, 1, "as nobody", T).unwrap();
    assert!(repo.join(".git/refs/claudine/9/1").exists());
    for p in walk(&repo) {
        let uid = fs::symlink_metadata(&p).unwrap().uid();
        assert_eq!(uid, NOBODY, "{}", p.display());
    }
    assert_eq!(snap.changed, 1);
    assert!(snapshot(&fx.user, &fx.path("nowhere"), 9, 2, "x", T).is_err());
    let plain = fx.mkdir("plain");
    let err = snapshot(&fx.user, &plain, 9, 2, "x", T).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{} is not inside a git work tree", plain.display())
    );
}

/// A file rewritten with the same size right after the index was written
/// (within one clock tick, so with the same mtime as its index entry) is
/// still seen as changed: the temporary index keeps the user's index time,
/// so git's racy-clean check compares it by content.
#[test]
fn a_same_size_rewrite_right_after_the_index_is_seen() {
    let Some(fx) = Fx::root() else { return };
    let repo = fx.repo("racy");
    for n in 1..=20u32 {
        fx.write("racy/f.txt", &format!("{n:03}a\n"));
        fx.git(&repo, &["add", "f.txt"]);
        fx.git(&repo, &["commit", "-q", "-m", "a"]);
        fx.write("racy/f.txt", &format!("{n:03}b\n"));
        let snap = snapshot(&fx.user, &repo, 9, n, "racy", T).unwrap();
        assert_eq!(
            fx.git(&repo, &["show", &format!("{}:f.txt", snap.commit)]),
            format!("{n:03}b"),
            "round {n}"
        );
        assert_eq!(snap.changed, 1, "round {n}");
    }
}
