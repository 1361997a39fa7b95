//! What the child sets up between fork and exec: umask, resource limits,
//! oom_score_adj, session keyring.

use super::*;

#[test]
fn umask_is_applied() {
    let mut run = Run::new(&["sh", "-c", "umask; touch file; mkdir dir"]);
    as_nobody(&mut run);
    let work = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(work.path(), Some(65534), Some(65534)).unwrap();
    run.spec.cwd = work.path().to_str().unwrap().into();
    run.spec.umask = 0o027;
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    assert_eq!(run.out(), "0027\n");
    let mode = |name| {
        std::fs::metadata(work.path().join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("file"), 0o640);
    assert_eq!(mode("dir"), 0o750);
}

#[test]
fn rlimits_are_applied() {
    let mut run = Run::new(&[
        "grep",
        "-E",
        "^Max (open files|core file size)",
        "/proc/self/limits",
    ]);
    as_nobody(&mut run);
    run.spec.rlimits = vec![
        RlimitSpec {
            resource: "nofile".into(),
            soft: Some(123),
            hard: Some(456),
        },
        RlimitSpec {
            resource: "core".into(),
            soft: Some(0),
            hard: None,
        },
    ];
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    // The last three fields: soft, hard, units.
    let last3 = |line: &str| {
        let fields: Vec<_> = line.split_whitespace().map(str::to_owned).collect();
        fields[fields.len() - 3..].to_vec()
    };
    let out = run.out();
    let lines: Vec<_> = out.lines().map(last3).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], ["0", "unlimited", "bytes"], "{out}");
    assert_eq!(lines[1], ["123", "456", "files"], "{out}");

    // A limit the kernel refuses (above fs.nr_open) stops the launch, named.
    let mut run = Run::new(&["true"]);
    run.spec.rlimits = vec![RlimitSpec {
        resource: "nofile".into(),
        soft: Some(10),
        hard: Some(1 << 40),
    }];
    assert_eq!(run.run().code(), Some(0));
    let record = run.record().unwrap();
    assert_eq!(record.exit_code, Some(127));
    assert_eq!(
        record.error.as_deref(),
        Some(
            "cannot set resource limit nofile (soft 10, hard 1099511627776): \
             Operation not permitted (os error 1)"
        )
    );
}

/// Whether this process has CAP_SYS_RESOURCE (needed to lower
/// oom_score_adj below its floor).
fn has_cap_sys_resource() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("CapEff:")).unwrap();
    let caps = u64::from_str_radix(line["CapEff:".len()..].trim(), 16).unwrap();
    const CAP_SYS_RESOURCE: u32 = 24;
    caps & (1 << CAP_SYS_RESOURCE) != 0
}

#[test]
fn oom_score_adj_is_reset_for_the_command_only() {
    // The supervisor starts at 500; it asks for -1000 for itself and the
    // command gets 0.
    let mut run = Run::new(&[
        "sh",
        "-c",
        "cat /proc/self/oom_score_adj; cat /proc/$PPID/oom_score_adj",
    ]);
    as_nobody(&mut run);
    run.oom_score_adj = Some(500);
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    if has_cap_sys_resource() {
        assert_eq!(run.out(), "0\n-1000\n", "{}", run.logs());
        assert!(!run.read("err").contains(OOM_WARNING));
    } else {
        // A sandbox without CAP_SYS_RESOURCE even for root: the supervisor
        // cannot go below 0, says so, and carries on.
        eprintln!(
            "NOTE: no CAP_SYS_RESOURCE here: checking the supervisor's warning \
             instead of its -1000"
        );
        assert_eq!(run.out(), "0\n500\n", "{}", run.logs());
        assert!(run.read("err").starts_with(OOM_WARNING), "{}", run.logs());
    }
    assert_eq!(run.record().unwrap().exit_code, Some(0));
}

#[test]
fn the_command_gets_a_fresh_session_keyring_linked_to_the_users() {
    // keyctl(2) through ctypes: the session keyring's id, the user
    // keyring's id, and whether the session keyring holds the user keyring.
    let script = format!(
        "import ctypes, struct\n\
         l = ctypes.CDLL(None, use_errno=True)\n\
         l.syscall.restype = ctypes.c_long\n\
         ses = l.syscall({nr}, 0, -3, 0)\n\
         usr = l.syscall({nr}, 0, -4, 0)\n\
         buf = ctypes.create_string_buffer(4096)\n\
         n = l.syscall({nr}, 11, ses, buf, 4096)\n\
         ids = struct.unpack('%di' % (n // 4), buf.raw[:n])\n\
         print(ses, usr, usr in ids)\n",
        nr = libc::SYS_keyctl
    );
    let mut run = Run::new(&["python3", "-c", &script]);
    as_nobody(&mut run);
    run.spec.cwd = "/tmp".into();
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    // SAFETY: KEYCTL_GET_KEYRING_ID of our own session keyring, no create.
    let ours = unsafe { libc::syscall(libc::SYS_keyctl, 0, -3, 0) };
    assert!(ours > 0, "this kernel has keyrings (keyctl: {ours})");
    let out = run.out();
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fields.len(), 3, "{}", run.logs());
    let session: i64 = fields[0].parse().unwrap();
    let user: i64 = fields[1].parse().unwrap();
    assert!(session > 0 && user > 0, "{out}");
    assert_ne!(session, ours, "the command kept the supervisor's keyring");
    assert_eq!(fields[2], "True", "user keyring not linked: {out}");
    assert_eq!(run.record().unwrap().exit_code, Some(0));
}
