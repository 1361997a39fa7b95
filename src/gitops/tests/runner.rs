//! The runner: privileges, environment, output bound, timeouts.

use super::super::capture::collect;
use super::*;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn runs_as_the_user_from_root_with_a_clean_environment() {
    let Some(fx) = Fx::nobody() else { return };
    let t = Duration::from_secs(10);
    let id = fx.user.run("id", &[], &[], t).unwrap();
    assert_eq!(
        id.text(),
        "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)"
    );
    let pwd = fx.user.run("pwd", &[], &[], t);
    // pwd may be a shell builtin only; /proc/self/cwd says the same.
    if let Ok(pwd) = pwd {
        assert_eq!(pwd.text(), "/");
    }
    let env = fx.user.run("env", &[], &[("EXTRA", os("x"))], t).unwrap();
    let mut keys: Vec<String> = env
        .text()
        .lines()
        .map(|l| l.split('=').next().unwrap().to_string())
        .collect();
    keys.sort();
    let want = [
        "EXTRA",
        "GIT_OPTIONAL_LOCKS",
        "GIT_TERMINAL_PROMPT",
        "HOME",
        "LANG",
        "LC_ALL",
        "LOGNAME",
        "PATH",
        "USER",
    ];
    assert_eq!(keys, want);
    let umask = fx.user.run("sh", &[os("-c"), os("umask")], &[], t).unwrap();
    assert_eq!(umask.text(), "0022");
}

#[test]
fn a_hanging_command_is_killed_at_the_timeout() {
    let Some(fx) = Fx::nobody() else { return };
    let start = Instant::now();
    let err = fx
        .user
        .run("sleep", &[os("5")], &[], Duration::from_millis(200))
        .unwrap_err();
    assert!(matches!(err, GitError::Timeout { .. }), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        err.to_string(),
        "sleep 5 as nobody did not finish within 200 ms and was killed"
    );
    // A child holding the pipes dies with the group.
    let start = Instant::now();
    let script = [os("-c"), os("sleep 5 & sleep 5")];
    let err = fx
        .user
        .run("sh", &script, &[], Duration::from_millis(200))
        .unwrap_err();
    assert!(matches!(err, GitError::Timeout { .. }), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn what_a_finished_command_left_behind_is_killed() {
    let Some(fx) = Fx::root() else { return };
    let start = Instant::now();
    let script = [os("-c"), os("sleep 5 & echo done")];
    let out = fx
        .user
        .run("sh", &script, &[], Duration::from_secs(10))
        .unwrap();
    assert!(out.success());
    assert_eq!(out.text(), "done");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn output_is_bounded() {
    let Some(fx) = Fx::root() else { return };
    let args = [os("-c"), os("3000000"), os("/dev/zero")];
    let out = fx
        .user
        .run("head", &args, &[], Duration::from_secs(10))
        .unwrap();
    assert!(out.success());
    assert_eq!(out.stdout.len(), OUTPUT_MAX);
    assert!(out.truncated);
}

#[test]
fn programs_are_found_on_the_fixed_path_only() {
    let Some(fx) = Fx::root() else { return };
    let t = Duration::from_secs(1);
    let err = fx.user.run("no-such-program-x", &[], &[], t).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("no-such-program-x not found on {SEARCH_PATH}")
    );
    let err = fx.user.run("bin/true", &[], &[], t).unwrap_err();
    assert!(matches!(err, GitError::NotAbsolute { .. }), "{err}");
}

#[test]
fn without_a_pidfd_the_exit_is_seen_by_waitid() {
    let spawn = |script: &str| {
        Command::new("/bin/sh")
            .args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap()
    };
    let mut child = spawn("echo a; sleep 0.1; echo b >&2");
    let (out, err, timed_out) = collect(&mut child, None, Duration::from_secs(5));
    assert!(!timed_out);
    assert_eq!((&out.buf[..], &err.buf[..]), (&b"a\n"[..], &b"b\n"[..]));
    assert!(child.wait().unwrap().success());

    let mut child = spawn("sleep 5");
    let start = Instant::now();
    let (_, _, timed_out) = collect(&mut child, None, Duration::from_millis(100));
    assert!(timed_out);
    assert!(child.wait().is_ok());
    assert!(start.elapsed() < Duration::from_secs(2));
}
