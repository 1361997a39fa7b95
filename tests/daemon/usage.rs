//! `GET /v1/usage` through `claudinectl usage`: each user sees their own
//! Claude Code usage, root everyone's or a named user's, and naming another
//! user without admin rights is refused.

use super::*;
use claudine::core::{NewTask, Priority};

const NOBODY: u32 = 65534;
const MINUTE: i64 = 60_000;

fn usage_as(d: &Daemon, uid: u32, args: &[&str]) -> Output {
    d.ctl_as(uid, &[&["usage"], args].concat())
}

fn usage_json(d: &Daemon, uid: u32, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let out = usage_as(d, uid, &a);
    assert!(
        out.status.success(),
        "usage {args:?}: {}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn runs(rows: &serde_json::Value) -> u64 {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["runs"].as_u64().unwrap())
        .sum()
}

/// A finished task of `uid` and one run's usage, `ago_ms` before now,
/// written while the daemon is down.
fn add_run(db: &Path, uid: u32, ago_ms: i64, input: u64, cost: f64) {
    let mut store = claudine::store::Store::open(db).unwrap();
    let t = store
        .insert(NewTask {
            owner_uid: uid,
            owner_name: if uid == 0 { "root" } else { "nobody" }.into(),
            priority: Priority::P1,
            argv: vec!["true".into()],
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
        })
        .unwrap();
    drop(store);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute(
        "INSERT INTO claude_usage (task_id, attempt, owner_uid, at_ms, input_tokens,
             output_tokens, cache_read_tokens, cache_creation_tokens, cost_usd)
         VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, 0, ?7)",
        rusqlite::params![t.id, uid, now - ago_ms, input, input / 2, input * 10, cost],
    )
    .unwrap();
}

#[test]
fn usage_is_each_users_own_and_everyones_for_root() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let edit = |c: &mut Config| {
        c.socket_group = "nogroup".into();
        c.claude.budgets.usd_per_day = Some(5.0);
    };
    let d = Daemon::start_with(dir.path(), Arc::default(), None, edit);
    let (path, scopes, _) = d.stop();
    let db = path.join("state/claudine.db");
    add_run(&db, 0, 10 * MINUTE, 1000, 0.5);
    add_run(&db, 0, 2 * 24 * 60 * MINUTE, 4000, 2.0);
    add_run(&db, NOBODY, 20 * MINUTE, 300, 0.25);
    let d = Daemon::start_with(&path, scopes, None, edit);

    // nobody: their own run only.
    let v = usage_json(&d, NOBODY, &[]);
    assert_eq!(v["user"], "nobody");
    assert_eq!(v["last_hour"]["runs"], 1);
    assert_eq!(v["last_hour"]["input_tokens"], 300);
    assert_eq!(v["last_day"]["cost_usd"], 0.25);
    assert_eq!((runs(&v["hours"]), runs(&v["days"])), (1, 1));
    assert_eq!(v["hours"].as_array().unwrap().len(), 24);
    assert_eq!(v["days"].as_array().unwrap().len(), 7);
    assert_eq!(v["cooldowns"], serde_json::json!([]));
    assert_eq!(v["budgets"]["usd_per_day"], 5.0);
    assert_eq!(
        usage_json(&d, NOBODY, &["--user", "nobody"])["user"],
        "nobody"
    );

    // root: everyone's, or one user's when named.
    let v = usage_json(&d, 0, &[]);
    assert!(v["user"].is_null(), "{v}");
    assert_eq!(
        (v["last_hour"]["runs"].as_u64(), runs(&v["days"])),
        (Some(2), 3)
    );
    assert_eq!(v["last_day"]["input_tokens"], 1300);
    let v = usage_json(&d, 0, &["--user", "nobody"]);
    assert_eq!((v["user"].as_str(), runs(&v["days"])), (Some("nobody"), 1));
    let v = usage_json(&d, 0, &["-u", "root"]);
    assert_eq!((runs(&v["hours"]), runs(&v["days"])), (1, 2));

    // The human form.
    let out = usage_as(&d, NOBODY, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    for needle in [
        "Claude Code usage of nobody",
        "last hour: 1 run, 300 in, 150 out, cache 3000 read + 0 written, $0.25",
        "HOUR   RUNS",
        "DAY         RUNS",
        "no cooldown in force",
        "budgets:",
        "$5.00 a day  $0.25 used in the last 24 h",
    ] {
        assert!(shown.contains(needle), "{needle:?} missing from\n{shown}");
    }
    let out = usage_as(&d, 0, &[]);
    assert!(text(&out.stdout).starts_with("Claude Code usage of all users"));
    assert!(text(&out.stdout).contains("budgets per user: $5.00 a day"));

    // Another user's usage: refused (403, exit 1); an unknown user: named.
    let out = usage_as(&d, NOBODY, &["--user", "root"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "claudinectl: only root and members of the admin group may see other users' usage\n"
    );
    let out = usage_as(&d, NOBODY, &["--user", "no-such-user-here", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no such user \"no-such-user-here\""),
        "{}",
        text(&out.stderr)
    );
}
