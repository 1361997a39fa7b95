//! Dependencies (`submit --after ID[,ID…]`, `--after-any`) through the real
//! CLI: a dependent waits, with its reason, until its dependencies succeed;
//! one that fails cancels it (and its own dependents) with a reason naming
//! it; `--after-any` runs anyway; bad ids are refused at submit, another
//! user's exactly like an unknown one; and the waiting survives a restart.

use super::*;

const NOBODY: u32 = 65534;

/// A command that runs until `gate` exists, then exits with `code`.
fn gated(d: &Daemon, gate: &Path, code: u8) -> String {
    let script = format!(
        "echo $$ > {0}.pid; while [ ! -e {0} ]; do sleep 0.02; done; exit {code}",
        gate.display()
    );
    d.submit(&["--", "sh", "-c", &script])
}

fn waiting(d: &Daemon, id: &str) -> String {
    let v = d.json(id);
    assert_eq!(v["state"], "queued", "{v}");
    v["waiting_reason"].as_str().unwrap_or_default().to_string()
}

/// The value of one `status` line (`key: value`).
fn status_field(d: &Daemon, id: &str, key: &str) -> String {
    let out = text(&d.ctl(&["status", id]).stdout);
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {key} in {out}"))
}

fn stderr_of(d: &Daemon, uid: u32, args: &[&str]) -> (Option<i32>, String) {
    let out = d.ctl_as(uid, args);
    (out.status.code(), text(&out.stderr))
}

#[test]
fn a_task_after_two_others_starts_only_once_both_succeeded() {
    let dir = tempfile::tempdir().unwrap();
    let claude = super::claude::fake_claude(dir.path());
    let path = claude.to_str().unwrap().to_owned();
    let d = Daemon::start_with(dir.path(), Arc::default(), None, move |c| {
        c.claude_path = Some(path);
    });
    let (gate_a, gate_b) = (dir.path().join("a"), dir.path().join("b"));
    let a = gated(&d, &gate_a, 0);
    let b = gated(&d, &gate_b, 0);
    d.wait_state(&a, "running");
    d.wait_state(&b, "running");
    // A Claude prompt and a command, both after the two.
    let after = format!("{a},{b}");
    let c = d.submit(&[
        "--after",
        &after,
        "Merge the two refactors and run the tests",
    ]);
    let marker = dir.path().join("d-ran");
    let dd = d.submit(&[
        "--after",
        &a,
        "--after",
        &b,
        "--",
        "touch",
        marker.to_str().unwrap(),
    ]);
    assert_eq!(
        waiting(&d, &c),
        format!("waiting for tasks {a} (running), {b} (running)")
    );
    let v = d.json(&c);
    assert_eq!(
        v["after"],
        serde_json::json!([a.parse::<i64>().unwrap(), b.parse::<i64>().unwrap()])
    );
    assert_eq!(v["queue_position"], serde_json::Value::Null, "{v}");
    assert_eq!(v["dependencies"][1]["state"], "running", "{v}");
    assert_eq!(
        status_field(&d, &c, "after"),
        format!("{a} (running), {b} (running)")
    );
    let list = text(&d.ctl(&["list"]).stdout);
    assert!(
        list.contains(&format!(
            "waiting: waiting for tasks {a} (running), {b} (running)"
        )),
        "{list}"
    );

    std::fs::write(&gate_a, "").unwrap();
    assert_eq!(d.ctl(&["wait", &a]).status.code(), Some(0));
    assert_eq!(waiting(&d, &c), format!("waiting for task {b} (running)"));
    assert_eq!(waiting(&d, &dd), format!("waiting for task {b} (running)"));
    assert!(!marker.exists());
    assert_eq!(
        status_field(&d, &c, "after"),
        format!("{a} (succeeded), {b} (running)")
    );

    std::fs::write(&gate_b, "").unwrap();
    assert_eq!(d.ctl(&["wait", &c]).status.code(), Some(0));
    assert_eq!(d.ctl(&["wait", &dd]).status.code(), Some(0));
    assert!(marker.exists());
    assert_eq!(d.json(&c)["state"], "succeeded");
}

#[test]
fn a_failed_dependency_cancels_its_dependents_down_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Arc::default(), None);
    let gate = dir.path().join("a");
    let a = gated(&d, &gate, 3);
    let ok = d.submit(&["--", "true"]);
    assert_eq!(d.ctl(&["wait", &ok]).status.code(), Some(0));
    let marker = dir.path().join("ran");
    let touch = ["--", "touch", marker.to_str().unwrap()];
    let after = format!("{ok},{a}");
    let c = d.submit(&[&["--after", &after][..], &touch].concat());
    let e = d.submit(&[&["--after", &c][..], &touch].concat());
    assert_eq!(waiting(&d, &e), format!("waiting for task {c} (queued)"));
    // A client waiting for the dependent hears of its end.
    let waiter = Command::new(env!("CARGO_BIN_EXE_claudinectl"))
        .arg("--socket")
        .arg(d.socket())
        .args(["wait", &e])
        .spawn()
        .unwrap();
    wait_for("the waiter", || daemon_status(&d)["waiters"] == 1);

    std::fs::write(&gate, "").unwrap();
    assert_eq!(d.ctl(&["wait", &a]).status.code(), Some(3));
    d.wait_state(&c, "cancelled");
    let v = d.json(&c);
    assert_eq!(
        v["reason"],
        format!("dependency {a} failed: exited with status 3"),
        "{v}"
    );
    let v = d.json(&e);
    assert_eq!(v["state"], "cancelled", "{v}");
    assert_eq!(
        v["reason"],
        format!("dependency {c} was cancelled: dependency {a} failed: exited with status 3")
    );
    assert_eq!(waiter.wait_with_output().unwrap().status.code(), Some(1));
    assert!(!marker.exists(), "a dependent ran");
    // The cancel is an ordinary one: stored with its event.
    let out = d.ctl(&["--json", "events", "--task", &c]);
    let last = text(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    let last: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(
        (last["type"].as_str(), last["state"].as_str()),
        (Some("task:finished"), Some("cancelled")),
        "{last}"
    );
    assert_eq!(daemon_status(&d)["queued"], 0);
}

#[test]
fn after_any_runs_whatever_the_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Arc::default(), None);
    let gate = dir.path().join("a");
    let a = gated(&d, &gate, 1);
    let b = d.submit(&["--", "sleep", "1000"]);
    d.wait_state(&b, "running");
    let after = format!("{a},{b}");
    let c = d.submit(&["--after", &after, "--after-any", "--", "true"]);
    std::fs::write(&gate, "").unwrap();
    assert_eq!(d.ctl(&["wait", &a]).status.code(), Some(1));
    assert_eq!(waiting(&d, &c), format!("waiting for task {b} (running)"));
    assert!(d.ctl(&["cancel", &b]).status.success());
    assert_eq!(d.ctl(&["wait", &c]).status.code(), Some(0));
    assert_eq!(
        status_field(&d, &c, "after"),
        format!("{a} (failed), {b} (cancelled); runs whatever their outcome")
    );
}

#[test]
fn bad_dependencies_are_refused_at_submit_naming_the_id() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let d = Daemon::start_with(dir.path(), Arc::default(), None, |c| {
        c.socket_group = "nogroup".into();
    });
    let failed = d.submit(&["--", "false"]);
    assert_eq!(d.ctl(&["wait", &failed]).status.code(), Some(1));
    let out = d.ctl_as(NOBODY, &["submit", "--", "sleep", "1000"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let theirs = text(&out.stdout).trim().to_string();
    d.wait_state(&theirs, "running");
    let next: i64 = theirs.parse::<i64>().unwrap() + 1;

    // Unknown, another user's, and the task's own id-to-be: one answer.
    let (code, unknown) = stderr_of(&d, NOBODY, &["submit", "--after", "99999", "--", "true"]);
    assert_eq!(code, Some(1));
    assert!(unknown.contains("task 99999 not found"), "{unknown}");
    let (code, foreign) = stderr_of(&d, NOBODY, &["submit", "--after", &failed, "--", "true"]);
    assert_eq!(code, Some(1));
    assert_eq!(foreign, unknown.replace("99999", &failed));
    let (code, own) = stderr_of(
        &d,
        0,
        &["submit", "--after", &next.to_string(), "--", "true"],
    );
    assert_eq!(code, Some(1));
    assert_eq!(own, unknown.replace("99999", &next.to_string()));
    // Duplicates; an already-failed dependency unless --after-any.
    let twice = format!("{theirs},{theirs}");
    let (code, err) = stderr_of(&d, NOBODY, &["submit", "--after", &twice, "--", "true"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!("task {theirs} is named twice")),
        "{err}"
    );
    let (code, err) = stderr_of(&d, 0, &["submit", "--after", &failed, "--", "true"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!(
            "task {failed} already failed: exited with status 1; use --after-any to run anyway"
        )),
        "{err}"
    );
    let (code, _) = stderr_of(&d, 0, &["submit", "--after-any", "--", "true"]);
    assert_eq!(code, Some(2), "--after-any alone is a usage error");
    // Nothing of the above was stored.
    let list: serde_json::Value =
        serde_json::from_slice(&d.ctl(&["list", "--all", "--json"]).stdout).unwrap();
    assert_eq!(list["tasks"].as_array().unwrap().len(), 2, "{list}");

    // --after-any accepts it; root may depend on anyone's task; a
    // dependency that already succeeded is met at once.
    let any = d.submit(&["--after", &failed, "--after-any", "--", "true"]);
    assert_eq!(d.ctl(&["wait", &any]).status.code(), Some(0));
    let after_theirs = d.submit(&["--after", &theirs, "--", "true"]);
    assert_eq!(
        waiting(&d, &after_theirs),
        format!("waiting for task {theirs} (running)")
    );
    let after_done = d.submit(&["--after", &any, "--", "true"]);
    assert_eq!(d.ctl(&["wait", &after_done]).status.code(), Some(0));
    assert!(d.ctl_as(NOBODY, &["cancel", &theirs]).status.success());
    d.wait_state(&after_theirs, "cancelled");
    // What root sees of the dependency.
    let v = d.json(&after_theirs);
    assert_eq!(v["dependencies"][0]["state"], "cancelled", "{v}");
}

#[test]
fn dependents_wait_across_a_restart_and_are_settled_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Arc::default(), None);
    let (gate_a, gate_b) = (dir.path().join("a"), dir.path().join("b"));
    let a = gated(&d, &gate_a, 0);
    let b = gated(&d, &gate_b, 4);
    d.wait_state(&a, "running");
    d.wait_state(&b, "running");
    let c = d.submit(&["--after", &a, "--", "true"]);
    let e = d.submit(&["--after", &c, "--", "true"]);
    let f = d.submit(&["--after", &b, "--", "true"]);
    let g = d.submit(&["--after", &b, "--after-any", "--", "true"]);

    // Task b fails while the daemon is down.
    let (path, scopes, max) = d.stop();
    let pid_b: u32 = std::fs::read_to_string(format!("{}.pid", gate_b.display()))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    std::fs::write(&gate_b, "").unwrap();
    wait_for("task b's command to end", || !alive(pid_b));
    let d = Daemon::start(&path, scopes, max);

    // Settled at start: f cancelled, g released; c and e still wait.
    let v = d.json(&f);
    assert_eq!(
        (v["state"].as_str(), v["reason"].as_str()),
        (
            Some("cancelled"),
            Some(&*format!("dependency {b} failed: exited with status 4"))
        ),
        "{v}"
    );
    assert_eq!(d.ctl(&["wait", &g]).status.code(), Some(0));
    assert_eq!(waiting(&d, &c), format!("waiting for task {a} (running)"));
    assert_eq!(waiting(&d, &e), format!("waiting for task {c} (queued)"));
    assert_eq!(daemon_status(&d)["queued"], 2);

    std::fs::write(&gate_a, "").unwrap();
    assert_eq!(d.ctl(&["wait", &c]).status.code(), Some(0));
    assert_eq!(d.ctl(&["wait", &e]).status.code(), Some(0));
}

/// A Claude task cancelled before it ever ran and resumed waits for its
/// dependencies again; one whose dependency failed cannot be resumed.
#[test]
fn a_resumed_task_that_never_ran_waits_for_its_dependencies_again() {
    let dir = tempfile::tempdir().unwrap();
    let claude = super::claude::fake_claude(dir.path());
    let path = claude.to_str().unwrap().to_owned();
    let d = Daemon::start_with(dir.path(), Arc::default(), None, move |c| {
        c.claude_path = Some(path);
    });
    let (gate_a, gate_b) = (dir.path().join("a"), dir.path().join("b"));
    let a = gated(&d, &gate_a, 0);
    let b = gated(&d, &gate_b, 2);
    let c = d.submit(&["--after", &a, "Write the release notes"]);
    let e = d.submit(&["--after", &b, "Write the changelog"]);
    assert!(d.ctl(&["cancel", &c]).status.success());
    assert_eq!(d.json(&c)["state"], "cancelled");
    let out = d.ctl(&["resume", &c]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(waiting(&d, &c), format!("waiting for task {a} (running)"));
    std::fs::write(&gate_a, "").unwrap();
    assert_eq!(d.ctl(&["wait", &c]).status.code(), Some(0));

    std::fs::write(&gate_b, "").unwrap();
    d.wait_state(&e, "cancelled");
    let (code, err) = stderr_of(&d, 0, &["resume", &e]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!(
            "task {e} never ran and cannot now: dependency {b} failed: exited with status 2"
        )),
        "{err}"
    );
    assert_eq!(d.json(&e)["state"], "cancelled");
}
