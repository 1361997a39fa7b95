//! Parsing and validation of the supervisor's input.

use super::super::spec::LogLimits;
use super::*;

fn spec() -> LaunchSpec {
    LaunchSpec {
        task_id: 4,
        uid: 1000,
        gid: 1000,
        groups: vec![1000],
        user: "a".into(),
        argv: vec!["sh".into(), "-c".into(), "true".into()],
        cwd: "/home/a".into(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        exit_path: "/var/lib/claudine/exit/4.json".into(),
        attempt: 1,
        umask: 0o022,
        rlimits: vec![RlimitSpec {
            resource: "nofile".into(),
            soft: Some(1024),
            hard: Some(4096),
        }],
        log_limits: LogLimits {
            max_bytes_per_stream: 1 << 26,
            min_free_bytes: 1 << 30,
        },
        claude: None,
        worktree: None,
    }
}

fn rlimit(resource: &str, soft: Option<u64>, hard: Option<u64>) -> RlimitSpec {
    RlimitSpec {
        resource: resource.into(),
        soft,
        hard,
    }
}

#[test]
fn validation_of_attempt_umask_limits() {
    let err = |edit: fn(&mut LaunchSpec)| check(edit).unwrap_err().to_string();
    assert_eq!(
        err(|s| s.attempt = 0),
        "launch spec attempt must be at least 1"
    );
    assert!(check(|s| s.umask = 0o777).is_ok());
    assert_eq!(
        err(|s| s.umask = 0o1022),
        "launch spec umask 0o1022 has bits above 0o777"
    );
    assert!(check(|s| s.rlimits.push(rlimit("core", None, None))).is_ok());
    assert!(check(|s| s.rlimits.push(rlimit("core", Some(0), None))).is_ok());
    assert!(check(|s| s.rlimits.push(rlimit("core", Some(5), Some(5)))).is_ok());
    assert_eq!(
        err(|s| s.rlimits.push(rlimit("maxlogins", Some(1), Some(1)))),
        "launch spec rlimit \"maxlogins\" is not a known resource"
    );
    assert_eq!(
        err(|s| s.rlimits.push(rlimit("nofile", None, None))),
        "launch spec rlimit \"nofile\" is given twice"
    );
    assert_eq!(
        err(|s| s.rlimits.push(rlimit("stack", Some(9), Some(8)))),
        "launch spec rlimit \"stack\" has a soft limit above its hard limit"
    );
    assert!(matches!(
        check(|s| s.rlimits.push(rlimit("stack", None, Some(8)))),
        Err(InputError::RlimitOrder(_))
    ));
    assert_eq!(
        err(|s| s.log_limits.max_bytes_per_stream = 0),
        format!(
            "launch spec log_limits.max_bytes_per_stream must be between 1 and {}",
            i64::MAX
        )
    );
    assert!(matches!(
        check(|s| s.log_limits.min_free_bytes = u64::MAX),
        Err(InputError::LogLimit("min_free_bytes", 0))
    ));
    assert!(check(|s| s.log_limits.min_free_bytes = 0).is_ok());
}

fn check(edit: impl FnOnce(&mut LaunchSpec)) -> Result<(), InputError> {
    let mut s = spec();
    edit(&mut s);
    validate(&s, 4)
}

#[test]
fn validation() {
    assert!(check(|_| {}).is_ok());
    assert!(matches!(
        check(|s| s.task_id = 5),
        Err(InputError::TaskMismatch { .. })
    ));
    assert!(matches!(
        check(|s| s.argv.clear()),
        Err(InputError::EmptyArgv)
    ));
    assert!(matches!(
        check(|s| s.argv[0].clear()),
        Err(InputError::EmptyProgram)
    ));
    assert!(matches!(
        check(|s| s.cwd = "x".into()),
        Err(InputError::RelativeCwd(_))
    ));
    assert!(matches!(
        check(|s| s.cwd = "/a\0b".into()),
        Err(InputError::Nul(_))
    ));
    assert!(matches!(
        check(|s| s.argv[2] = "\0".into()),
        Err(InputError::Nul(_))
    ));
    assert!(matches!(
        check(|s| s.exit_path = "e.json".into()),
        Err(InputError::RelativeExitPath(_))
    ));
    assert!(matches!(
        check(|s| s.env.push(("A=B".into(), "c".into()))),
        Err(InputError::EnvKey(_))
    ));
    assert!(matches!(
        check(|s| s.env.push((String::new(), "c".into()))),
        Err(InputError::EnvKey(_))
    ));
    assert!(matches!(
        check(|s| s.env.push(("A".into(), "\0".into()))),
        Err(InputError::Nul(_))
    ));
}

#[test]
fn lines() {
    let line = serde_json::to_string(&spec()).unwrap();
    let mut input = io::Cursor::new(format!("{line}\ngo\n"));
    assert_eq!(read_spec(&mut input, 4).unwrap(), spec());
    assert!(wait_for_go(&mut input));
    assert!(wait_for_go(&mut io::Cursor::new("go")));
    assert!(!wait_for_go(&mut io::Cursor::new("g")));
    assert!(!wait_for_go(&mut io::Cursor::new("gone\n")));
    assert!(!wait_for_go(&mut io::Cursor::new("")));
    assert!(matches!(
        read_spec(&mut io::Cursor::new(""), 4),
        Err(InputError::Missing)
    ));
    assert!(matches!(
        read_spec(&mut io::Cursor::new("{}\n"), 4),
        Err(InputError::Parse(_))
    ));
}

#[test]
fn args() {
    let a = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
    assert_eq!(parse_args(&a(&["s", "12"])).unwrap(), 12);
    assert!(matches!(parse_args(&a(&["s"])), Err(InputError::Usage)));
    assert!(matches!(
        parse_args(&a(&["s", "x"])),
        Err(InputError::TaskArg(_))
    ));
}
