//! The MCP server driven in-process over a pipe with JSON-RPC lines, as
//! Claude Code drives it: against the fake daemon of
//! [`testserver`](crate::cli::testserver), and against no daemon at all.
//! The real daemon's side is in tests/daemon/mcp.rs.

use super::serve;
use crate::cli::client::Client;
use crate::cli::testserver::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines, ReadHalf};

/// A client's end of one MCP session.
pub(crate) struct Session {
    to_server: tokio::io::WriteHalf<DuplexStream>,
    from_server: Lines<BufReader<ReadHalf<DuplexStream>>>,
    next_id: u64,
}

impl Session {
    pub(crate) fn start(socket: &Path) -> Session {
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let (input, output) = tokio::io::split(theirs);
        tokio::spawn(serve(Client::new(socket), input, output));
        let (from_server, to_server) = tokio::io::split(ours);
        Session {
            to_server,
            from_server: BufReader::new(from_server).lines(),
            next_id: 1,
        }
    }

    pub(crate) async fn send_line(&mut self, line: &str) {
        self.to_server
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }

    pub(crate) async fn read(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(20), self.from_server.next_line())
            .await
            .expect("an answer within 20 s")
            .unwrap()
            .expect("the server closed its output");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Send a request and return its whole answer (`result` or `error`).
    pub(crate) async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_line(&msg.to_string()).await;
        loop {
            let answer = self.read().await;
            if answer["id"] == json!(id) {
                return answer;
            }
        }
    }

    pub(crate) async fn initialize(&mut self, version: &str) -> Value {
        let answer = self
            .request(
                "initialize",
                json!({
                    "protocolVersion": version,
                    "capabilities": {},
                    "clientInfo": {"name": "claude-code", "version": "2.1.330"},
                }),
            )
            .await;
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        self.send_line(&note.to_string()).await;
        answer
    }

    /// `tools/call`: the result (`isError` and the text of its content).
    pub(crate) async fn call(&mut self, tool: &str, args: Value) -> (bool, String) {
        let answer = self
            .request("tools/call", json!({"name": tool, "arguments": args}))
            .await;
        let result = &answer["result"];
        assert!(result.is_object(), "{tool}: no result: {answer}");
        let text = result["content"][0]["text"].as_str().unwrap_or_default();
        (result["isError"] == json!(true), text.to_owned())
    }
}

fn no_daemon() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("claudine.sock");
    (dir, socket)
}

const TOOLS: [&str; 8] = [
    "cancel_task",
    "delegate_task",
    "list_tasks",
    "resume_task",
    "suspend_task",
    "task_logs",
    "task_status",
    "wait_task",
];

#[tokio::test]
async fn initialize_answers_each_handshake_version() {
    let (_dir, socket) = no_daemon();
    for version in ["2025-06-18", "2025-03-26", "2024-11-05", "2025-11-25"] {
        let mut s = Session::start(&socket);
        let answer = s.initialize(version).await;
        let r = &answer["result"];
        assert_eq!(r["protocolVersion"], version, "{answer}");
        assert_eq!(r["serverInfo"]["name"], "claudine");
        assert_eq!(r["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
        assert!(r["capabilities"]["tools"].is_object(), "{answer}");
        assert!(r["instructions"]
            .as_str()
            .unwrap()
            .contains("delegate_task"));
        assert_eq!(s.request("ping", json!({})).await["result"], json!({}));
    }
}

/// What Claude Code 2.1.330 sends, as recorded: no `initialize` at all,
/// protocol 2026-07-28 (`server/discover`, then every request carries its
/// version and the client's identity in `_meta`).
#[tokio::test]
async fn claude_code_2_1_330_is_served_without_initialize() {
    let (_dir, socket) = no_daemon();
    let mut s = Session::start(&socket);
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {
            "name": "claude-code", "title": "Claude Code", "version": "2.1.330",
            "description": "Anthropic's agentic coding tool",
            "websiteUrl": "https://claude.com/claude-code",
        },
        "io.modelcontextprotocol/clientCapabilities": {
            "roots": {"listChanged": true}, "elicitation": {"form": {}, "url": {}},
        },
    });
    let probe = json!({"jsonrpc": "2.0", "id": "server-discover-probe-1",
        "method": "server/discover", "params": {"_meta": meta}});
    s.send_line(&probe.to_string()).await;
    let answer = s.read().await;
    assert_eq!(answer["id"], "server-discover-probe-1", "{answer}");
    let r = &answer["result"];
    assert!(
        r["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28")),
        "{answer}"
    );
    assert!(r["capabilities"]["tools"].is_object(), "{answer}");
    let listed = s.request("tools/list", json!({"_meta": meta})).await;
    assert_eq!(
        listed["result"]["tools"].as_array().unwrap().len(),
        8,
        "{listed}"
    );
    let called = s
        .request(
            "tools/call",
            json!({"name": "task_status", "arguments": {"id": 3}, "_meta": meta}),
        )
        .await;
    assert_eq!(called["result"]["isError"], true, "{called}");
}

#[tokio::test]
async fn every_tool_is_listed_with_an_input_schema() {
    let (_dir, socket) = no_daemon();
    let mut s = Session::start(&socket);
    s.initialize("2025-06-18").await;
    let answer = s.request("tools/list", json!({})).await;
    let tools = answer["result"]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, TOOLS);
    for t in tools {
        let schema = &t["inputSchema"];
        assert_eq!(schema["type"], "object", "{t}");
        assert!(t["description"].as_str().unwrap().len() > 40, "{t}");
    }
    let delegate = &tools[1];
    let props = &delegate["inputSchema"]["properties"];
    for field in [
        "prompt", "command", "cwd", "priority", "memory", "worktree", "after",
    ] {
        assert!(props[field].is_object(), "{field} missing: {delegate}");
        let described = props[field]["description"].is_string()
            || props[field].to_string().contains("description");
        assert!(described, "{field} has no description: {delegate}");
    }
    let schema = delegate["inputSchema"].to_string();
    for p in ["P0", "P1", "P2"] {
        assert!(schema.contains(p), "{schema}");
    }
    let wait = tools.iter().find(|t| t["name"] == "wait_task").unwrap();
    assert_eq!(wait["inputSchema"]["required"], json!(["id"]), "{wait}");
    assert_eq!(wait["annotations"]["readOnlyHint"], true, "{wait}");
}

#[tokio::test]
async fn bad_arguments_are_tool_errors_the_model_can_read() {
    let (_dir, socket) = no_daemon();
    let mut s = Session::start(&socket);
    s.initialize("2025-06-18").await;
    let cases = [
        ("delegate_task", json!({}), "nothing to run"),
        (
            "delegate_task",
            json!({"prompt": "fix it", "command": ["make"]}),
            "not both",
        ),
        (
            "delegate_task",
            json!({"prompt": "  "}),
            "`prompt` is empty",
        ),
        (
            "delegate_task",
            json!({"command": []}),
            "`command` is empty",
        ),
        (
            "delegate_task",
            json!({"command": ["make"], "priority": "P7"}),
            "unknown variant `P7`, expected one of `P0`, `P1`, `P2`",
        ),
        (
            "delegate_task",
            json!({"command": ["make"], "memory": "lots"}),
            "memory: invalid size \"lots\"",
        ),
        (
            "delegate_task",
            json!({"command": ["make"], "model": "opus"}),
            "go with a `prompt`",
        ),
        (
            "delegate_task",
            json!({"command": ["make"], "after_any": true}),
            "`after_any` needs `after`",
        ),
        ("delegate_task", json!({"command": "make"}), "invalid type"),
        (
            "delegate_task",
            json!({"comand": ["make"]}),
            "unknown field `comand`",
        ),
        ("task_status", json!({}), "missing field `id`"),
        ("task_status", json!({"id": 0}), "invalid task id 0"),
        ("task_status", json!({"id": -3}), "invalid value"),
        (
            "task_logs",
            json!({"id": 1, "tail": 5000}),
            "tail 5000 is out of range",
        ),
        (
            "task_logs",
            json!({"id": 1, "stream": "both!"}),
            "unknown variant",
        ),
        (
            "list_tasks",
            json!({"state": ["sleeping"]}),
            "unknown variant `sleeping`",
        ),
        ("list_tasks", json!({"limit": 0}), "limit 0 is out of range"),
        (
            "wait_task",
            json!({"id": 1, "timeout_seconds": 601}),
            "at most 600",
        ),
        (
            "resume_task",
            json!({"id": 1, "prompt": ""}),
            "`prompt` is empty",
        ),
    ];
    for (tool, args, want) in cases {
        let (is_error, text) = s.call(tool, args.clone()).await;
        assert!(is_error, "{tool} {args}: not an error: {text}");
        assert!(
            text.contains(want),
            "{tool} {args}: {text:?} lacks {want:?}"
        );
    }
    // An unknown tool is the protocol's error, not a tool's.
    let answer = s
        .request("tools/call", json!({"name": "nope", "arguments": {}}))
        .await;
    assert!(answer["error"]["code"].is_number(), "{answer}");
}

#[tokio::test]
async fn a_line_that_is_not_json_gets_a_parse_error_and_serving_goes_on() {
    let (_dir, socket) = no_daemon();
    let mut s = Session::start(&socket);
    s.send_line("this is not JSON").await;
    let answer = s.read().await;
    assert_eq!(answer["error"]["code"], -32700, "{answer}");
    assert_eq!(answer["id"], Value::Null, "{answer}");
    assert_eq!(answer["jsonrpc"], "2.0");
    assert_eq!(
        s.initialize("2025-06-18").await["result"]["serverInfo"]["name"],
        "claudine"
    );
    s.send_line("{\"jsonrpc\": \"2.0\", \"id\": 7, \"method\": ")
        .await;
    assert_eq!(s.read().await["error"]["code"], -32700);
    // JSON that is no message: the SDK's own invalid request answer.
    s.send_line("[1, 2]").await;
    assert_eq!(s.read().await["error"]["code"], -32600);
    let listed = s.request("tools/list", json!({})).await;
    assert_eq!(listed["result"]["tools"].as_array().unwrap().len(), 8);
}

#[tokio::test]
async fn without_claudined_a_call_is_a_tool_error_saying_so() {
    let (_dir, socket) = no_daemon();
    let mut s = Session::start(&socket);
    s.initialize("2025-06-18").await;
    for (tool, args) in [
        ("task_status", json!({"id": 4})),
        ("list_tasks", json!({})),
        ("delegate_task", json!({"command": ["true"], "cwd": "/"})),
        ("wait_task", json!({"id": 4, "timeout_seconds": 0})),
    ] {
        let (is_error, text) = s.call(tool, args).await;
        assert!(is_error, "{tool}: {text}");
        assert!(
            text.contains("claudined is not reachable at"),
            "{tool}: {text}"
        );
        assert!(text.contains("Try again"), "{tool}: {text}");
    }
}

#[tokio::test]
async fn delegate_task_sends_what_submit_would() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("claudine.sock");
    let daemon = FakeDaemon::start(
        &socket,
        handler(|seen| {
            if seen.method == "POST" {
                return Some(json(201, json!({"id": 12})));
            }
            Some(json(
                404,
                json!({"error": {"code": "not_found", "message": "no task 12"}}),
            ))
        }),
    );
    let mut s = Session::start(&socket);
    s.initialize("2025-06-18").await;
    let (is_error, text) = s
        .call(
            "delegate_task",
            json!({
                "command": ["cargo", "test"],
                "cwd": "/tmp",
                "priority": "P0",
                "memory": "4G",
                "memory_max": "6G",
                "worktree": true,
                "after": [3, 4],
            }),
        )
        .await;
    // The task view could not be read: the id alone still says it queued.
    assert!(!is_error, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"id": 12})
    );
    let sent: Value = serde_json::from_slice(&daemon.requests()[0].body).unwrap();
    assert_eq!(sent["argv"], json!(["cargo", "test"]));
    assert_eq!(sent["cwd"], "/tmp");
    assert_eq!(sent["priority"], "P0");
    assert_eq!(sent["limits"]["memory_request"], 4u64 << 30);
    assert_eq!(sent["limits"]["memory_max"], 6u64 << 30);
    assert_eq!(sent["worktree"], true);
    assert_eq!(sent["after"], json!([3, 4]));
    assert!(sent["umask"].is_number());
    assert!(sent.get("claude").is_none());

    let (is_error, _) = s
        .call(
            "delegate_task",
            json!({"prompt": "fix the flaky test", "cwd": "/tmp", "model": "opus",
                   "permission_mode": "acceptEdits"}),
        )
        .await;
    assert!(!is_error);
    let sent: Value = serde_json::from_slice(&daemon.requests()[2].body).unwrap();
    assert_eq!(sent["argv"], json!([]));
    assert_eq!(sent["priority"], "P1");
    assert_eq!(sent["claude"]["prompt"], "fix the flaky test");
    assert_eq!(sent["claude"]["options"]["model"], "opus");
    assert_eq!(sent["claude"]["options"]["permission_mode"], "acceptEdits");
    // A daemon error reaches the model with the daemon's words.
    let (is_error, text) = s.call("task_status", json!({"id": 12})).await;
    assert!(is_error);
    assert_eq!(text, "no task 12");
}

#[test]
fn long_logs_keep_their_end() {
    use super::tasks::last_bytes;
    assert_eq!(last_bytes(b"", 10), "(no output)");
    assert_eq!(last_bytes(b"a\nb\n", 10), "a\nb\n");
    let log = b"first line\nsecond line\nthird\n";
    assert_eq!(
        last_bytes(log, 12),
        "[first 23 bytes left out: at most 0 KiB are shown]\nthird\n"
    );
}
