//! The output relay: streams apart and together, the size cap, the end of
//! the command (not of its pipes), the free-space reserve.

use super::*;

#[test]
fn stdout_and_stderr_land_apart_and_together() {
    let run = Run::new(&["sh", "-c", "echo out1; echo err1 >&2; echo out2"]);
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    assert_eq!(run.out(), "out1\nout2\n", "{}", run.logs());
    assert_eq!(run.err(), "err1\n", "{}", run.logs());
    let log = run.log();
    assert_eq!(log.len(), 15, "{}", run.logs());
    for line in ["out1\n", "err1\n", "out2\n"] {
        assert!(log.contains(line), "{}", run.logs());
    }
    assert!(log.find("out1").unwrap() < log.find("out2").unwrap());
    let output = run.record().unwrap().output.unwrap();
    assert_eq!((output.stdout_bytes, output.stderr_bytes), (10, 5));
}

#[test]
fn output_past_the_cap_is_dropped_without_blocking_the_command() {
    const CAP: usize = 1000;
    const WRITTEN: u64 = 5 << 20;
    let mut run = Run::new(&["sh", "-c", "head -c 5M /dev/zero; echo done >&2"]);
    run.spec.log_limits.max_bytes_per_stream = CAP as u64;
    let start = Instant::now();
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    assert!(start.elapsed() < Duration::from_secs(10));
    let marker = format!(
        "\nclaudine: stdout cut at {CAP} bytes (log_max_bytes); further output is dropped\n"
    );
    let expected_out = format!("{}{marker}", "\0".repeat(CAP));
    assert_eq!(run.out(), expected_out);
    assert_eq!(run.err(), "done\n");
    assert_eq!(run.log(), format!("{expected_out}done\n"));
    let record = run.record().unwrap();
    assert_eq!(record.exit_code, Some(0));
    assert_eq!(
        record.output,
        Some(OutputStats {
            stdout_bytes: WRITTEN,
            stderr_bytes: 5,
            stdout_dropped: WRITTEN - CAP as u64,
            stderr_dropped: 0,
            stderr_last_line: Some("done".into()),
        })
    );
}

#[test]
fn a_grandchild_holding_stdout_does_not_delay_the_record() {
    // The command leaves a background process that keeps its stdout and
    // stderr open for a minute.
    let run = Run::new(&["sh", "-c", "sleep 60 & echo $!; exit 5"]);
    let start = Instant::now();
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    let elapsed = start.elapsed();
    let grandchild: i32 = run.out().trim().parse().expect("grandchild pid");
    kill(grandchild, libc::SIGKILL);
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    let record = run.record().unwrap();
    assert_eq!(record.exit_code, Some(5));
    assert!(record.is_final());
}

#[test]
fn without_fd_3_output_still_reaches_out_and_err() {
    let mut run = Run::new(&["sh", "-c", "echo o; echo e >&2"]);
    run.combined_fd = false;
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    assert_eq!(run.out(), "o\n");
    assert_eq!(
        run.err(),
        "claudine: warning: no combined log on fd 3; output goes to .out and .err only\ne\n"
    );
    assert_eq!(run.log(), "");
}

/// A 8 MiB tmpfs, unmounted on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "mounting a tmpfs failed ({status}); this suite runs as root and needs it \
             (the reserve policy itself is unit-tested in supervise::reserve)"
        );
        Tmpfs(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

#[test]
fn output_is_dropped_below_the_free_space_reserve_and_resumes() {
    const MIB: u64 = 1 << 20;
    let fs = Tmpfs::mount();
    let ballast = fs.path().join("ballast");
    std::fs::write(&ballast, vec![1u8; 3 << 20]).unwrap();
    let control = tempfile::tempdir().unwrap();
    let stop = control.path().join("stop");
    // About 850 KB/s on stdout (twice that on disk: .out and .log) until
    // told to stop.
    let script = format!(
        "while [ ! -e {} ]; do head -c 256K /dev/zero; sleep 0.3; done; echo bye >&2",
        stop.display()
    );
    let mut run = Run::new(&["sh", "-c", &script]);
    run.log_dir = fs.path().to_owned();
    run.spec.log_limits.min_free_bytes = 4 * MIB;
    let (child, stdin) = run.start(&[&run.spec_line(), GO_LINE]);
    let dropped = "claudine: output dropped: less than 4 MiB free on the log filesystem\n";
    poll("output to be dropped", || {
        run.log().contains(dropped).then_some(())
    });
    std::fs::remove_file(&ballast).unwrap();
    poll("output to resume", || {
        run.log()
            .contains("claudine: output resumed after dropping ")
            .then_some(())
    });
    std::fs::write(&stop, "").unwrap();
    let status = wait(child);
    drop(stdin);
    assert_eq!(status.code(), Some(0), "{}", run.logs());
    let record = run.record().unwrap();
    assert_eq!(record.exit_code, Some(0));
    let output = record.output.unwrap();
    assert!(output.stdout_dropped > 0, "{output:?}");
    assert!(output.stdout_dropped < output.stdout_bytes, "{output:?}");
    // The markers are in each file, on lines of their own.
    for ext in ["out", "err", "log"] {
        let text = run.read(ext);
        assert!(
            text.contains(&format!("\n{dropped}")) || text.starts_with(dropped),
            "{ext}"
        );
        let resumed = text
            .find("claudine: output resumed after dropping ")
            .unwrap();
        assert!(
            resumed == 0 || text.as_bytes()[resumed - 1] == b'\n',
            "{ext}"
        );
    }
    // What was kept plus what was dropped is what was written.
    let kept = run.out().bytes().filter(|&b| b == 0).count() as u64;
    assert_eq!(kept + output.stdout_dropped, output.stdout_bytes);
}
