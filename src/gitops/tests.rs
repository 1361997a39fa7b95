//! Tests against real git in temp dirs. They run as root (the build
//! machine's tests do) and use `nobody` (65534) for another user; without
//! root or git they are skipped. This file is the fixture; the tests are
//! in `tests/` (runner, repo, snapshot, worktree).

mod repo;
mod runner;
mod snapshot;
mod worktree;

use super::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub(super) const NOBODY: u32 = 65534;

/// A temp dir and a user; the user's home is `<tmp>/home`.
pub(super) struct Fx {
    _tmp: tempfile::TempDir,
    pub base: PathBuf,
    pub user: AsUser,
}

impl Fx {
    /// As root; `None` (test skipped) when not root or without git.
    pub fn root() -> Option<Fx> {
        Fx::new(0, 0, "root")
    }

    /// As nobody, in a base directory nobody owns.
    pub fn nobody() -> Option<Fx> {
        Fx::new(NOBODY, NOBODY, "nobody")
    }

    fn new(uid: u32, gid: u32, name: &str) -> Option<Fx> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0
            || run::SEARCH_PATH
                .split(':')
                .all(|d| !Path::new(d).join("git").exists())
        {
            eprintln!("skipped: needs root and git");
            return None;
        }
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().to_path_buf();
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(&base, Some(uid), Some(gid)).unwrap();
        let home = base.join("home");
        let user = AsUser {
            uid,
            gid,
            groups: vec![gid],
            name: name.into(),
            home: home.to_string_lossy().into_owned(),
        };
        let fx = Fx {
            _tmp: tmp,
            base,
            user,
        };
        fx.mkdir("home");
        Some(fx)
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.base.join(rel)
    }

    /// Creates `rel` (and parents) owned by the user.
    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.path(rel);
        fs::create_dir_all(&p).unwrap();
        std::os::unix::fs::chown(&p, Some(self.user.uid), Some(self.user.gid)).unwrap();
        p
    }

    /// Writes `rel` owned by the user.
    pub fn write(&self, rel: &str, content: &str) {
        let p = self.path(rel);
        fs::write(&p, content).unwrap();
        std::os::unix::fs::chown(&p, Some(self.user.uid), Some(self.user.gid)).unwrap();
    }

    /// git as the fixture's user, any exit status.
    pub fn git_raw(&self, dir: &Path, args: &[&str]) -> GitOutput {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(os).collect();
        let env: [(&str, &std::ffi::OsStr); 4] = [
            ("GIT_AUTHOR_NAME", os("t")),
            ("GIT_AUTHOR_EMAIL", os("t@example.org")),
            ("GIT_COMMITTER_NAME", os("t")),
            ("GIT_COMMITTER_EMAIL", os("t@example.org")),
        ];
        self.user
            .git_raw(dir, &args, &env, STEP_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// git as the fixture's user; its stdout; panics on failure.
    pub fn git(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.git_raw(dir, args);
        assert!(
            out.success(),
            "git {args:?} in {}: {}",
            dir.display(),
            out.detail()
        );
        out.text()
    }

    /// A repository at `rel` on `main` with one commit of `a.txt`.
    pub fn repo(&self, rel: &str) -> PathBuf {
        let dir = self.mkdir(rel);
        self.git(&dir, &["init", "-q", "-b", "main"]);
        self.write(&format!("{rel}/a.txt"), "one\n");
        self.git(&dir, &["add", "a.txt"]);
        self.git(&dir, &["commit", "-q", "-m", "one"]);
        dir
    }
}

/// Every file and directory under `dir`, sorted.
pub(super) fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() && !p.is_symlink() {
            all.extend(walk(&p));
        }
        all.push(p);
    }
    all.sort();
    all
}
