//! `list` at scale: filters, the limit, queue positions under a filter, and
//! that no filter shows another user's tasks.

use super::*;
use claudine::core::{NewTask, Priority};

const NOBODY: u32 = 65534;
const QUEUED: usize = 300;

fn ctl_as(d: &Daemon, uid: u32, args: &[&str]) -> Output {
    d.ctl_as(uid, args)
}

fn list_as(d: &Daemon, uid: u32, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["list", "--json"];
    a.extend_from_slice(args);
    let out = ctl_as(d, uid, &a);
    assert!(out.status.success(), "list {args:?}: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ids(v: &serde_json::Value) -> Vec<i64> {
    v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

fn new_task(uid: u32, priority: Priority, argv: Vec<String>) -> NewTask {
    NewTask {
        owner_uid: uid,
        owner_name: if uid == 0 { "root" } else { "nobody" }.into(),
        priority,
        argv,
        cwd: "/tmp".into(),
        env: vec![],
        inherit_env: false,
        umask: 0o022,
        limits: Default::default(),
        created_ms: 1,
        claude: None,
        restartable: false,
        worktree: None,
        after: vec![],
        after_any: false,
    }
}

#[test]
fn list_filters_limit_and_visibility_over_hundreds_of_tasks() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let edit = |c: &mut Config| c.socket_group = "nogroup".into();
    // Three finished tasks: root's succeeded and failed, nobody's succeeded.
    let d = Daemon::start_with(dir.path(), Arc::default(), None, edit);
    for (uid, cmd) in [(0, "true"), (0, "false"), (NOBODY, "true")] {
        let out = ctl_as(&d, uid, &["submit", "--", cmd]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let id = text(&out.stdout).trim().to_string();
        ctl_as(&d, uid, &["wait", &id]);
    }
    let (path, scopes, _) = d.stop();

    // A blocker (root, P0, first) then QUEUED tasks of both users, written
    // while the daemon is down: quicker than hundreds of submits.
    let gate = path.join("gate");
    let mut queue: Vec<(i64, u32, Priority)> = vec![];
    let blocker = {
        let mut store = claudine::store::Store::open(&path.join("state/claudine.db")).unwrap();
        let wait = format!("while [ ! -e {} ]; do sleep 0.02; done", gate.display());
        let argv = vec!["sh".into(), "-c".into(), wait];
        let blocker = store.insert(new_task(0, Priority::P0, argv)).unwrap().id;
        for i in 0..QUEUED {
            let uid = if i % 2 == 0 { 0 } else { NOBODY };
            let prio = [Priority::P0, Priority::P1, Priority::P2][i % 3];
            let t = store
                .insert(new_task(uid, prio, vec!["true".into()]))
                .unwrap();
            queue.push((t.id, uid, prio));
        }
        blocker
    };
    let d = Daemon::start_with(&path, scopes, Some(1), edit);
    d.wait_state(&blocker.to_string(), "running");
    // Start order: P0 > P1 > P2, FIFO by id within one.
    let mut order = queue.clone();
    order.sort_by_key(|&(id, _, p)| (p, id));
    let position = |id: i64| order.iter().position(|t| t.0 == id).unwrap() + 1;
    let check_positions = |v: &serde_json::Value| {
        for t in v["tasks"].as_array().unwrap() {
            if t["state"] == "queued" {
                let id = t["id"].as_i64().unwrap();
                assert_eq!(t["queue_position"], position(id), "task {id}");
            }
        }
    };

    // The limit keeps the first tasks by id and says how many matched.
    let v = list_as(&d, 0, &["--state", "queued", "--limit", "10"]);
    assert_eq!(ids(&v), queue[..10].iter().map(|t| t.0).collect::<Vec<_>>());
    assert_eq!(
        (v["truncated"].as_bool(), v["total"].as_u64()),
        (Some(true), Some(QUEUED as u64))
    );
    assert_eq!(
        (v["queued"].as_u64(), v["running"].as_u64()),
        (Some(QUEUED as u64), Some(1))
    );
    check_positions(&v);
    // Positions are in the whole queue, not in the page.
    let v = list_as(
        &d,
        0,
        &["--state", "queued", "--priority", "p2", "--limit", "5"],
    );
    let p2: Vec<i64> = queue
        .iter()
        .filter(|t| t.2 == Priority::P2)
        .map(|t| t.0)
        .collect();
    assert_eq!(ids(&v), p2[..5]);
    assert_eq!(v["tasks"][0]["queue_position"], 201);
    assert_eq!(v["total"], 100);
    check_positions(&v);
    // No limit: not truncated, no total.
    let v = list_as(&d, 0, &["--user", "nobody", "--state", "queued"]);
    assert_eq!(ids(&v).len(), QUEUED / 2);
    assert_eq!(v["truncated"], false);
    assert!(v.get("total").is_none(), "{v}");
    check_positions(&v);
    // Finished tasks come from the store under the same filters.
    let v = list_as(&d, 0, &["--state", "succeeded,failed", "--all"]);
    assert_eq!(ids(&v), [1, 2, 3]);
    let v = list_as(&d, 0, &["--state", "failed", "--user", "root"]);
    assert_eq!(ids(&v), [2]);
    let v = list_as(&d, 0, &["--priority", "P0"]);
    assert_eq!(ids(&v).len(), 1 + QUEUED / 3);
    let v = list_as(&d, 0, &["--all", "--limit", "4"]);
    assert_eq!(ids(&v), [1, 2, 3, blocker]);
    assert_eq!(v["total"], 4 + QUEUED);

    // The table: a default limit far above this, and a notice when cut.
    let out = d.ctl(&["list", "--state", "queued", "--limit", "5"]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stderr),
        format!("(showing 5 of {QUEUED} matching tasks; --limit to change)\n")
    );
    let out = d.ctl(&["list"]);
    assert_eq!(text(&out.stderr), "");
    assert!(text(&out.stdout).ends_with(&format!("{QUEUED} queued, 1 running\n")));

    // nobody sees only their own tasks, whatever the filter.
    for args in [
        &[][..],
        &["--all"],
        &["--state", "queued", "--priority", "P0", "--limit", "7"],
        &["--state", "running"],
        &["--state", "succeeded,failed", "--all"],
        &["--user", "nobody", "--all", "--limit", "3"],
    ] {
        let v = list_as(&d, NOBODY, args);
        let tasks = v["tasks"].as_array().unwrap();
        assert!(
            tasks.iter().all(|t| t["owner_uid"] == NOBODY),
            "{args:?}: {v}"
        );
        assert_eq!(v["running"], 0, "{args:?}");
        check_positions(&v);
    }
    assert!(list_as(&d, NOBODY, &["--state", "running"])["tasks"]
        .as_array()
        .unwrap()
        .is_empty());
    let v = list_as(&d, NOBODY, &["--state", "queued", "--limit", "7"]);
    assert_eq!(v["total"], QUEUED / 2);
    assert_eq!(
        list_as(&d, NOBODY, &["--state", "succeeded", "--all"])["tasks"][0]["id"],
        3
    );
    // Naming another user answers as it always did.
    let out = ctl_as(&d, NOBODY, &["list", "--user", "root", "--state", "queued"]);
    // 403 permission_denied: a daemon error, exit 1.
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("only root and members of the admin group may list other users' tasks"),
        "{}",
        text(&out.stderr)
    );

    // Bad values straight to the socket get a 400 naming the parameter.
    let raw = |query: &str| -> String {
        let mut s = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let req = format!("GET /v1/tasks?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).unwrap();
        text(&answer)
    };
    let bad = raw("state=queued%2Cdone");
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    assert!(
        bad.contains("query parameter state: unknown task state"),
        "{bad}"
    );
    let bad = raw("priority=P7");
    assert!(
        bad.contains("query parameter priority") && bad.contains("P0, P1, P2"),
        "{bad}"
    );
    let bad = raw("limit=100001");
    assert!(bad.contains("query parameter limit"), "{bad}");
    assert!(raw("state=queued&limit=1").starts_with("HTTP/1.1 200"));

    std::fs::write(&gate, "").unwrap();
}
