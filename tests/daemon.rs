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
use claudine::systemd::{BoxFuture, ScopeSpec, Scopes, SystemdError, UnitStatus};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Scopes as plain process trees, with a record of what was asked.
#[derive(Default)]
struct FakeScopes {
    units: Mutex<HashMap<String, u32>>,
    calls: Mutex<Vec<String>>,
}

fn children(pid: u32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

impl Scopes for FakeScopes {
    fn start_scope<'a>(
        &'a self,
        spec: &'a ScopeSpec<'a>,
    ) -> BoxFuture<'a, Result<(), SystemdError>> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("start {} pid {}", spec.unit, spec.pid));
        self.units
            .lock()
            .unwrap()
            .insert(spec.unit.to_string(), spec.pid);
        Box::pin(async { Ok(()) })
    }
    fn stop_unit<'a>(&'a self, unit: &'a str) -> BoxFuture<'a, Result<(), SystemdError>> {
        self.calls.lock().unwrap().push(format!("stop {unit}"));
        if let Some(pid) = self.units.lock().unwrap().get(unit) {
            // The command is a session leader (the supervisor calls setsid),
            // so its pid is its process group.
            for child in children(*pid) {
                unsafe { libc::kill(-child, libc::SIGTERM) };
            }
        }
        Box::pin(async { Ok(()) })
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
    fn pid_in_unit(&self, pid: u32, unit: &str) -> bool {
        self.units.lock().unwrap().get(unit) == Some(&pid)
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
        assert!(
            nix::unistd::geteuid().is_root(),
            "these tests run claudined in-process and need root"
        );
        let cfg = Config {
            max_running,
            cpu_max_percent: 100.0,
            min_available_memory_mb: 0,
            socket_group: "root".into(),
            socket: dir.join("claudine.sock"),
            state_dir: dir.join("state"),
            supervisor: PathBuf::from(env!("CARGO_BIN_EXE_claudine-supervise")),
            ..Config::default()
        };
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
    assert!(
        calls[0].starts_with(&format!("start claudine-task-{id}.scope pid ")),
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
            .contains("max_running"),
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
    let huge = raw(b"POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n{");
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
