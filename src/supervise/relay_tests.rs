//! The relay on temp files and real pipes, without the supervisor binary.

use super::*;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Files {
    _dir: tempfile::TempDir,
    paths: [PathBuf; 3],
    files: Vec<std::fs::File>,
}

impl Files {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let paths = ["out", "err", "log"].map(|n| dir.path().join(n));
        let files = paths
            .iter()
            .map(|p| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .unwrap()
            })
            .collect();
        Files {
            _dir: dir,
            paths,
            files,
        }
    }

    fn logs(&self) -> Logs {
        let fd = |i: usize| self.files[i].as_raw_fd();
        Logs::new(fd(0), fd(1), fd(2))
    }

    fn read(&self, i: usize) -> String {
        read(&self.paths[i])
    }
}

fn read(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned()
}

fn limits(max: u64, min_free: u64) -> LogLimits {
    LogLimits {
        max_bytes_per_stream: max,
        min_free_bytes: min_free,
    }
}

/// Non-blocking read end and write end of a pipe.
fn pipe() -> (OwnedFd, OwnedFd) {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
    fcntl(r.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
    (r, w)
}

#[test]
fn cap_cuts_each_stream_once_with_a_marker() {
    let files = Files::new();
    let mut logs = files.logs();
    let ((out_r, _out_w), (err_r, _err_w)) = (pipe(), pipe());
    let mut relay = Relay::new(&mut logs, limits(10, 0), out_r, err_r);
    relay.deliver(0, b"hello\nworld\n12345");
    relay.deliver(1, b"err\n");
    relay.deliver(0, b"more");
    relay.deliver(1, b"0123456");
    let [out, err] = &relay.streams;
    assert_eq!((out.total, out.kept, out.dropped), (21, 10, 11));
    assert_eq!((err.total, err.kept, err.dropped), (11, 10, 1));
    let cut =
        |s| format!("claudine: {s} cut at 10 bytes (log_max_bytes); further output is dropped\n");
    assert_eq!(files.read(0), format!("hello\nworl\n{}", cut("stdout")));
    assert_eq!(files.read(1), format!("err\n012345\n{}", cut("stderr")));
    assert_eq!(
        files.read(2),
        format!(
            "hello\nworl\n{}err\n012345\n{}",
            cut("stdout"),
            cut("stderr")
        )
    );
}

#[test]
fn below_the_reserve_everything_is_dropped_and_said_once() {
    let files = Files::new();
    let mut logs = files.logs();
    let ((out_r, _out_w), (err_r, _err_w)) = (pipe(), pipe());
    // No filesystem has this much free.
    let mut relay = Relay::new(&mut logs, limits(100, 1 << 62), out_r, err_r);
    relay.deliver(0, b"a\n");
    relay.deliver(1, b"b\n");
    relay.deliver(0, b"c");
    let [out, err] = &relay.streams;
    assert_eq!((out.total, out.kept, out.dropped), (3, 0, 3));
    assert_eq!((err.total, err.kept, err.dropped), (2, 0, 2));
    let line = "claudine: output dropped: less than 4398046511104 MiB free on the log filesystem\n";
    for i in 0..3 {
        assert_eq!(files.read(i), line, "file {i}");
    }
}

#[test]
fn relays_a_real_command_until_it_exits() {
    let files = Files::new();
    let mut logs = files.logs();
    let ((out_r, out_w), (err_r, err_w)) = (pipe(), pipe());
    let mut child = Command::new("sh")
        .args([
            "-c",
            "printf 'o1\\n'; printf 'e1\\n' >&2; head -c 200000 /dev/zero",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::from(out_w))
        .stderr(Stdio::from(err_w))
        .spawn()
        .unwrap();
    let watch = ChildWatch::new(Pid::from_raw(child.id() as i32));
    assert!(watch.pidfd.is_some(), "pidfd_open works on this kernel");
    let stats = Relay::new(&mut logs, limits(1 << 20, 0), out_r, err_r).run(&watch);
    assert!(child.wait().unwrap().success());
    assert_eq!(
        stats,
        OutputStats {
            stdout_bytes: 3 + 200_000,
            stderr_bytes: 3,
            stdout_dropped: 0,
            stderr_dropped: 0,
            stderr_last_line: Some("e1".into()),
        }
    );
    let out = std::fs::read(&files.paths[0]).unwrap();
    assert_eq!(out.len(), 200_003);
    assert!(out.starts_with(b"o1\n\0"));
    assert_eq!(files.read(1), "e1\n");
    assert_eq!(std::fs::read(&files.paths[2]).unwrap().len(), 200_006);
}

#[test]
fn the_fallback_without_pidfd_sees_the_end_too() {
    let files = Files::new();
    let mut logs = files.logs();
    let ((out_r, out_w), (err_r, err_w)) = (pipe(), pipe());
    // The grandchild keeps both pipes open for a minute.
    let mut child = Command::new("sh")
        .args(["-c", "echo hi; sleep 60 & echo $!"])
        .stdin(Stdio::null())
        .stdout(Stdio::from(out_w))
        .stderr(Stdio::from(err_w))
        .spawn()
        .unwrap();
    let watch = ChildWatch {
        pid: Pid::from_raw(child.id() as i32),
        pidfd: None,
    };
    let start = Instant::now();
    let stats = Relay::new(&mut logs, limits(1 << 20, 0), out_r, err_r).run(&watch);
    assert!(start.elapsed() < std::time::Duration::from_secs(30));
    assert!(child.wait().unwrap().success());
    let out = files.read(0);
    let grandchild: i32 = out.lines().nth(1).unwrap().parse().unwrap();
    // SAFETY: plain kill(2) of the sleep we started.
    unsafe { libc::kill(grandchild, libc::SIGKILL) };
    assert!(out.starts_with("hi\n"), "{out}");
    assert_eq!(stats.stdout_bytes, out.len() as u64);
}
