//! `claudinectl` commands driven end to end, through the real client and
//! `run`, against the fake daemon of [`testserver`](super::testserver).

use crate::cli::client::Client;
use crate::cli::cmd::wait::{run_with, Retry};
use crate::cli::testserver::*;
use crate::cli::{exit, CliError};
use crate::proto::{ErrorCode, LogStream};
use bytes::Bytes;
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

fn sock(dir: &tempfile::TempDir) -> String {
    dir.path()
        .join("claudine.sock")
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn version_sends_protocol_and_host_headers() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = FakeDaemon::start(
        sock(&dir).as_ref(),
        handler(|_| Some(json(200, json!({"protocol": 1, "version": "9.9.9"})))),
    );
    let (code, out, err) = run_cli(&["--socket", &sock(&dir), "version"]).await;
    assert_eq!((code, err.as_str()), (exit::OK, ""));
    assert_eq!(
        out,
        format!(
            "claudinectl {} (protocol 1)\nclaudined   9.9.9 (protocol 1)\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    let seen = daemon.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].uri.as_str()),
        ("GET", "/v1/version")
    );
    assert_eq!(seen[0].headers["claudine-protocol"], "1");
    assert_eq!(seen[0].headers["host"], "localhost");

    let (code, out, _) = run_cli(&["--socket", &sock(&dir), "version", "--json"]).await;
    assert_eq!(code, exit::OK);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["daemon"]["version"], "9.9.9");
    assert_eq!(doc["client"]["protocol"], 1);
}

#[tokio::test]
async fn error_bodies_become_typed_errors_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let _daemon = FakeDaemon::start(
        sock(&dir).as_ref(),
        handler(|seen| {
            Some(match seen.uri.as_str() {
                "/v1/tasks/7" => json(
                    404,
                    json!({"error": {"code": "not_found", "message": "no task 7"}}),
                ),
                "/v1/tasks/8" => text(502, "upstream\nexploded\n"),
                _ => text(200, "this is not json"),
            })
        }),
    );
    let client = Client::new(sock(&dir));
    match client.task(7).await.unwrap_err() {
        CliError::Daemon {
            status,
            code,
            message,
        } => {
            assert_eq!((status, code), (404, Some(ErrorCode::NotFound)));
            assert_eq!(message, "no task 7");
        }
        other => panic!("{other:?}"),
    }
    let (code, out, err) = run_cli(&["--socket", &sock(&dir), "status", "7"]).await;
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (1, "", "claudinectl: no task 7\n")
    );

    let (code, _, err) = run_cli(&["--socket", &sock(&dir), "status", "8"]).await;
    assert_eq!(code, exit::DAEMON_ERROR);
    assert_eq!(
        err,
        "claudinectl: claudined answered 502 Bad Gateway: upstream\\nexploded\n"
    );

    let (code, _, err) = run_cli(&["--socket", &sock(&dir), "status", "9"]).await;
    assert_eq!(code, exit::PROTOCOL);
    assert!(err.contains("not JSON"), "{err}");
}

#[tokio::test]
async fn logs_are_copied_chunk_by_chunk_as_they_arrive() {
    struct Chunks(tokio::sync::mpsc::UnboundedSender<Vec<u8>>, Vec<u8>);
    impl std::io::Write for Chunks {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.1.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            let _ = self.0.send(std::mem::take(&mut self.1));
            Ok(())
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let (feed, body) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let body = Mutex::new(Some(body));
    let daemon = FakeDaemon::start(
        sock(&dir).as_ref(),
        handler(move |_| body.lock().unwrap().take().map(streaming)),
    );
    let (tx, mut printed) = tokio::sync::mpsc::unbounded_channel();
    let client = Client::new(sock(&dir));
    let mut out = Chunks(tx, Vec::new());
    let reader = client.logs(5, Some(10), true, LogStream::Both, &mut out);
    let writer = async {
        for chunk in ["line 1\n", "line 2\npartial", " line 3\n"] {
            feed.send(Bytes::from(chunk)).unwrap();
            // The next chunk is only sent once this one was printed: a
            // client that buffered the whole body would stall here.
            let got = tokio::time::timeout(Duration::from_secs(5), printed.recv())
                .await
                .expect("chunk printed before the body ended")
                .unwrap();
            assert_eq!(got, chunk.as_bytes());
        }
        drop(feed);
    };
    let (result, ()) = tokio::join!(reader, writer);
    result.unwrap();
    assert_eq!(
        daemon.requests()[0].uri,
        "/v1/tasks/5/logs?tail=10&follow=1"
    );
}

#[tokio::test]
async fn logs_ask_for_one_stream_only_when_told() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = FakeDaemon::start(sock(&dir).as_ref(), handler(|_| Some(text(200, "out\n"))));
    for (flags, uri) in [
        (&[][..], "/v1/tasks/5/logs"),
        (&["--stdout"][..], "/v1/tasks/5/logs?stream=stdout"),
        (
            &["--stderr", "-n", "2"][..],
            "/v1/tasks/5/logs?tail=2&stream=stderr",
        ),
    ] {
        let socket = sock(&dir);
        let mut args = vec!["--socket", socket.as_str(), "logs", "5"];
        args.extend_from_slice(flags);
        let (code, out, err) = run_cli(&args).await;
        assert_eq!((code, out.as_str(), err.as_str()), (exit::OK, "out\n", ""));
        assert_eq!(daemon.requests().last().unwrap().uri, uri, "{flags:?}");
    }
}

#[tokio::test]
async fn missing_socket_or_refused_connection_exits_69() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run_cli(&["--socket", &sock(&dir), "list"]).await;
    assert_eq!((code, out.as_str()), (exit::UNAVAILABLE, ""));
    assert!(
        err.starts_with(&format!(
            "claudinectl: cannot connect to claudined at {}: No such file or directory",
            sock(&dir)
        )),
        "{err}"
    );
    assert!(
        err.ends_with("start it with: sudo systemctl start claudine\n"),
        "{err}"
    );

    // A socket file nobody listens on any more.
    drop(std::os::unix::net::UnixListener::bind(sock(&dir)).unwrap());
    let (code, _, err) = run_cli(&["--socket", &sock(&dir), "status", "1"]).await;
    assert_eq!(code, exit::UNAVAILABLE);
    assert!(err.contains("Connection refused"), "{err}");
}

#[tokio::test]
async fn submit_sends_an_absolute_cwd_and_prints_the_id() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = FakeDaemon::start(
        sock(&dir).as_ref(),
        handler(|_| Some(json(201, json!({"id": 12})))),
    );
    let cwd = dir.path().to_str().unwrap().to_string();
    let args = [
        "--socket",
        &sock(&dir),
        "submit",
        "--priority",
        "P0",
        "--cwd",
        &cwd,
        "-e",
        "A=1",
        "--",
        "claude",
        "-p",
        "fix it",
    ];
    let (code, out, err) = run_cli(&args).await;
    assert_eq!((code, out.as_str(), err.as_str()), (0, "12\n", ""));
    let seen = &daemon.requests()[0];
    assert_eq!(
        (seen.method.as_str(), seen.uri.as_str()),
        ("POST", "/v1/tasks")
    );
    assert_eq!(seen.headers["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
    let real = std::fs::canonicalize(dir.path()).unwrap();
    // The caller's own umask travels with the task.
    let umask = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .map(|v| u32::from_str_radix(v.trim(), 8).unwrap())
        .unwrap();
    assert_eq!(
        body,
        json!({"argv": ["claude", "-p", "fix it"], "cwd": real.to_str().unwrap(),
               "priority": "P0", "env": {"A": "1"}, "inherit_env": false, "umask": umask,
               "limits": {}})
    );
    let (code, out, _) = run_cli(&["--json", "--socket", &sock(&dir), "submit", "true"]).await;
    assert_eq!((code, out.as_str()), (0, "{\"id\":12}\n"));
}

#[tokio::test]
async fn list_and_cancel_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = FakeDaemon::start(
        sock(&dir).as_ref(),
        handler(|seen| {
            Some(if seen.method == "POST" {
                json(200, task_json(9, "running", None, None))
            } else {
                json(
                    200,
                    json!({"tasks": [task_json(9, "succeeded", Some(0), None)],
                                 "queued": 0, "running": 2, "future_field": true}),
                )
            })
        }),
    );
    let s = sock(&dir);
    let (code, out, _) = run_cli(&["--socket", &s, "list", "--all", "--user", "bob smith"]).await;
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    // The fixture was created in 1970, so AGE is wide.
    assert!(
        lines[0].starts_with("ID  PRI  STATE      OWNER  AGE  "),
        "{out}"
    );
    assert!(lines[0].ends_with("  EXIT  COMMAND"), "{out}");
    assert!(lines[1].starts_with("9   P1   succeeded  alice  "), "{out}");
    assert!(lines[1].ends_with("  0     make"), "{out}");
    assert_eq!(lines[2], "0 queued, 2 running");
    // --json passes the daemon's document through, unknown fields too.
    let (_, out, _) = run_cli(&["--socket", &s, "list", "--json"]).await;
    assert!(out.contains("\"future_field\":true"), "{out}");

    let (code, out, _) = run_cli(&["--socket", &s, "cancel", "9", "--reason", "x"]).await;
    assert_eq!(
        (code, out.as_str()),
        (0, "cancel requested for 9 (running; stopping its scope)\n")
    );
    let seen = daemon.requests();
    assert_eq!(seen[0].uri, "/v1/tasks?all=1&user=bob%20smith&limit=1000");
    assert_eq!(seen[2].uri, "/v1/tasks/9/cancel");
    assert_eq!(&seen[2].body[..], br#"{"reason":"x"}"#);
}

const FAST: Retry = Retry {
    give_up_after: Duration::from_secs(10),
    first_delay: Duration::from_millis(10),
    max_delay: Duration::from_millis(50),
};

async fn wait_for(socket: &str, retry: Retry) -> (Result<i32, CliError>, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let result = run_with(
        &Client::new(socket),
        42,
        retry,
        &mut crate::cli::Output {
            json: false,
            width: None,
            out: &mut out,
            err: &mut err,
        },
    )
    .await;
    (
        result,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[tokio::test]
async fn wait_reconnects_after_a_dropped_connection_or_a_shutdown_answer() {
    let dir = tempfile::tempdir().unwrap();
    let calls = AtomicUsize::new(0);
    let daemon = FakeDaemon::start(
        sock(&dir).as_ref(),
        handler(move |_| match calls.fetch_add(1, Ordering::SeqCst) {
            0 => None,
            1 => Some(json(
                503,
                json!({"error": {"code": "unavailable", "message": "claudined is shutting down; retry shortly"}}),
            )),
            2 => Some(json(200, task_json(42, "running", None, None))),
            _ => Some(json(
                200,
                task_json(42, "failed", Some(3), Some("exited with status 3")),
            )),
        }),
    );
    let (result, out, err) = wait_for(&sock(&dir), FAST).await;
    assert_eq!(result.unwrap(), 3);
    assert_eq!(out, "");
    assert!(err.contains("still waiting for task 42"), "{err}");
    assert!(
        err.ends_with("task 42 failed: exited with status 3\n"),
        "{err}"
    );
    assert_eq!(daemon.requests().len(), 4);
    assert!(daemon
        .requests()
        .iter()
        .all(|r| r.uri == "/v1/tasks/42/wait"));
}

#[tokio::test]
async fn wait_outlasts_a_daemon_restart_and_gives_up_after_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let socket = sock(&dir);
    let path = PathBuf::from(&socket);
    let later = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        FakeDaemon::start(
            &path,
            handler(|_| Some(json(200, task_json(42, "succeeded", Some(0), None)))),
        )
    });
    let (result, out, _) = wait_for(&socket, FAST).await;
    assert_eq!((result.unwrap(), out.as_str()), (0, ""));
    drop(later.await.unwrap());

    let gone = dir.path().join("gone.sock");
    let start = Instant::now();
    let retry = Retry {
        give_up_after: Duration::from_millis(200),
        ..FAST
    };
    let (result, _, _) = wait_for(gone.to_str().unwrap(), retry).await;
    let err = result.unwrap_err();
    assert_eq!(err.exit_code(), exit::UNAVAILABLE);
    assert!(start.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn wait_stops_at_once_on_a_daemon_error() {
    let dir = tempfile::tempdir().unwrap();
    let _daemon = FakeDaemon::start(
        sock(&dir).as_ref(),
        handler(|_| {
            Some(json(
                404,
                json!({"error": {"code": "not_found", "message": "no task 42"}}),
            ))
        }),
    );
    let (code, _, err) = run_cli(&["--socket", &sock(&dir), "wait", "42"]).await;
    assert_eq!(
        (code, err.as_str()),
        (exit::DAEMON_ERROR, "claudinectl: no task 42\n")
    );
}
