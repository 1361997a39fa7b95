//! `claudinectl metrics` end to end against the fake daemon.

use crate::cli::exit;
use crate::cli::testserver::*;
use crate::core::{Sample, TaskState};
use crate::proto::MetricsView;
use serde_json::json;

#[tokio::test]
async fn metrics_json_human_table_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("claudine.sock");
    let s = socket.to_str().unwrap();
    let samples = [0, 1, 2].map(|i| Sample {
        at_ms: 1_700_000_000_000 + i * 1000,
        memory_bytes: (1 + i as u64) << 20,
        cpu_usage_usec: i as u64 * 250_000,
        pids: 2,
        output_bytes: i as u64 * 100,
    });
    let full = serde_json::to_value(MetricsView::new(42, TaskState::Running, &samples)).unwrap();
    let answer = full.clone();
    let daemon = FakeDaemon::start(
        &socket,
        handler(move |seen| {
            Some(match seen.uri.as_str() {
                "/v1/tasks/42/metrics" => json(200, answer.clone()),
                "/v1/tasks/43/metrics" => {
                    json(200, json!({"task": 43, "state": "queued", "points": []}))
                }
                _ => json(
                    404,
                    json!({"error": {"code": "not_found", "message": "task 7 not found"}}),
                ),
            })
        }),
    );

    let (code, out, err) = run_cli(&["--socket", s, "metrics", "42", "--json"]).await;
    assert_eq!((code, err.as_str()), (exit::OK, ""));
    assert_eq!(out.lines().count(), 1, "{out}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        full
    );
    let seen = daemon.requests();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].uri.as_str()),
        ("GET", "/v1/tasks/42/metrics")
    );

    let (code, out, _) = run_cli(&["--socket", s, "metrics", "42"]).await;
    assert_eq!(code, exit::OK);
    assert!(
        out.starts_with("task 42 (running): 3 points over 2 s"),
        "{out}"
    );
    assert!(out.contains("min 25%  max 25%  last 25%"), "{out}");

    let (code, out, _) = run_cli(&["--socket", s, "metrics", "42", "--table"]).await;
    assert_eq!(code, exit::OK);
    assert_eq!(out.lines().count(), 4, "{out}");
    assert!(out.starts_with("TIME "), "{out}");

    let (code, out, _) = run_cli(&["--socket", s, "metrics", "43"]).await;
    assert_eq!(code, exit::OK);
    assert!(out.contains("no samples yet"), "{out}");

    let (code, out, err) = run_cli(&["--socket", s, "metrics", "7"]).await;
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (exit::DAEMON_ERROR, "", "claudinectl: task 7 not found\n")
    );
}
