//! claudined in-process, driven through the real `claudinectl` binary.
//!
//! Everything is real except systemd, which build machines do not run: the
//! store (SQLite in a temp dir), the socket server, the `claudine-supervise`
//! binary, privilege handling and the exit records. [`FakeScopes`] stands in
//! for systemd: a "scope" is the supervisor's process tree, and stopping it
//! sends SIGTERM to the command's process group. The same paths run against
//! real systemd in the VM suite (tests/vm).
//!
//! These tests need root (the daemon refuses a state directory it does not
//! own and the supervisor drops privileges); the build machines and CI run as
//! root. Elsewhere they fail with a message saying so.

use claudine::config::Config;
use claudine::systemd::{BoxFuture, ScopeProperties, ScopeSpec, Scopes, SystemdError, UnitStatus};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Scopes as plain process trees, with a record of what was asked, and
/// knobs to make it fail the way systemd can.
struct FakeScopes {
    units: Mutex<HashMap<String, u32>>,
    calls: Mutex<Vec<String>>,
    /// While false, `start_scope` waits (a slow start job).
    open: tokio::sync::watch::Sender<bool>,
    /// Kill the supervisor while its scope is being created.
    kill_supervisor: AtomicBool,
    /// Refuse the next start with this D-Bus error name.
    refuse_next: Mutex<Option<String>>,
}

impl Default for FakeScopes {
    fn default() -> Self {
        FakeScopes {
            units: Mutex::default(),
            calls: Mutex::default(),
            open: tokio::sync::watch::channel(true).0,
            kill_supervisor: AtomicBool::new(false),
            refuse_next: Mutex::default(),
        }
    }
}

fn children(pid: u32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

impl FakeScopes {
    fn call(&self, c: String) {
        self.calls.lock().unwrap().push(c);
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
    /// SIGTERM to the command's process group (the supervisor makes the
    /// command a session leader) or, for a bare process, to it.
    fn signal_unit(&self, unit: &str) {
        if let Some(pid) = self.units.lock().unwrap().get(unit).copied() {
            let kids = children(pid);
            if kids.is_empty() {
                unsafe { libc::kill(pid as i32, libc::SIGTERM) };
            }
            for child in kids {
                unsafe { libc::kill(-child, libc::SIGTERM) };
            }
        }
    }
}

impl Scopes for FakeScopes {
    fn start_scope<'a>(
        &'a self,
        spec: &'a ScopeSpec<'a>,
    ) -> BoxFuture<'a, Result<(), SystemdError>> {
        Box::pin(async move {
            self.call(format!(
                "start {} pid {} ({}) {:?}",
                spec.unit, spec.pid, spec.description, spec.properties
            ));
            let mut open = self.open.subscribe();
            let _ = open.wait_for(|o| *o).await;
            if let Some(name) = self.refuse_next.lock().unwrap().take() {
                return Err(SystemdError::Refused {
                    step: "StartTransientUnit",
                    unit: spec.unit.into(),
                    message: name,
                });
            }
            {
                let mut units = self.units.lock().unwrap();
                if units.get(spec.unit).is_some_and(|pid| alive(*pid)) {
                    return Err(SystemdError::Refused {
                        step: "StartTransientUnit",
                        unit: spec.unit.into(),
                        message: "org.freedesktop.systemd1.UnitExists".into(),
                    });
                }
                units.insert(spec.unit.to_string(), spec.pid);
            }
            if self.kill_supervisor.swap(false, Ordering::SeqCst) {
                unsafe { libc::kill(spec.pid as i32, libc::SIGKILL) };
                wait_until_dead(spec.pid).await;
            }
            Ok(())
        })
    }
    fn stop_unit<'a>(&'a self, unit: &'a str) -> BoxFuture<'a, Result<(), SystemdError>> {
        self.call(format!("stop {unit}"));
        self.signal_unit(unit);
        Box::pin(async { Ok(()) })
    }
    fn stop_and_wait_gone<'a>(&'a self, unit: &'a str) -> BoxFuture<'a, Result<(), SystemdError>> {
        self.call(format!("stop-and-wait {unit}"));
        self.signal_unit(unit);
        Box::pin(async move {
            let pid = self.units.lock().unwrap().get(unit).copied();
            if let Some(pid) = pid {
                wait_until_dead(pid).await;
            }
            self.units.lock().unwrap().remove(unit);
            Ok(())
        })
    }
    fn set_properties<'a>(
        &'a self,
        unit: &'a str,
        props: &'a ScopeProperties,
    ) -> BoxFuture<'a, Result<(), SystemdError>> {
        self.call(format!("set {unit} {props:?}"));
        Box::pin(async { Ok(()) })
    }
    fn freeze<'a>(&'a self, unit: &'a str) -> BoxFuture<'a, Result<(), SystemdError>> {
        self.call(format!("freeze {unit}"));
        Box::pin(async { Ok(()) })
    }
    fn thaw<'a>(&'a self, unit: &'a str) -> BoxFuture<'a, Result<(), SystemdError>> {
        self.call(format!("thaw {unit}"));
        Box::pin(async { Ok(()) })
    }
    fn unit_cgroup<'a>(
        &'a self,
        unit: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, SystemdError>> {
        let known = self.units.lock().unwrap().contains_key(unit);
        Box::pin(async move { Ok(known.then(|| format!("/claudine.slice/{unit}"))) })
    }
    fn list_task_scopes(&self) -> BoxFuture<'_, Result<Vec<UnitStatus>, SystemdError>> {
        let live = self
            .units
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, pid)| alive(**pid))
            .map(|(name, _)| UnitStatus {
                name: name.clone(),
                active_state: "active".into(),
            })
            .collect();
        Box::pin(async move { Ok(live) })
    }
    fn disconnected(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::pending())
    }
    fn pid_in_unit<'a>(&'a self, pid: u32, unit: &'a str) -> BoxFuture<'a, bool> {
        let inside = self.units.lock().unwrap().get(unit) == Some(&pid);
        Box::pin(async move { inside })
    }
}

async fn wait_until_dead(pid: u32) {
    while alive(pid) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A live process, not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

struct Daemon {
    dir: PathBuf,
    scopes: Arc<FakeScopes>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    max_running: Option<usize>,
}

impl Daemon {
    fn start(dir: &Path, scopes: Arc<FakeScopes>, max_running: Option<usize>) -> Daemon {
        Daemon::start_with(dir, scopes, max_running, |_| {})
    }

    fn start_with(
        dir: &Path,
        scopes: Arc<FakeScopes>,
        max_running: Option<usize>,
        edit: impl FnOnce(&mut Config),
    ) -> Daemon {
        assert!(
            nix::unistd::geteuid().is_root(),
            "these tests run claudined in-process and need root"
        );
        let mut cfg = Config {
            cpu_max_percent: 100.0,
            min_available_memory_mb: 0,
            socket_group: "root".into(),
            socket: dir.join("claudine.sock"),
            state_dir: dir.join("state"),
            supervisor: PathBuf::from(env!("CARGO_BIN_EXE_claudine-supervise")),
            admission_settle_ms: 0,
            min_free_disk_bytes: 0,
            ..Config::default()
        };
        if let Some(n) = max_running {
            cfg.sched.hard_max = n;
            cfg.sched.soft_max = cfg.sched.soft_max.min(n);
        }
        // The build machine's own memory pressure must not hold the tests.
        cfg.sched.memory_pressure_max_percent = 100.0;
        edit(&mut cfg);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let s = scopes.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(claudine::daemon::run_with(cfg, s, async {
                let _ = rx.await;
            }))
        });
        let d = Daemon {
            dir: dir.to_path_buf(),
            scopes,
            stop: Some(tx),
            thread: Some(thread),
            max_running,
        };
        d.wait_ready();
        d
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.ctl(&["version"]).status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "claudined did not start answering"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("claudine.sock")
    }

    fn ctl(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_claudinectl"))
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .current_dir("/tmp")
            .output()
            .expect("run claudinectl")
    }

    /// `claudinectl ARGS` as uid (and gid) `uid`.
    fn ctl_as(&self, uid: u32, args: &[&str]) -> Output {
        use std::os::unix::process::CommandExt;
        Command::new(env!("CARGO_BIN_EXE_claudinectl"))
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .current_dir("/tmp")
            .uid(uid)
            .gid(uid)
            .output()
            .expect("run claudinectl")
    }

    fn submit(&self, args: &[&str]) -> String {
        let mut a = vec!["submit"];
        a.extend_from_slice(args);
        let out = self.ctl(&a);
        assert!(
            out.status.success(),
            "submit failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn json(&self, id: &str) -> serde_json::Value {
        let out = self.ctl(&["status", id, "--json"]);
        assert!(
            out.status.success(),
            "status {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn wait_state(&self, id: &str, state: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let v = self.json(id);
            if v["state"] == state {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "task {id} never reached {state}: {v}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Shut the daemon down as `systemctl stop` would; tasks keep running.
    fn stop(mut self) -> (PathBuf, Arc<FakeScopes>, Option<usize>) {
        self.shutdown();
        (self.dir.clone(), self.scopes.clone(), self.max_running)
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join()
                .expect("daemon thread")
                .expect("daemon returned an error");
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn submit_wait_logs_status_through_the_real_cli() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Arc::default(), None);
    let id = d.submit(&[
        "-e",
        "GREETING=hello",
        "--",
        "sh",
        "-c",
        "echo $GREETING; echo err >&2; exit 3",
    ]);
    let wait = d.ctl(&["wait", &id]);
    assert_eq!(wait.status.code(), Some(3), "{}", text(&wait.stderr));
    assert_eq!(text(&d.ctl(&["logs", &id]).stdout), "hello\nerr\n");
    assert_eq!(text(&d.ctl(&["logs", &id, "--tail", "1"]).stdout), "err\n");
    let v = d.json(&id);
    assert_eq!(v["state"], "failed");
    assert_eq!(v["exit_code"], 3);
    assert_eq!(v["reason"], "exited with status 3");
    assert_eq!(v["env_keys"], serde_json::json!(["GREETING"]));
    // The log is private to the task's owner; the exit record is consumed.
    let log = dir.path().join(format!("state/logs/{id}.log"));
    assert_eq!(
        std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!dir.path().join(format!("state/exit/{id}.json")).exists());
    let calls = d.scopes.calls.lock().unwrap().clone();
    // The slice got its memory budget at start, then the task its scope.
    assert!(calls[0].starts_with("set claudine.slice"), "{calls:?}");
    assert!(
        calls[1].starts_with(&format!("start claudine-task-{id}.scope pid ")),
        "{calls:?}"
    );
}

#[test]
fn priorities_order_the_queue_and_fifo_holds_within_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Arc::default(), Some(1));
    let gate = dir.path().join("gate");
    let order = dir.path().join("order");
    let blocker = d.submit(&[
        "--",
        "sh",
        "-c",
        &format!("while [ ! -e {} ]; do sleep 0.02; done", gate.display()),
    ]);
    d.wait_state(&blocker, "running");
    let mut ids = vec![];
    for (prio, name) in [("P2", "p2"), ("P1", "p1a"), ("P0", "p0"), ("P1", "p1b")] {
        let cmd = format!("echo {name} >> {}", order.display());
        ids.push(d.submit(&["--priority", prio, "--", "sh", "-c", &cmd]));
    }
    let v = d.json(&ids[0]);
    assert_eq!(v["queue_position"], 4);
    assert!(
        v["waiting_reason"]
            .as_str()
            .unwrap()
            .contains("at the hard maximum: 1 of 1 running"),
        "{v}"
    );
    std::fs::write(&gate, "").unwrap();
    for id in &ids {
        assert_eq!(d.ctl(&["wait", id]).status.code(), Some(0));
    }
    assert_eq!(
        std::fs::read_to_string(&order).unwrap(),
        "p0\np1a\np1b\np2\n"
    );
}

#[test]
fn cancel_stops_a_running_task_and_ends_a_queued_one_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Arc::default(), Some(1));
    let running = d.submit(&["--", "sleep", "1000"]);
    d.wait_state(&running, "running");
    let queued = d.submit(&["--", "true"]);
    let out = d.ctl(&["cancel", &queued, "--reason", "not needed"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v = d.json(&queued);
    assert_eq!(
        (v["state"].as_str(), v["reason"].as_str()),
        (Some("cancelled"), Some("not needed"))
    );
    assert!(d.ctl(&["cancel", &running]).status.success());
    assert_eq!(d.ctl(&["wait", &running]).status.code(), Some(143));
    let v = d.json(&running);
    assert_eq!(v["state"], "cancelled");
    assert_eq!(v["signal"], 15);
    assert!(d
        .scopes
        .calls
        .lock()
        .unwrap()
        .contains(&format!("stop claudine-task-{running}.scope")));
    // Cancelling a finished task is refused, and says why.
    let again = d.ctl(&["cancel", &running]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("already ended"),
        "{}",
        text(&again.stderr)
    );
}

#[test]
fn a_restart_adopts_running_tasks_and_records_exits_that_happened_while_down() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Arc::default(), None);
    let (gate_a, gate_b) = (dir.path().join("a"), dir.path().join("b"));
    let hold = |gate: &Path, code: u8| {
        format!(
            "echo $$ > {0}.pid; while [ ! -e {0} ]; do sleep 0.02; done; exit {code}",
            gate.display()
        )
    };
    let a = d.submit(&["--", "sh", "-c", &hold(&gate_a, 5)]);
    let b = d.submit(&["--", "sh", "-c", &hold(&gate_b, 6)]);
    d.wait_state(&a, "running");
    d.wait_state(&b, "running");
    let queued_while_down = {
        // Task b ends while the daemon is down.
        let (dir_path, scopes, max) = d.stop();
        let pid_b: u32 = std::fs::read_to_string(format!("{}.pid", gate_b.display()))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::fs::write(&gate_b, "").unwrap();
        wait_for("task b's command to end", || !alive(pid_b));
        let d = Daemon::start(&dir_path, scopes, max);
        let v = d.json(&b);
        assert_eq!(
            (v["state"].as_str(), v["exit_code"].as_i64()),
            (Some("failed"), Some(6))
        );
        assert_eq!(d.json(&a)["state"], "running");
        let q = d.submit(&["--", "true"]);
        std::fs::write(&gate_a, "").unwrap();
        assert_eq!(d.ctl(&["wait", &a]).status.code(), Some(5));
        assert_eq!(d.ctl(&["wait", &q]).status.code(), Some(0));
        assert_eq!(d.json(&a)["attempts"], 1);
        q
    };
    assert!(!queued_while_down.is_empty());
}

#[test]
fn launch_errors_become_task_failures_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Arc::default(), None);
    let id = d.submit(&["--cwd", "/nonexistent/dir", "--", "true"]);
    assert_eq!(d.ctl(&["wait", &id]).status.code(), Some(127));
    let v = d.json(&id);
    assert_eq!(v["state"], "failed");
    assert!(
        v["reason"].as_str().unwrap().contains("/nonexistent/dir"),
        "{v}"
    );
    let id = d.submit(&["--", "no-such-program-here"]);
    assert_eq!(d.ctl(&["wait", &id]).status.code(), Some(127));
    assert!(d.json(&id)["reason"]
        .as_str()
        .unwrap()
        .contains("no-such-program-here"));
    // The daemon is unaffected.
    assert!(d.ctl(&["list"]).status.success());
}

#[test]
fn bad_requests_get_clear_errors_and_do_not_disturb_others() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Arc::default(), None);
    let out = d.ctl(&["status", "999999"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("task 999999 not found"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(d.ctl(&["submit", "--"]).status.code(), Some(2));
    let out = d.ctl(&["submit", "-e", "NOTIFY_SOCKET=/x", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("reserved"),
        "{}",
        text(&out.stderr)
    );

    let raw = |request: &[u8]| -> String {
        let mut s = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request).unwrap();
        let mut answer = Vec::new();
        // The daemon closes the connection after a bad request: read to EOF.
        s.read_to_end(&mut answer).unwrap();
        text(&answer)
    };
    let bad_json = raw(b"POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n{bad");
    assert!(bad_json.starts_with("HTTP/1.1 400"), "{bad_json}");
    assert!(
        bad_json.contains("\"code\":\"malformed_request\""),
        "{bad_json}"
    );
    let unknown_field = raw(b"POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 35\r\n\r\n{\"argv\":[\"true\"],\"cwd\":\"/\",\"uid\":0}");
    assert!(
        unknown_field.contains("unknown field `uid`"),
        "{unknown_field}"
    );
    let huge = raw(b"POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n\r\n{");
    assert!(huge.starts_with("HTTP/1.1 413"), "{huge}");
    let garbage = raw(b"\x00\x01\x02 not http at all\r\n\r\n");
    assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
    let version = raw(
        b"GET /v1/version HTTP/1.1\r\nHost: x\r\nClaudine-Protocol: 9\r\nConnection: close\r\n\r\n",
    );
    assert!(version.contains("unsupported_protocol"), "{version}");
    // A truncated request from a client that went away, then a normal one.
    {
        let mut s = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
        s.write_all(b"POST /v1/tasks HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"ar")
            .unwrap();
    }
    assert!(d.ctl(&["version"]).status.success());
}

#[test]
fn claudinectl_says_when_the_daemon_is_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_claudinectl"))
        .args([
            "--socket",
            dir.path().join("nope.sock").to_str().unwrap(),
            "list",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(69));
    assert!(
        text(&out.stderr).contains("sudo systemctl start claudine"),
        "{}",
        text(&out.stderr)
    );
}

/// `GET /v1/status` over a raw connection.
fn daemon_status(d: &Daemon) -> serde_json::Value {
    let mut s = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
    s.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

/// Defect 1: a cancel while the scope is being created aborts the launch
/// before `go` — the command never runs — and the task ends cancelled, not
/// failed (a StopUnit that cancels the start job used to make it fail).
#[test]
fn cancel_during_starting_never_runs_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let (d, scopes, id, marker) = held_launch(dir.path());
    let out = d.ctl(&["cancel", &id, "--reason", "wrong branch"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // (The launch is aborted at once; the StopUnit that cleans up after it
    // can no longer turn the task into a failure.)
    scopes.open.send_replace(true);
    assert_eq!(d.ctl(&["wait", &id]).status.code(), Some(1));
    let v = d.json(&id);
    assert_eq!(
        (v["state"].as_str(), v["reason"].as_str()),
        (Some("cancelled"), Some("wrong branch")),
        "{v}"
    );
    assert!(!marker.exists(), "the command ran");
}

/// A daemon whose scope creation is held, and a task Starting in it whose
/// command would create `marker`.
fn held_launch(dir: &Path) -> (Daemon, Arc<FakeScopes>, String, PathBuf) {
    let scopes = Arc::new(FakeScopes::default());
    scopes.open.send_replace(false);
    let d = Daemon::start(dir, scopes.clone(), None);
    let marker = dir.join("ran");
    let id = d.submit(&["--", "touch", marker.to_str().unwrap()]);
    d.wait_state(&id, "starting");
    (d, scopes, id, marker)
}

/// Defect 1: a cancel committed while Starting survives a daemon restart
/// (the requeue at start-up used to forget it and run the task).
#[test]
fn a_committed_cancel_survives_a_restart_during_starting() {
    let dir = tempfile::tempdir().unwrap();
    let (d, _, id, marker) = held_launch(dir.path());
    assert!(d.ctl(&["cancel", &id]).status.success());
    let (path, scopes, max) = d.stop();
    scopes.open.send_replace(true);
    let d = Daemon::start(&path, scopes, max);
    assert_eq!(d.ctl(&["wait", &id]).status.code(), Some(1));
    assert_eq!(d.json(&id)["state"], "cancelled");
    assert!(!marker.exists(), "the command ran");
}

/// Defect 2: a unit of the task's name that still exists (a previous
/// attempt's) is not a permanent failure, and attempt n+1 starts only once
/// it is gone. The command runs exactly once.
#[test]
fn a_leftover_unit_is_drained_and_the_task_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let scopes = Arc::new(FakeScopes::default());
    let d = Daemon::start(dir.path(), scopes.clone(), None);
    // A process in a unit named like task 1's next scope.
    let mut squatter = Command::new("sleep").arg("1000").spawn().unwrap();
    scopes
        .units
        .lock()
        .unwrap()
        .insert("claudine-task-1.scope".into(), squatter.id());
    let marker = dir.path().join("runs");
    let id = d.submit(&["--", "sh", "-c", &format!("echo x >> {}", marker.display())]);
    assert_eq!(id, "1");
    assert_eq!(d.ctl(&["wait", &id]).status.code(), Some(0));
    let _ = squatter.wait();
    let v = d.json(&id);
    assert_eq!(
        (v["state"].as_str(), v["attempts"].as_u64()),
        (Some("succeeded"), Some(2))
    );
    let history = v["attempt_history"].as_array().unwrap();
    assert_eq!(history[0]["ended_by"], "requeue", "{v}");
    assert!(
        history[0]["reason"]
            .as_str()
            .unwrap()
            .contains("UnitExists"),
        "{v}"
    );
    assert_eq!(history[1]["state"], "succeeded");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "x\n");
    let calls = scopes.calls();
    let drained = calls
        .iter()
        .position(|c| c == "stop-and-wait claudine-task-1.scope");
    let second = calls
        .iter()
        .rposition(|c| c.starts_with("start claudine-task-1.scope"));
    assert!(drained.is_some() && drained < second, "{calls:?}");
}

/// Defect 2: a supervisor killed while its scope is being created never ran
/// the command; the task is queued again and runs once.
#[test]
fn a_supervisor_killed_mid_launch_is_requeued_and_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let scopes = Arc::new(FakeScopes::default());
    scopes.kill_supervisor.store(true, Ordering::SeqCst);
    let d = Daemon::start(dir.path(), scopes.clone(), None);
    let marker = dir.path().join("runs");
    let id = d.submit(&["--", "sh", "-c", &format!("echo x >> {}", marker.display())]);
    let code = d.ctl(&["wait", &id]).status.code();
    let v = d.json(&id);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["attempts"], 2, "{v}");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "x\n");
}

/// The scope's Description names the task and the attempt, never the owner
/// or the command line (every local user can read unit metadata).
#[test]
fn the_scope_description_names_only_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let scopes = Arc::new(FakeScopes::default());
    let d = Daemon::start(dir.path(), scopes.clone(), None);
    let id = d.submit(&["--", "sh", "-c", "true --secret-token=hunter2"]);
    assert_eq!(d.ctl(&["wait", &id]).status.code(), Some(0));
    let start = scopes
        .calls()
        .into_iter()
        .find(|c| c.starts_with("start "))
        .unwrap();
    assert!(
        start.contains(&format!("(claudine task {id} (attempt 1))")),
        "{start}"
    );
    assert!(
        !start.contains("hunter2") && !start.contains("root"),
        "{start}"
    );
}

/// Defect 4: `wait` replies for clients that went away are dropped.
#[test]
fn waiters_that_disconnect_are_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Arc::default(), None);
    let id = d.submit(&["--", "sleep", "1000"]);
    d.wait_state(&id, "running");
    let mut clients: Vec<_> = (0..20)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_claudinectl"))
                .arg("--socket")
                .arg(d.socket())
                .args(["wait", &id])
                .spawn()
                .unwrap()
        })
        .collect();
    wait_for("20 waiters", || daemon_status(&d)["waiters"] == 20);
    for c in &mut clients {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    wait_for("the waiters to be dropped", || {
        daemon_status(&d)["waiters"] == 0
    });
    assert!(d.ctl(&["cancel", &id]).status.success());
}

/// Defect 3: `logs --follow` of a task that ended without ever having a log
/// (cancelled while queued) ends at once.
#[test]
fn follow_of_a_task_without_a_log_ends() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Arc::default(), Some(1));
    let blocker = d.submit(&["--", "sleep", "1000"]);
    d.wait_state(&blocker, "running");
    let queued = d.submit(&["--", "true"]);
    assert!(d.ctl(&["cancel", &queued]).status.success());
    let mut follow = Command::new(env!("CARGO_BIN_EXE_claudinectl"))
        .arg("--socket")
        .arg(d.socket())
        .args(["logs", "--follow", &queued])
        .spawn()
        .unwrap();
    wait_for("logs --follow to end", || {
        follow.try_wait().unwrap().is_some()
    });
    assert!(d.ctl(&["cancel", &blocker]).status.success());
}

/// Defect 7: a user over the queue quota, or a full state filesystem, gets
/// a clear error; nothing is stored.
#[test]
fn quota_and_free_space_are_enforced_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let d = Daemon::start_with(dir.path(), Arc::default(), Some(1), |c| {
        c.socket_group = "nogroup".into();
        c.max_queued_per_user = 2;
    });
    let as_nobody = |args: &[&str]| {
        use std::os::unix::process::CommandExt;
        Command::new(env!("CARGO_BIN_EXE_claudinectl"))
            .arg("--socket")
            .arg(d.socket())
            .args(args)
            .current_dir("/tmp")
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap()
    };
    let blocker = d.submit(&["--", "sleep", "1000"]);
    d.wait_state(&blocker, "running");
    for _ in 0..2 {
        let out = as_nobody(&["submit", "--", "true"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let out = as_nobody(&["submit", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("max_queued_per_user"),
        "{}",
        text(&out.stderr)
    );
    // Root is not held by the quota.
    d.submit(&["--", "true"]);
    assert!(d.ctl(&["cancel", &blocker]).status.success());
    drop(d);

    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_with(dir.path(), Arc::default(), None, |c| {
        c.min_free_disk_bytes = u64::MAX / 2;
    });
    let out = d.ctl(&["submit", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("min_free_disk_mb") && err.contains("refused"),
        "{err}"
    );
    let list: serde_json::Value =
        serde_json::from_slice(&d.ctl(&["list", "--all", "--json"]).stdout).unwrap();
    assert_eq!(list["tasks"], serde_json::json!([]));
}

/// The submitter's umask applies to what the task creates.
#[test]
fn the_task_gets_the_submitters_umask() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Arc::default(), None);
    let f = dir.path().join("f");
    let id = d.submit(&["--umask", "027", "--", "touch", f.to_str().unwrap()]);
    assert_eq!(d.ctl(&["wait", &id]).status.code(), Some(0));
    assert_eq!(
        std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert_eq!(d.json(&id)["umask"], 0o027);
}

/// Hard limits become the scope's properties; soft above hard is refused.
#[test]
fn limits_become_scope_properties() {
    let dir = tempfile::tempdir().unwrap();
    let scopes = Arc::new(FakeScopes::default());
    let d = Daemon::start(dir.path(), scopes.clone(), None);
    let id = d.submit(&[
        "--memory-max",
        "64M",
        "--max-pids",
        "8",
        "--cpu-weight",
        "50",
        "--cpu-quota",
        "150%",
        "--memory-warn",
        "32M",
        "--",
        "true",
    ]);
    assert_eq!(d.ctl(&["wait", &id]).status.code(), Some(0));
    let start = scopes
        .calls()
        .into_iter()
        .find(|c| c.starts_with("start "))
        .unwrap();
    assert!(
        start.contains("memory_max: Some(67108864), tasks_max: Some(8), cpu_weight: Some(50), cpu_quota_per_sec_usec: Some(1500000)"),
        "{start}"
    );
    let v = d.json(&id);
    assert_eq!(v["limits"]["memory_warn"], 32 << 20, "{v}");
    let out = d.ctl(&[
        "submit",
        "--memory-warn",
        "2G",
        "--memory-max",
        "1G",
        "--",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("above the memory limit"),
        "{}",
        text(&out.stderr)
    );
}

/// Lifecycle events are stored with their transitions and streamed:
/// `events --task` gives the history, `events --follow` new ones.
#[test]
fn events_history_and_follow() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Arc::default(), None);
    let id = d.submit(&["--", "sh", "-c", "exit 4"]);
    assert_eq!(d.ctl(&["wait", &id]).status.code(), Some(4));
    let out = d.ctl(&["--json", "events", "--task", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types: Vec<&str> = lines.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["task:queued", "task:started", "task:finished"],
        "{lines:?}"
    );
    assert_eq!(
        (lines[2]["state"].as_str(), lines[2]["exit_code"].as_i64()),
        (Some("failed"), Some(4))
    );
    assert!(lines[1]["at"].as_str().unwrap().ends_with('Z'));
    let human = text(&d.ctl(&["events", "--task", &id]).stdout);
    assert!(human.contains(&format!("task {id} started")), "{human}");
    // An unknown task is "not found", as everywhere.
    let out = d.ctl(&["events", "--task", "99999"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not found"));
    // --follow: the events of a task submitted afterwards arrive.
    let mut follow = Command::new(env!("CARGO_BIN_EXE_claudinectl"))
        .arg("--socket")
        .arg(d.socket())
        .args(["--json", "events", "--follow"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(follow.stdout.take().unwrap());
    let mut seen = Vec::new();
    let mut read_line = || {
        let mut l = String::new();
        std::io::BufRead::read_line(&mut reader, &mut l).unwrap();
        l
    };
    for _ in 0..3 {
        seen.push(read_line()); // the history of the first task
    }
    let next = d.submit(&["--", "true"]);
    for _ in 0..3 {
        seen.push(read_line());
    }
    follow.kill().unwrap();
    follow.wait().unwrap();
    let last: serde_json::Value = serde_json::from_str(&seen[5]).unwrap();
    assert_eq!(
        (last["type"].as_str(), last["task"].to_string()),
        (Some("task:finished"), next)
    );
}

/// Configured hooks receive each committed event as a JSON line on stdin;
/// the metrics endpoint serves counts and the events seen.
#[test]
fn hooks_fire_and_metrics_are_served() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sink = dir.path().join("hook.out");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hook: claudine::daemon::hooks::HookConfig = toml::from_str(&format!(
        "events = [\"task:*\"]\ncommand = [\"/bin/sh\", \"-c\", \"cat >> {}\"]\nuser = \"root\"\n",
        sink.display()
    ))
    .unwrap();
    let d = Daemon::start_with(dir.path(), Arc::default(), None, |c| {
        c.hooks = vec![hook];
        c.metrics_listen = Some(format!("127.0.0.1:{port}").parse().unwrap());
    });
    let id = d.submit(&["--", "true"]);
    assert_eq!(d.ctl(&["wait", &id]).status.code(), Some(0));
    wait_for("the hook saw 3 events", || {
        std::fs::read_to_string(&sink).is_ok_and(|s| s.lines().count() >= 3)
    });
    let seen = std::fs::read_to_string(&sink).unwrap();
    let types: Vec<String> = seen
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["type"].to_string())
        .collect();
    assert_eq!(
        types,
        ["\"task:queued\"", "\"task:started\"", "\"task:finished\""],
        "{seen}"
    );
    let metrics = || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    };
    wait_for("the metrics count the finished task", || {
        metrics().contains("claudine_events_total{event=\"task:finished\"} 1")
    });
    let m = metrics();
    assert!(m.starts_with("HTTP/1.1 200"), "{m}");
    assert!(m.contains("claudine_tasks_running 0"), "{m}");
}

/// `metrics` reads the stored history: empty before any sample, the points
/// with their rates once there are some (they survive a restart), and
/// another user's task is not found.
#[test]
fn metrics_are_read_from_the_store_and_private() {
    use claudine::core::Sample;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let edit = |c: &mut Config| c.socket_group = "nogroup".into();
    let d = Daemon::start_with(dir.path(), Arc::default(), None, edit);
    let id = d.submit(&["--", "true"]);
    assert_eq!(d.ctl(&["wait", &id]).status.code(), Some(0));
    let out = d.ctl(&["metrics", &id, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"], "succeeded");
    assert_eq!(v["points"], serde_json::json!([]));
    assert!(text(&d.ctl(&["metrics", &id]).stdout).contains("no samples yet"));

    // What the monitor would have stored, written while the daemon is down.
    let (path, scopes, max_running) = d.stop();
    {
        let mut store = claudine::store::Store::open(&path.join("state/claudine.db")).unwrap();
        let n: i64 = id.parse().unwrap();
        let rows: Vec<_> = (0..3u64)
            .map(|i| {
                let s = Sample {
                    at_ms: 1_700_000_000_000 + i as i64 * 1000,
                    memory_bytes: (i + 1) << 20,
                    cpu_usage_usec: i * 500_000,
                    pids: 1,
                    output_bytes: i * 10,
                };
                (n, s)
            })
            .collect();
        store.append_samples(&rows).unwrap();
    }
    let d = Daemon::start_with(&path, scopes, max_running, edit);
    let out = d.ctl(&["metrics", &id, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), 3, "{v}");
    assert_eq!(points[0]["at"], "2023-11-14T22:13:20.000Z");
    assert_eq!(points[0]["cpu_percent"], serde_json::Value::Null);
    assert_eq!(points[2]["cpu_percent"], 50.0);
    let human = text(&d.ctl(&["metrics", &id]).stdout);
    assert!(human.contains("3 points over 2 s"), "{human}");

    let out = {
        use std::os::unix::process::CommandExt;
        Command::new(env!("CARGO_BIN_EXE_claudinectl"))
            .arg("--socket")
            .arg(d.socket())
            .args(["metrics", &id])
            .current_dir("/tmp")
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap()
    };
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not found"),
        "{}",
        text(&out.stderr)
    );
    let out = d.ctl(&["metrics", "99999"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not found"));
}

#[path = "daemon/claude.rs"]
mod claude;
#[path = "daemon/deps.rs"]
mod deps;
#[path = "daemon/list.rs"]
mod list;

#[test]
fn memory_requests_the_host_can_never_meet_are_refused_at_submit() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Arc::default(), None);
    for flag in ["--min-memory", "--memory"] {
        let out = d.ctl(&["submit", flag, "100000G", "--", "true"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flag}: {err}");
        assert!(
            err.contains(&format!(
                "{flag} 97.7 TiB can never be met here: tasks may use at most"
            )),
            "{err}"
        );
    }
    let out = d.ctl(&["submit", "--memory", "0", "--", "true"]);
    assert_eq!(out.status.code(), Some(2), "--memory 0 is a usage error");
    let out = d.ctl(&[
        "submit",
        "--memory",
        "2G",
        "--memory-max",
        "1G",
        "--",
        "true",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--memory 2 GiB is more than --memory-max 1 GiB"),
        "{err}"
    );
    // A request the host can meet queues and runs.
    let id = d.submit(&["--memory", "64M", "--min-memory", "64M", "--", "true"]);
    d.wait_state(&id, "succeeded");
}

#[path = "daemon/top.rs"]
mod top;

#[path = "daemon/mcp.rs"]
mod mcp;
#[path = "daemon/suspend.rs"]
mod suspend;
#[path = "daemon/usage.rs"]
mod usage;
#[path = "daemon/worktree.rs"]
mod worktree;
