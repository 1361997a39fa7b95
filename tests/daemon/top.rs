//! `GET /v1/top` through `claudinectl top`: host figures and counts for
//! everyone, rows only of the caller's own tasks (everyone's for root).

use super::*;

const NOBODY: u32 = 65534;

fn top_as(d: &Daemon, uid: u32, args: &[&str]) -> Output {
    d.ctl_as(uid, &[&["top"], args].concat())
}

fn top_json(d: &Daemon, uid: u32) -> serde_json::Value {
    let out = top_as(d, uid, &["--json"]);
    assert!(out.status.success(), "top --json: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ids(rows: &serde_json::Value) -> Vec<i64> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

fn submit_as(d: &Daemon, uid: u32, args: &[&str]) -> i64 {
    let out = d.ctl_as(uid, &[&["submit"], args].concat());
    assert!(out.status.success(), "submit: {}", text(&out.stderr));
    text(&out.stdout).trim().parse().unwrap()
}

#[test]
fn top_shows_counts_to_all_and_rows_only_to_their_owner() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let edit = |c: &mut Config| c.socket_group = "nogroup".into();
    let d = Daemon::start_with(dir.path(), Arc::default(), Some(2), edit);
    let gate = dir.path().join("gate");
    let hold = format!("while [ ! -e {} ]; do sleep 0.05; done", gate.display());
    let mine = submit_as(&d, NOBODY, &["--", "sh", "-c", &hold]);
    let roots = submit_as(&d, 0, &["--", "sh", "-c", &hold]);
    d.wait_state(&mine.to_string(), "running");
    d.wait_state(&roots.to_string(), "running");
    let q1 = submit_as(&d, 0, &["--priority", "P1", "--", "true"]);
    let q0 = submit_as(&d, 0, &["--priority", "P0", "--", "true"]);
    let q2 = submit_as(&d, NOBODY, &["--priority", "P2", "--", "true"]);

    // nobody: everyone's counts, only their own rows.
    let v = top_json(&d, NOBODY);
    assert_eq!(
        (v["running"].as_u64(), v["queued"].as_u64()),
        (Some(2), Some(3)),
        "{v}"
    );
    assert_eq!(
        v["queued_by_priority"],
        serde_json::json!({"P0": 1, "P1": 1, "P2": 1})
    );
    assert_eq!(v["hard_max"], 2);
    assert_eq!(ids(&v["tasks"]), [mine]);
    assert_eq!(v["tasks"][0]["user"], "nobody");
    assert_eq!(v["tasks"][0]["state"], "running");
    assert_eq!(ids(&v["queue"]), [q2]);
    assert_eq!(v["queue"][0]["position"], 3, "in the whole queue");
    assert!(
        v["queue"][0]["why"]
            .as_str()
            .unwrap()
            .contains("at the hard maximum: 2 of 2 running"),
        "{v}"
    );
    assert_eq!(v["queue_more"], 0);
    assert!(v["host"]["mem_total_bytes"].as_u64().unwrap() > 0, "{v}");

    // root: every row, the queue in start order (P0 first).
    let v = top_json(&d, 0);
    assert_eq!(ids(&v["tasks"]), [mine, roots]);
    assert_eq!(ids(&v["queue"]), [q0, q1, q2]);
    assert!(v["wait_reason"].is_string(), "{v}");

    // The text frame (stdout is not a terminal: one frame, then exit).
    let out = top_as(&d, NOBODY, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let frame = text(&out.stdout);
    assert!(frame.starts_with("host: CPU "), "{frame}");
    assert!(frame.contains("\nclaudine.slice: memory "), "{frame}");
    assert!(
        frame.contains("\ntasks: 2 running, 3 queued (P0 1, P1 1, P2 1); cap: soft 2, hard 2\n"),
        "{frame}"
    );
    let rows: Vec<&str> = frame
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|c| c.parse::<i64>().is_ok())
        })
        .collect();
    assert_eq!(rows.len(), 2, "{frame}");
    let cells = |l: &str| l.split_whitespace().take(4).collect::<Vec<_>>().join(" ");
    assert_eq!(
        cells(rows[0]),
        format!("{mine} nobody running -"),
        "{frame}"
    );
    assert_eq!(cells(rows[1]), format!("3 {q2} nobody P2"), "{frame}");
    assert!(!frame.contains("root"), "{frame}");
    let out = top_as(&d, NOBODY, &["--once", "--interval", "2s"]);
    assert_eq!(text(&out.stdout).lines().count(), frame.lines().count());

    // Bad values are usage errors naming the flag.
    for bad in ["0", "abc"] {
        let out = top_as(&d, NOBODY, &["--interval", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            text(&out.stderr).contains("--interval"),
            "{}",
            text(&out.stderr)
        );
    }

    std::fs::write(&gate, "").unwrap();
    for id in [mine, roots, q0, q1, q2] {
        d.wait_state(&id.to_string(), "succeeded");
    }
    let v = top_json(&d, 0);
    assert_eq!(
        (v["running"].as_u64(), v["queued"].as_u64()),
        (Some(0), Some(0)),
        "{v}"
    );
    assert_eq!(
        v["queued_by_priority"],
        serde_json::json!({"P0": 0, "P1": 0, "P2": 0})
    );
}
