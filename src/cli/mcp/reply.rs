//! What the tools answer.
//!
//! A tool returns [`Answer`]: `Ok(text)` is its result, `Err(text)` a tool
//! error (`isError: true`) that the model reads and can act on — a bad
//! argument, an error of claudined with its own message, claudined not
//! reachable. Nothing here becomes a JSON-RPC error. Results are one line
//! of JSON; a task is shown in brief ([`task`]): what it runs, its state,
//! how it ended or why it waits, no field that is empty.

use crate::cli::error::CliError;
use crate::cli::format;
use crate::core::TaskId;
use crate::proto::TaskView;
use serde_json::{json, Map, Value};

/// A tool's answer: `Ok` a result, `Err` a tool error, both as text.
pub type Answer = Result<String, String>;

/// Characters of a prompt or a Claude result shown in a brief.
const PREVIEW_CHARS: usize = 300;

/// A JSON value as an answer's text.
pub fn json_text(v: &Value) -> String {
    v.to_string()
}

/// A task id from a tool argument: ids start at 1.
pub fn task_id(id: u64) -> Result<TaskId, String> {
    match TaskId::try_from(id) {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(format!("invalid task id {id}: ids are positive numbers")),
    }
}

/// The tool error for a failed request to claudined. `in_flight` is
/// added when the connection broke after the request was sent: what the
/// model should check before trying again.
pub fn daemon_error(e: CliError, in_flight: &str) -> String {
    match &e {
        CliError::Connect { socket, source }
            if source.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            format!(
                "permission denied on claudined's socket {}: the user running this MCP \
                 server must be in group 'claudine'",
                socket.display()
            )
        }
        CliError::Connect { socket, source } => format!(
            "claudined is not reachable at {} ({source}): it is not running, or it is \
             restarting; tasks keep running meanwhile. Try again in a few seconds.",
            socket.display()
        ),
        CliError::Disconnected { detail, .. } => {
            let mut msg = format!(
                "the connection to claudined broke before it answered ({detail}); \
                 it may be restarting. Try again in a few seconds."
            );
            if !in_flight.is_empty() {
                msg.push(' ');
                msg.push_str(in_flight);
            }
            msg
        }
        _ => e.to_string(),
    }
}

/// How much of a task to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// One task asked for: everything useful.
    Full,
    /// A row of a list.
    Row,
}

/// A task in brief, as a JSON object without empty fields.
pub fn task(t: &TaskView, detail: Detail, now_ms: i64) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            m.insert(k.to_owned(), v);
        }
    };
    put("id", json!(t.id));
    put("state", json!(t.state.as_str()));
    put("priority", json!(t.priority.as_str()));
    match &t.claude {
        Some(c) => put("prompt", json!(preview(&c.prompt, detail))),
        None => put("command", json!(format::shell_join(&t.argv))),
    }
    if detail == Detail::Full {
        put("cwd", json!(t.cwd));
        put("created", time(t.created_ms));
        put("started", t.started_ms.map_or(Value::Null, time));
        put("finished", t.finished_ms.map_or(Value::Null, time));
    }
    if let Some(started) = t.started_ms {
        let end = t.finished_ms.unwrap_or(now_ms);
        put("ran_for", json!(format::duration(end - started)));
    }
    put("exit_code", json!(t.exit_code));
    put("signal", json!(t.signal));
    if t.state.is_terminal() || detail == Detail::Full {
        put("reason", json!(t.reason));
    }
    if t.state.is_active() {
        put("cancel_requested", json!(t.cancel_requested));
    }
    put("queue_position", json!(t.queue_position));
    put("waiting", json!(t.waiting_reason));
    if detail == Detail::Full {
        put(
            "estimated_start",
            t.estimated_start_ms.map_or(Value::Null, time),
        );
        if t.attempts > 1 {
            put("attempts", json!(t.attempts));
        }
        if let Some(w) = &t.worktree {
            put(
                "worktree",
                json!({"path": w.path, "branch": w.branch, "removed": w.removed}),
            );
        }
        match &t.dependencies {
            Some(deps) => put(
                "after",
                Value::Array(
                    deps.iter()
                        .map(|d| json!({"id": d.id, "state": d.state.map(|s| s.as_str())}))
                        .collect(),
                ),
            ),
            None if !t.after.is_empty() => put("after", json!(t.after)),
            None => {}
        }
        if t.after_any {
            put("after_any", json!(true));
        }
        if let Some(r) = &t.resources {
            put("memory_bytes", json!(r.memory_bytes));
            put("memory_peak_bytes", json!(r.memory_peak_bytes));
            put("cpu_percent", json!(r.cpu_percent));
            put("activity", json!(r.activity));
        }
    }
    if let Some(c) = &t.claude {
        put("claude", claude(c, detail));
    }
    Value::Object(m)
}

/// A Claude Code task's session and what its runs showed.
fn claude(c: &crate::proto::ClaudeView, detail: Detail) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            m.insert(k.to_owned(), v);
        }
    };
    put("session_id", json!(c.session_id));
    put("held", json!(c.held));
    if detail == Detail::Full {
        put("model", json!(c.options.model));
        put(
            "next_prompt",
            json!(c.next_prompt.as_deref().map(|p| preview(p, detail))),
        );
    }
    if let Some(p) = &c.progress {
        put("turns", json!(p.turns()));
        put("tool_uses", json!(p.tool_uses));
        if detail == Detail::Full {
            put("last_tool", json!(p.last_tool));
            put("retrying", json!(p.retrying.as_ref().map(|r| r.describe())));
            if p.result.is_none() {
                put(
                    "last_text",
                    json!(p.last_text.as_ref().map(|t| t.preview.clone())),
                );
            }
        }
        if let Some(r) = &p.result {
            put("cost_usd", json!(r.total_cost_usd));
            put("is_error", json!(r.is_error));
            put(
                "result",
                json!(r.result.as_ref().map(|t| t.preview.clone())),
            );
            if r.permission_denials > 0 {
                put("permission_denials", json!(r.permission_denials));
                put("denied_tools", json!(r.denied_tools));
            }
        }
    }
    Value::Object(m)
}

fn preview(s: &str, detail: Detail) -> String {
    let chars = match detail {
        Detail::Full => PREVIEW_CHARS,
        Detail::Row => 80,
    };
    format::truncate(s, chars).into_owned()
}

/// An instant as RFC 3339 in the local zone, to the second.
fn time(ms: i64) -> Value {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => json!(t
            .with_timezone(&chrono::Local)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        None => Value::Null,
    }
}

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
