//! Finding the `claude` binary as the user would, and checking at submit
//! that it runs: `claude --version`, as the user, bounded in time, its
//! answer cached per user and file (device, inode, size, mtime), so each
//! installed version is run once.
//!
//! Where it is looked for, in order: `claude_path` of the configuration
//! (the administrator's choice, alone when set); the one the client found
//! on the user's own PATH; `~/.local/bin/claude` and `~/.claude/local/claude`
//! (the installer's places); the login PATH.
//!
//! The check runs off the actor (the server awaits it before handing the
//! submit over) in its own session and process group, which is killed when
//! it ends or times out, so nothing it starts stays behind.

use crate::daemon::users::Account;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

/// How long `claude --version` may take (a 380 MB binary under emulation
/// takes seconds to start).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// Checks cached at most (oldest forgotten first).
const CACHE_MAX: usize = 256;

/// A `claude` that answered `--version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binary {
    pub path: String,
    pub version: String,
}

type Key = (u32, u64, u64, u64, i64);

#[derive(Default)]
pub struct Binaries {
    cache: Mutex<Vec<(Key, Binary)>>,
}

/// The places to look for `claude`, in order.
pub fn candidates(configured: Option<&str>, hint: Option<&str>, acct: &Account) -> Vec<String> {
    if let Some(p) = configured {
        return vec![p.to_owned()];
    }
    let home = acct.home.trim_end_matches('/');
    let mut out: Vec<String> = hint
        .filter(|h| h.starts_with('/'))
        .map(str::to_owned)
        .into_iter()
        .collect();
    if home.starts_with('/') {
        out.push(format!("{home}/.local/bin/claude"));
        out.push(format!("{home}/.claude/local/claude"));
    }
    for dir in crate::daemon::users::login_path(acct.uid).split(':') {
        out.push(format!("{dir}/claude"));
    }
    out
}

impl Binaries {
    /// The first candidate that exists, checked by running it.
    pub async fn find(
        &self,
        configured: Option<&str>,
        hint: Option<&str>,
        acct: &Account,
    ) -> Result<Binary, String> {
        let list = candidates(configured, hint, acct);
        let found = list.iter().find_map(|p| {
            std::fs::metadata(p)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| (p.clone(), m))
        });
        let Some((path, meta)) = found else {
            return Err(match configured {
                Some(p) => format!("claude_path {p} (configuration) does not exist"),
                None => format!(
                    "cannot find the claude CLI: not on {}'s PATH, nor in ~/.local/bin; \
                     install it (npm install -g @anthropic-ai/claude-code) or set claude_path \
                     in /etc/claudine/claudine.toml",
                    acct.name
                ),
            });
        };
        let key = (acct.uid, meta.dev(), meta.ino(), meta.size(), meta.mtime());
        if let Some((_, b)) = self
            .cache
            .lock()
            .unwrap()
            .iter()
            .find(|(k, b)| *k == key && b.path == path)
        {
            return Ok(b.clone());
        }
        let version = probe(&path, acct).await?;
        let b = Binary { path, version };
        let mut cache = self.cache.lock().unwrap();
        if cache.len() >= CACHE_MAX {
            cache.remove(0);
        }
        cache.push((key, b.clone()));
        Ok(b)
    }
}

/// Runs `path --version` as the user; its first line of output.
async fn probe(path: &str, acct: &Account) -> Result<String, String> {
    let uid = acct.uid;
    let mut cmd = tokio::process::Command::new(path);
    cmd.arg("--version")
        .env_clear()
        .env("HOME", &acct.home)
        .env("USER", &acct.name)
        .env("PATH", crate::daemon::users::login_path(uid))
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: `become_user` makes only async-signal-safe calls (setsid,
    // setgroups, setgid, setuid), on data prepared before the fork.
    unsafe {
        cmd.as_std_mut().pre_exec(crate::gitops::become_user(
            uid,
            acct.gid,
            acct.groups.clone(),
        ));
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {path} --version as {}: {e}", acct.name))?;
    let pgid = child.id();
    let waited = tokio::time::timeout(PROBE_TIMEOUT, child.wait_with_output()).await;
    if let Some(pgid) = pgid {
        // Whatever it started goes with it.
        // SAFETY: kill takes a process group id and a signal.
        unsafe { libc::kill(-(pgid as i32), libc::SIGKILL) };
    }
    let out = match waited {
        Err(_) => {
            return Err(format!(
                "{path} --version did not answer within {} s: is it a working claude CLI?",
                PROBE_TIMEOUT.as_secs()
            ))
        }
        Ok(Err(e)) => return Err(format!("cannot run {path} --version: {e}")),
        Ok(Ok(out)) => out,
    };
    let first = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(|l| l.chars().take(120).collect::<String>())
    };
    match (out.status.success(), first(&out.stdout)) {
        (true, Some(v)) => Ok(v),
        (true, None) => Err(format!(
            "{path} --version printed nothing: is it the claude CLI?"
        )),
        (false, _) => Err(format!(
            "{path} --version failed ({}){}: is it a working claude CLI?",
            out.status,
            first(&out.stderr)
                .map(|l| format!(": {l}"))
                .unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Account {
        crate::daemon::users::test_alice()
    }

    #[test]
    fn the_configured_path_alone_else_the_users_places_first() {
        assert_eq!(
            candidates(Some("/opt/claude"), Some("/x/claude"), &alice()),
            ["/opt/claude"]
        );
        let c = candidates(None, Some("/home/alice/bin/claude"), &alice());
        assert_eq!(
            c[..3],
            [
                "/home/alice/bin/claude",
                "/home/alice/.local/bin/claude",
                "/home/alice/.claude/local/claude"
            ]
        );
        assert!(c.contains(&"/usr/bin/claude".to_string()));
        // A relative hint is ignored.
        assert_eq!(
            candidates(None, Some("claude"), &alice())[0],
            "/home/alice/.local/bin/claude"
        );
    }

    #[tokio::test]
    async fn a_working_binary_answers_and_a_broken_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let me = crate::daemon::users::account(nix::unistd::getuid().as_raw()).unwrap();
        let good = dir.path().join("claude");
        std::fs::write(&good, "#!/bin/sh\necho '2.1.330 (Claude Code)'\n").unwrap();
        let bad = dir.path().join("broken");
        std::fs::write(&bad, "#!/bin/sh\necho 'segfault' >&2; exit 3\n").unwrap();
        for f in [&good, &bad] {
            std::fs::set_permissions(f, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        let b = Binaries::default();
        let got = b
            .find(Some(good.to_str().unwrap()), None, &me)
            .await
            .unwrap();
        assert_eq!(got.version, "2.1.330 (Claude Code)");
        let e = b
            .find(Some(bad.to_str().unwrap()), None, &me)
            .await
            .unwrap_err();
        assert!(
            e.contains("--version failed") && e.contains("segfault"),
            "{e}"
        );
        let e = b
            .find(Some("/nonexistent/claude"), None, &me)
            .await
            .unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
    }
}
