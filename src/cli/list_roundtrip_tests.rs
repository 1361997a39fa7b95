//! `claudinectl list` with filters and a limit, against the fake daemon.

use crate::cli::exit;
use crate::cli::testserver::*;
use serde_json::json;

#[tokio::test]
async fn filters_go_in_the_query_and_a_cut_list_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("claudine.sock");
    let s = socket.to_str().unwrap();
    let daemon = FakeDaemon::start(
        &socket,
        handler(|_| {
            Some(json(
                200,
                json!({"tasks": [task_json(3, "queued", None, None), task_json(4, "queued", None, None)],
                       "queued": 9000, "running": 1, "truncated": true, "total": 9000}),
            ))
        }),
    );
    let (code, out, err) = run_cli(&[
        "--socket",
        s,
        "list",
        "--state",
        "queued",
        "-s",
        "running",
        "--priority",
        "p0,P2",
        "--limit",
        "2",
        "--user",
        "bob",
    ])
    .await;
    assert_eq!(code, exit::OK);
    assert_eq!(out.lines().count(), 4, "{out}");
    assert!(out.ends_with("9000 queued, 1 running\n"), "{out}");
    assert_eq!(
        err,
        "(showing 2 of 9000 matching tasks; --limit to change)\n"
    );

    let (code, out, err) = run_cli(&["--socket", s, "list", "--json"]).await;
    assert_eq!((code, err.as_str()), (exit::OK, ""));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["truncated"].as_bool(), v["total"].as_u64()),
        (Some(true), Some(9000))
    );

    let seen = daemon.requests();
    assert_eq!(
        seen[0].uri,
        "/v1/tasks?user=bob&state=queued,running&priority=P0,P2&limit=2"
    );
    assert_eq!(seen[1].uri, "/v1/tasks");
}
