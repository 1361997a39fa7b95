//! Hooks with real processes: what a hook receives, as whom it runs, the
//! timeout and the process-group kill, independence of hooks, counters and
//! logs, and the checks at start.

use super::*;
use nix::unistd::User;
use serde::Deserialize;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

const PATIENCE: Duration = Duration::from_secs(10);

fn sh(script: &str) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), script.into()]
}

fn hook(events: &[&str], command: Vec<String>, timeout_ms: u64, user: Option<&str>) -> HookConfig {
    HookConfig {
        events: events.iter().map(|e| e.to_string()).collect(),
        command,
        timeout_ms,
        user: user.map(str::to_string),
    }
}

/// Waits, at most [`PATIENCE`], until `ok()`; fails the test naming `what`.
async fn until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !ok() {
        assert!(Instant::now() < deadline, "not within {PATIENCE:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The file a hook writes (to a temporary name, then renamed into place).
async fn file(path: &Path) -> String {
    until(&format!("{} written", path.display()), || path.exists()).await;
    std::fs::read_to_string(path).unwrap()
}

fn stats(hooks: &Hooks, i: usize) -> HookStats {
    hooks.stats().remove(i)
}

/// Log lines written while the returned guard lives (this thread only: the
/// tests run on a current-thread runtime, runners included).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        let sub = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || logs.clone())
            .finish();
        tracing::subscriber::set_default(sub)
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn process_gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
        Err(_) => true,
        // A zombie is dead; its reaper may just not have come by yet.
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .unwrap()
            .trim_start()
            .starts_with('Z'),
    }
}

#[test]
fn patterns() {
    assert!(matches("*", "task:stalled"));
    assert!(matches("task:*", "task:stalled"));
    assert!(!matches("task:*", "host:low-memory"));
    assert!(matches("task:stalled", "task:stalled"));
    assert!(!matches("task:stalled", "task:stalled-again"));
}

#[tokio::test]
async fn the_hook_gets_exactly_the_event_line_on_stdin_and_a_clean_environment() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let script = format!(
        "cat > {d}/in.tmp; printf %s \"$CLAUDINE_EVENT\" > {d}/event; env > {d}/env; mv {d}/in.tmp {d}/in"
    );
    let hooks = Hooks::start(&[hook(&["task:finished"], sh(&script), 5000, Some("root"))]).unwrap();
    let json = r#"{"type":"task:finished","task":42,"note":"a \"quote\", a \\ and ünïcödé"}"#;
    hooks.fire("task:started", "{\"not\":\"this one\"}".into());
    hooks.fire("task:finished", json.to_string());
    assert_eq!(file(&dir.path().join("in")).await, format!("{json}\n"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("event")).unwrap(),
        "task:finished"
    );
    let env = std::fs::read_to_string(dir.path().join("env")).unwrap();
    assert!(
        env.lines().any(|l| l == format!("PATH={HOOK_PATH}")),
        "{env}"
    );
    assert!(env.lines().any(|l| l == "USER=root"), "{env}");
    assert!(env.lines().any(|l| l == "CLAUDINE_HOOK=0"), "{env}");
    assert!(
        !env.contains("CARGO"),
        "the daemon's environment leaked: {env}"
    );
    until("counted", || stats(&hooks, 0).fired == 1).await;
    assert_eq!(stats(&hooks, 0).failed, 0);
}

#[tokio::test]
async fn a_hook_runs_as_nobody_unless_root_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let d = dir.path().display();
    let ids = |name: &str| {
        format!("id -u > {d}/{name}.tmp; id -G >> {d}/{name}.tmp; mv {d}/{name}.tmp {d}/{name}")
    };
    let hooks = Hooks::start(&[
        hook(&["*"], sh(&ids("default")), 5000, None),
        hook(&["*"], sh(&ids("root")), 5000, Some("root")),
    ])
    .unwrap();
    hooks.fire("task:queued", "{}".into());
    let nobody = User::from_name("nobody").unwrap().unwrap();
    let (uid, gid) = (nobody.uid.as_raw(), nobody.gid.as_raw());
    assert_eq!(
        file(&dir.path().join("default")).await,
        format!("{uid}\n{gid}\n")
    );
    assert!(file(&dir.path().join("root")).await.starts_with("0\n"));
}

#[tokio::test]
async fn a_hanging_hook_is_killed_with_its_group_at_the_timeout_and_the_next_event_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let script = format!(
        "read -r line; case \"$line\" in *hang*) sleep 1000 & echo $! > {d}/sleeper; wait;; \
         *) echo \"$line\" > {d}/ok.tmp; mv {d}/ok.tmp {d}/ok;; esac"
    );
    let logs = Logs::default();
    let _guard = logs.capture();
    let hooks = Hooks::start(&[hook(&["*"], sh(&script), 500, Some("root"))]).unwrap();
    let t0 = Instant::now();
    hooks.fire("task:stalled", r#"{"hang":true}"#.into());
    hooks.fire("task:active", r#"{"ok":true}"#.into());
    assert_eq!(file(&dir.path().join("ok")).await, "{\"ok\":true}\n");
    assert!(
        t0.elapsed() >= Duration::from_millis(500),
        "the first run was not held until its timeout"
    );
    let s = stats(&hooks, 0);
    assert_eq!((s.fired, s.timed_out, s.failed), (2, 1, 0), "{s:?}");
    let sleeper = std::fs::read_to_string(dir.path().join("sleeper")).unwrap();
    until("the hook's background sleep killed with its group", || {
        process_gone(&sleeper)
    })
    .await;
    assert!(
        logs.text()
            .contains("did not finish task:stalled within 500 ms"),
        "{}",
        logs.text()
    );
}

/// Hook 0 hangs (with a long timeout); hook 1's run of the same event must
/// not wait for it. Dropping the runtime (claudined shutting down) kills the
/// hanging hook's process group.
#[test]
fn a_hanging_hook_does_not_delay_another_and_dies_with_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let hanging = rt.block_on(async {
        let hooks = Hooks::start(&[
            hook(
                &["*"],
                sh(&format!("echo $$ > {d}/hanging; exec sleep 1000")),
                60_000,
                Some("root"),
            ),
            hook(
                &["*"],
                sh(&format!("cat > {d}/b.tmp; mv {d}/b.tmp {d}/b")),
                60_000,
                Some("root"),
            ),
        ])
        .unwrap();
        let t0 = Instant::now();
        hooks.fire("task:stalled", "{\"task\":1}".into());
        assert_eq!(file(&dir.path().join("b")).await, "{\"task\":1}\n");
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "took {:?}",
            t0.elapsed()
        );
        let hanging = file(&dir.path().join("hanging")).await;
        let s = stats(&hooks, 0);
        assert_eq!(
            (s.fired, s.timed_out),
            (1, 0),
            "hook 0 is still running: {s:?}"
        );
        assert!(!process_gone(&hanging));
        hanging
    });
    drop(rt);
    // SIGKILL was sent on drop; the kernel ends the process just after.
    let deadline = Instant::now() + PATIENCE;
    while !process_gone(&hanging) {
        assert!(
            Instant::now() < deadline,
            "the hanging hook outlived the runtime"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test]
async fn a_failing_hook_is_counted_and_logged_with_its_output() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let hooks = Hooks::start(&[hook(
        &["*"],
        sh("echo oops >&2; exit 3"),
        5000,
        Some("root"),
    )])
    .unwrap();
    hooks.fire("task:finished", "{}".into());
    until("the failure counted", || stats(&hooks, 0).failed == 1).await;
    let text = logs.text();
    assert!(
        text.contains("hooks[0] (/bin/sh) failed for task:finished"),
        "{text}"
    );
    assert!(
        text.contains("exit status 3") && text.contains("stderr: \"oops\""),
        "{text}"
    );
    assert_eq!(stats(&hooks, 0).timed_out, 0);
}

#[tokio::test]
async fn a_full_queue_drops_events_for_that_hook_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let logs = Logs::default();
    let _guard = logs.capture();
    let hooks = Hooks::start(&[
        hook(&["task:*"], sh("exec sleep 1000"), 60_000, Some("root")),
        hook(
            &["task:finished"],
            sh(&format!("cat > {d}/b.tmp; mv {d}/b.tmp {d}/b")),
            5000,
            Some("root"),
        ),
    ])
    .unwrap();
    hooks.fire("task:progress", "{}".into());
    until("hook 0 busy", || stats(&hooks, 0).fired == 1).await;
    // Nothing runs between these calls (one thread): the queue fills exactly.
    for _ in 0..QUEUE_CAPACITY + 10 {
        hooks.fire("task:progress", "{}".into());
    }
    hooks.fire("task:finished", "{\"last\":true}".into());
    assert_eq!(file(&dir.path().join("b")).await, "{\"last\":true}\n");
    let (a, b) = (stats(&hooks, 0), stats(&hooks, 1));
    assert_eq!((a.fired, a.dropped), (1, 11), "{a:?}");
    assert_eq!((b.fired, b.dropped, b.failed), (1, 0, 0), "{b:?}");
    let text = logs.text();
    assert_eq!(
        text.matches("dropping its events").count(),
        1,
        "one line per burst: {text}"
    );
}

#[test]
fn bad_hooks_are_refused_at_start_with_their_index_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    let root_only = dir.path().join("root-only");
    std::fs::write(&root_only, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&root_only, std::fs::Permissions::from_mode(0o700)).unwrap();
    let p = |path: &Path| vec![path.display().to_string()];
    let ok = hook(&["*"], sh("true"), 1000, None);
    let cases: Vec<(HookConfig, String)> = vec![
        (
            hook(&["*"], vec![], 1000, None),
            "hooks[1]: command is empty".into(),
        ),
        (
            hook(&["*"], vec!["/nonexistent/hook".into()], 1000, None),
            "hooks[1]: program /nonexistent/hook: No such file or directory".into(),
        ),
        (
            hook(&["*"], vec!["claudine-no-such-hook".into()], 1000, None),
            "hooks[1]: program \"claudine-no-such-hook\" not found on /usr/local/sbin:".into(),
        ),
        (
            hook(&["*"], vec!["./hook.sh".into()], 1000, None),
            "hooks[1]: program \"./hook.sh\" is a relative path".into(),
        ),
        (
            hook(&["*"], p(&plain), 1000, Some("root")),
            format!(
                "hooks[1]: program {} is not executable by user root (mode 0644",
                plain.display()
            ),
        ),
        (
            hook(&["*"], p(&root_only), 1000, None),
            format!(
                "hooks[1]: program {} is not executable by user nobody (mode 0700, owner uid 0)",
                root_only.display()
            ),
        ),
        (
            hook(&["*"], p(dir.path()), 1000, Some("root")),
            "is not a regular file".into(),
        ),
        (
            hook(&["*"], sh("true"), 1000, Some("claudine-no-such-user")),
            "hooks[1]: user \"claudine-no-such-user\" does not exist".into(),
        ),
        (
            hook(&["*"], sh("true"), 0, None),
            "hooks[1]: timeout_ms must be between 1 and 600000, got 0".into(),
        ),
        (
            hook(&[], sh("true"), 1000, None),
            "hooks[1]: events is empty".into(),
        ),
        (
            hook(&["task:*ed"], sh("true"), 1000, None),
            "hooks[1]: event pattern \"task:*ed\"".into(),
        ),
        (
            hook(&["*"], vec!["/bin/echo".into(), "a\0b".into()], 1000, None),
            "hooks[1]: command contains a NUL byte".into(),
        ),
    ];
    for (bad, want) in cases {
        // Refused before anything starts: no runtime is needed to see it.
        let err = Hooks::start(&[ok.clone(), bad.clone()])
            .err()
            .unwrap_or_else(|| panic!("accepted {bad:?}"));
        assert!(
            err.to_string().contains(&want),
            "{bad:?}: got {err}, wanted {want}"
        );
    }
}

#[test]
fn the_toml_shape() {
    #[derive(Deserialize)]
    struct File {
        hooks: Vec<HookConfig>,
    }
    let f: File = toml::from_str(
        "[[hooks]]\nevents = [\"task:stalled\"]\ncommand = [\"curl\", \"-sS\"]\n\
         [[hooks]]\nevents = [\"*\"]\ncommand = [\"/bin/true\"]\ntimeout_ms = 500\nuser = \"root\"\n",
    )
    .unwrap();
    assert_eq!(f.hooks[0].timeout_ms, DEFAULT_TIMEOUT_MS);
    assert_eq!(f.hooks[0].user, None);
    assert_eq!(f.hooks[1].user.as_deref(), Some("root"));
    let err = toml::from_str::<File>("[[hooks]]\nevents = []\ncommand = []\nshell = true\n")
        .err()
        .unwrap();
    assert!(err.to_string().contains("unknown field `shell`"), "{err}");
}
