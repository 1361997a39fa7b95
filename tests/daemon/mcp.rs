//! `claudinectl mcp` as Claude Code runs it: the real binary as a child
//! process, JSON-RPC lines on its stdin and stdout, against the in-process
//! daemon; every tool called, and the daemon restarted under it.

use super::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;

/// A running `claudinectl mcp` and the lines it printed so far.
struct Mcp {
    child: Child,
    /// `None` once closed.
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    next_id: u64,
}

impl Mcp {
    /// Start it in `cwd` and initialize the session; returns it and how
    /// long the answer to `initialize` took from the spawn.
    fn start(socket: &Path, cwd: &Path) -> (Mcp, Duration) {
        let t0 = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_claudinectl"))
            .arg("--socket")
            .arg(socket)
            .arg("mcp")
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start claudinectl mcp");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        });
        let mut mcp = Mcp {
            child,
            stdin: Some(stdin),
            lines,
            next_id: 1,
        };
        let init = mcp.request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "claude-code", "version": "2.1.330"},
            }),
        );
        let took = t0.elapsed();
        assert_eq!(init["result"]["serverInfo"]["name"], "claudine", "{init}");
        assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
        mcp.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string());
        (mcp, took)
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("input still open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Close its input, as a client that goes away does; its exit status.
    fn close(&mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "claudinectl mcp did not end");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn read(&mut self, within: Duration) -> Value {
        let line = self
            .lines
            .recv_timeout(within)
            .expect("claudinectl mcp answers");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout not JSON ({e}): {line}"))
    }

    /// Send a request without reading its answer; returns its id.
    fn send_request(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send(&msg.to_string());
        id
    }

    fn answer_to(&mut self, id: u64, within: Duration) -> Value {
        loop {
            let v = self.read(within);
            if v["id"] == json!(id) {
                return v;
            }
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        self.answer_to(id, Duration::from_secs(30))
    }

    /// A tool's answer: whether it is an error, and its text.
    fn call(&mut self, tool: &str, args: Value) -> (bool, String) {
        let id = self.send_request("tools/call", json!({"name": tool, "arguments": args}));
        tool_result(tool, &self.answer_to(id, Duration::from_secs(30)))
    }

    /// A tool's JSON answer, which must not be an error.
    fn ok(&mut self, tool: &str, args: Value) -> Value {
        let (is_error, text) = self.call(tool, args.clone());
        assert!(!is_error, "{tool} {args}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }

    /// A tool's error text, which must be one.
    fn err(&mut self, tool: &str, args: Value) -> String {
        let (is_error, text) = self.call(tool, args.clone());
        assert!(is_error, "{tool} {args}: not an error: {text}");
        text
    }
}

fn tool_result(tool: &str, answer: &Value) -> (bool, String) {
    let r = &answer["result"];
    assert!(r.is_object(), "{tool}: no result: {answer}");
    let text = r["content"][0]["text"].as_str().unwrap_or_default();
    (r["isError"] == json!(true), text.to_owned())
}

impl Drop for Mcp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn mcp_tools_drive_tasks_of_the_real_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Arc::default(), None);
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let (mut m, took) = Mcp::start(&d.socket(), &work);
    eprintln!("claudinectl mcp answered initialize {took:?} after its spawn");
    assert!(took < Duration::from_secs(5), "{took:?}");

    let tools = m.request("tools/list", json!({}));
    assert_eq!(tools["result"]["tools"].as_array().unwrap().len(), 8);

    // A command runs in the server's directory by default, and succeeds.
    let script = "echo hello from $(pwd); echo oops >&2";
    let t = m.ok("delegate_task", json!({"command": ["sh", "-c", script]}));
    let id = t["id"].as_i64().unwrap();
    assert_eq!(t["command"], format!("sh -c '{script}'"), "{t}");
    let w = m.ok("wait_task", json!({"id": id, "timeout_seconds": 30}));
    assert_eq!(w["ended"], true, "{w}");
    assert_eq!(w["task"]["state"], "succeeded", "{w}");
    assert_eq!(w["task"]["exit_code"], 0, "{w}");
    let s = m.ok("task_status", json!({"id": id}));
    assert_eq!(s["state"], "succeeded", "{s}");
    assert_eq!(s["cwd"], work.to_str().unwrap(), "{s}");
    let logs = m.ok("task_logs", json!({"id": id}));
    let want = format!("hello from {}\noops\n", work.display());
    assert_eq!(logs, Value::String(want), "{logs}");
    // (The supervisor may have warned on stderr first, where it runs
    // without the right to protect itself from the OOM killer.)
    let err = m.ok("task_logs", json!({"id": id, "stream": "stderr"}));
    assert!(
        err.as_str().unwrap().ends_with("\noops\n") || err == "oops\n",
        "{err}"
    );
    let list = m.ok("list_tasks", json!({}));
    assert_eq!(list["tasks"][0]["id"], id, "{list}");
    assert_eq!(list["tasks"][0]["state"], "succeeded", "{list}");
    let none = m.ok("list_tasks", json!({"state": ["running"]}));
    assert_eq!(none["tasks"], json!([]), "{none}");

    // Where an action does not apply, the daemon's reason comes back.
    let e = m.err("suspend_task", json!({"id": id}));
    assert_eq!(
        e,
        format!("task {id} is succeeded: only a running task can be suspended")
    );
    let e = m.err("resume_task", json!({"id": id}));
    assert!(e.contains("there is no session to resume"), "{e}");
    let e = m.err("task_status", json!({"id": 9999}));
    assert_eq!(e, "task 9999 not found");
    let e = m.err(
        "delegate_task",
        json!({"command": ["true"], "after": [9999]}),
    );
    assert!(e.contains("9999"), "{e}");

    // A wait that times out says so and gives the state; cancel ends it.
    let t = m.ok(
        "delegate_task",
        json!({"command": ["sleep", "1000"], "priority": "P0"}),
    );
    let long = t["id"].as_i64().unwrap();
    d.wait_state(&long.to_string(), "running");
    let w = m.ok("wait_task", json!({"id": long, "timeout_seconds": 1}));
    assert_eq!(
        (&w["ended"], &w["task"]["state"]),
        (&json!(false), &json!("running"))
    );
    assert!(
        w["note"]
            .as_str()
            .unwrap()
            .contains("still running after 1 s"),
        "{w}"
    );
    let e = m.err("resume_task", json!({"id": long}));
    assert!(e.contains("is running"), "{e}");
    let c = m.ok("cancel_task", json!({"id": long, "reason": "not needed"}));
    assert!(c["note"].as_str().unwrap().contains("cancel"), "{c}");
    let w = m.ok("wait_task", json!({"id": long, "timeout_seconds": 30}));
    assert_eq!(w["task"]["state"], "cancelled", "{w}");
    assert_eq!(w["task"]["reason"], "not needed", "{w}");
    let e = m.err("cancel_task", json!({"id": long}));
    assert!(e.contains("already ended"), "{e}");

    // Bad input on the real stdio: a tool error, and a line that is not
    // JSON answered with a parse error; the server goes on.
    let e = m.err("delegate_task", json!({"prompt": "x", "command": ["true"]}));
    assert!(e.contains("not both"), "{e}");
    m.send("}{ not json");
    let v = m.read(Duration::from_secs(10));
    assert_eq!(v["error"]["code"], -32700, "{v}");
    assert_eq!(m.request("ping", json!({}))["result"], json!({}));

    // Its input closed, the server ends with status 0.
    let status = m.close();
    assert!(status.success(), "{status}");
}

#[test]
fn mcp_server_outlives_a_daemon_restart() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Arc::default(), None);
    let (mut m, _) = Mcp::start(&d.socket(), Path::new("/tmp"));
    let gate = dir.path().join("gate");
    let cmd = format!("while [ ! -e {} ]; do sleep 0.02; done", gate.display());
    let t = m.ok("delegate_task", json!({"command": ["sh", "-c", cmd]}));
    let id = t["id"].as_i64().unwrap();
    d.wait_state(&id.to_string(), "running");

    // Down: a call fails with a tool error that says why and what to do.
    let (path, scopes, max) = d.stop();
    let e = m.err("task_status", json!({"id": id}));
    assert!(e.starts_with("claudined is not reachable at"), "{e}");
    assert!(e.contains("Try again in a few seconds"), "{e}");
    let t0 = Instant::now();
    let e = m.err("wait_task", json!({"id": id, "timeout_seconds": 1}));
    assert!(e.starts_with("claudined is not reachable at"), "{e}");
    assert!(
        t0.elapsed() >= Duration::from_millis(800),
        "{:?}",
        t0.elapsed()
    );

    // Up again: the same server reaches the new daemon.
    let d = Daemon::start(&path, scopes, max);
    let s = m.ok("task_status", json!({"id": id}));
    assert_eq!(s["state"], "running", "{s}");

    // A wait in flight across a restart goes on and sees the task end.
    let waiting = m.send_request(
        "tools/call",
        json!({"name": "wait_task", "arguments": {"id": id, "timeout_seconds": 60}}),
    );
    // Meanwhile other calls are answered (the wait cannot end before the
    // gate opens, so no answer is skipped here).
    assert_eq!(m.ok("task_status", json!({"id": id}))["state"], "running");
    let (path, scopes, max) = d.stop();
    std::thread::sleep(Duration::from_millis(300));
    let d = Daemon::start(&path, scopes, max);
    std::fs::write(&gate, "").unwrap();
    let (is_error, text) = tool_result("wait_task", &m.answer_to(waiting, Duration::from_secs(60)));
    assert!(!is_error, "{text}");
    let w: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (&w["ended"], &w["task"]["state"]),
        (&json!(true), &json!("succeeded")),
        "{w}"
    );
    drop(d);
}

/// tests/mcp/conformance.sh, the MCP inspector's CLI as the client, against
/// this daemon, when `CLAUDINE_MCP_INSPECTOR` names the inspector's command
/// (e.g. `npx -y @modelcontextprotocol/inspector@2.12.0`; the script's
/// default is that, for the VM).
#[test]
fn conformance_with_the_mcp_inspector() {
    let Some(inspector) = std::env::var_os("CLAUDINE_MCP_INSPECTOR") else {
        eprintln!(
            "SKIPPED: tests/mcp/conformance.sh needs the MCP inspector: \
             set CLAUDINE_MCP_INSPECTOR to its command"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Arc::default(), None);
    let out = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/mcp/conformance.sh"
        ))
        .env("INSPECTOR", inspector)
        .env("CLAUDINECTL", env!("CARGO_BIN_EXE_claudinectl"))
        .env("CLAUDINE_SOCKET", d.socket())
        .env("FREEZE", "optional")
        .output()
        .expect("run tests/mcp/conformance.sh");
    let report = text(&out.stdout);
    eprintln!("{report}");
    assert!(out.status.success(), "{report}{}", text(&out.stderr));
    assert!(report.contains(" passed, 0 failed"), "{report}");
}

/// A prompt delegated through MCP runs as a Claude Code task (the stand-in
/// `claude` of tests/daemon/claude.rs); status shows its session and
/// result, logs its conversation, and resume_task continues the session.
#[test]
fn a_delegated_prompt_is_a_claude_task_that_resume_task_continues() {
    let dir = tempfile::tempdir().unwrap();
    let claude = super::claude::fake_claude(dir.path());
    let path = claude.to_str().unwrap().to_owned();
    let d = Daemon::start_with(dir.path(), Arc::default(), None, move |c| {
        c.claude_path = Some(path);
    });
    let (mut m, _) = Mcp::start(&d.socket(), Path::new("/tmp"));
    let t = m.ok(
        "delegate_task",
        json!({"prompt": "fix the flaky test", "model": "opus", "permission_mode": "acceptEdits"}),
    );
    let id = t["id"].as_i64().unwrap();
    assert_eq!(t["prompt"], "fix the flaky test", "{t}");
    let w = m.ok("wait_task", json!({"id": id, "timeout_seconds": 30}));
    assert_eq!(w["task"]["state"], "succeeded", "{w}");
    let c = &w["task"]["claude"];
    assert_eq!(
        (&c["turns"], &c["tool_uses"]),
        (&json!(2), &json!(1)),
        "{w}"
    );
    assert_eq!(
        (&c["result"], &c["cost_usd"]),
        (&json!("done"), &json!(0.125)),
        "{w}"
    );
    assert_eq!(c["model"], "opus", "{w}");
    let args = std::fs::read_to_string(claude.with_file_name("args.log")).unwrap();
    assert!(args.contains("--permission-mode acceptEdits"), "{args}");
    let conversation = m.ok("task_logs", json!({"id": id}));
    let conversation = conversation.as_str().unwrap();
    assert!(conversation.contains("done"), "{conversation}");
    assert!(!conversation.contains("\"type\""), "{conversation}");
    let raw = m.ok("task_logs", json!({"id": id, "raw": true}));
    assert!(
        raw.as_str().unwrap().contains("\"type\":\"result\""),
        "{raw}"
    );

    let r = m.ok("resume_task", json!({"id": id, "prompt": "now add a test"}));
    assert!(r["note"].as_str().unwrap().contains("continues"), "{r}");
    let w = m.ok("wait_task", json!({"id": id, "timeout_seconds": 30}));
    assert_eq!(w["task"]["state"], "succeeded", "{w}");
    let prompts = std::fs::read_to_string(claude.with_file_name("prompts.log")).unwrap();
    assert!(prompts.contains("now add a test"), "{prompts}");
}

/// The real Claude Code CLI with `claudinectl mcp` as its MCP server
/// (`--mcp-config`), against the fake Messages API scripted to call the
/// tools (`@tool`): the session connects, sees the tools, delegates a
/// command that runs, and waits for it. Runs when `CLAUDINE_TEST_CLAUDE`
/// names the CLI (scripts/fetch-claude.sh prints it) and
/// `CLAUDINE_TEST_FAKE_API` the fake API's binary (`cargo build --example
/// fake_anthropic`).
#[test]
fn real_claude_code_delegates_through_the_mcp_server() {
    let (Some(claude), Some(fake)) = (
        std::env::var_os("CLAUDINE_TEST_CLAUDE"),
        std::env::var_os("CLAUDINE_TEST_FAKE_API"),
    ) else {
        eprintln!(
            "SKIPPED: set CLAUDINE_TEST_CLAUDE (the claude CLI) and CLAUDINE_TEST_FAKE_API \
             (examples/fake_anthropic built) to run Claude Code against claudinectl mcp"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), Arc::default(), None);
    let mut api = Command::new(fake)
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the fake API");
    let mut first = String::new();
    BufReader::new(api.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .trim()
        .strip_prefix("listening on ")
        .expect("its address");
    let config = dir.path().join("mcp.json");
    let server = json!({"mcpServers": {"claudine": {
        "command": env!("CARGO_BIN_EXE_claudinectl"),
        "args": ["--socket", d.socket(), "mcp"],
    }}});
    std::fs::write(&config, server.to_string()).unwrap();
    let marker = dir.path().join("delegated");
    let delegate = json!({"command": ["touch", marker], "cwd": "/tmp"});
    let prompt = format!(
        "delegate a command, then wait for it\n\
         @tool mcp__claudine__delegate_task {delegate}\n\
         @tool mcp__claudine__wait_task {{\"id\": 1, \"timeout_seconds\": 30}}\n\
         @say delegated"
    );
    let t0 = Instant::now();
    let out = Command::new(claude)
        .args(["-p", &prompt, "--output-format", "stream-json", "--verbose"])
        .arg("--mcp-config")
        .arg(&config)
        .args(["--strict-mcp-config", "--allowedTools", "mcp__claudine"])
        .env("ANTHROPIC_BASE_URL", format!("http://{addr}"))
        .env("ANTHROPIC_API_KEY", "test")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("CLAUDE_CONFIG_DIR", dir.path().join("claude-config"))
        .env("CLAUDE_CODE_MAX_RETRIES", "0")
        .current_dir("/tmp")
        .stdin(Stdio::null())
        .output()
        .expect("run claude");
    let _ = api.kill();
    let _ = api.wait();
    let lines: Vec<Value> = text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let all = text(&out.stdout);
    eprintln!("claude -p with claudinectl mcp took {:?}", t0.elapsed());
    let init = lines
        .iter()
        .find(|l| l["subtype"] == "init")
        .expect("an init line");
    let servers = &init["mcp_servers"];
    assert_eq!(
        (&servers[0]["name"], &servers[0]["status"]),
        (&json!("claudine"), &json!("connected")),
        "{init}"
    );
    let tools = init["tools"].to_string();
    for t in ["delegate_task", "wait_task", "task_logs", "resume_task"] {
        assert!(
            tools.contains(&format!("mcp__claudine__{t}")),
            "{t}: {tools}"
        );
    }
    let results: Vec<Value> = lines
        .iter()
        .filter(|l| l["type"] == "user")
        .flat_map(|l| {
            l["message"]["content"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|b| b["type"] == "tool_result")
        .collect();
    assert_eq!(results.len(), 2, "{all}");
    for r in &results {
        assert_ne!(r["is_error"], true, "{r}");
    }
    assert!(
        results[1].to_string().contains("succeeded"),
        "{}",
        results[1]
    );
    assert!(marker.exists(), "the delegated command did not run: {all}");
    let last = lines.last().unwrap();
    assert_eq!(
        (&last["type"], &last["is_error"]),
        (&json!("result"), &json!(false)),
        "{all}"
    );
    assert_eq!(d.json("1")["state"], "succeeded");
}
