//! A freeze that cannot be confirmed is undone: the error reaches the
//! client, the scope is thawed again, and the task runs on, not suspended.
//! (The stand-in systemd "freezes" without a cgroup, so `cgroup.events`
//! never says `frozen 1`: the failure path of a real half-done freeze.)

use super::*;

#[test]
fn a_freeze_that_cannot_be_confirmed_is_reported_and_undone() {
    let dir = tempfile::tempdir().unwrap();
    let scopes = Arc::new(FakeScopes::default());
    let d = Daemon::start(dir.path(), scopes.clone(), None);
    let id = d.submit(&["--", "sleep", "30"]);
    d.wait_state(&id, "running");
    let out = d.ctl(&["suspend", &id]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains(&format!("cannot suspend task {id}")), "{err}");
    assert!(err.contains("cgroup.events"), "{err}");
    let unit = format!("claudine-task-{id}.scope");
    wait_for("the scope thawed again after the failed freeze", || {
        let calls = scopes.calls();
        let freeze = calls.iter().position(|c| *c == format!("freeze {unit}"));
        let thaw = calls.iter().position(|c| *c == format!("thaw {unit}"));
        matches!((freeze, thaw), (Some(f), Some(t)) if f < t)
    });
    assert_eq!(d.json(&id)["state"], "running");
    let out = d.ctl(&["cancel", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    d.wait_state(&id, "cancelled");
}
