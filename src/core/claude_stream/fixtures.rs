//! Stream lines shaped as CLI 2.1.330 prints them (the fields the parser
//! reads, and the ones around them it must skip), for the tests.

use serde_json::{json, Value};

pub const SESSION: &str = "5f0c3b2e-8d8a-4b8e-9f3c-2a7d1e6b4c90";
pub const MODEL: &str = "claude-sonnet-4-5-20250929";

fn line(v: Value) -> String {
    v.to_string()
}

pub fn init() -> String {
    line(json!({
        "type": "system",
        "subtype": "init",
        "cwd": "/home/ada/src/project",
        "session_id": SESSION,
        "tools": ["Task", "Bash", "Glob", "Grep", "ExitPlanMode", "Read", "Edit",
                  "Write", "NotebookEdit", "WebFetch", "TodoWrite", "WebSearch",
                  "BashOutput", "KillShell", "SlashCommand"],
        "mcp_servers": [],
        "model": MODEL,
        "permissionMode": "default",
        "slash_commands": ["compact", "context", "cost", "init", "review"],
        "apiKeySource": "ANTHROPIC_API_KEY",
        "claude_code_version": "2.1.330",
        "output_style": "default",
        "agents": ["general-purpose", "statusline-setup", "output-style-setup"],
        "skills": [],
        "plugins": [],
        "uuid": "0d9c3f1e-7c55-4a38-a3e4-8c3b1c0f5a11"
    }))
}

fn assistant(message_id: &str, content: Value) -> String {
    line(json!({
        "type": "assistant",
        "message": {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [content],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": {
                "input_tokens": 4,
                "cache_creation_input_tokens": 1520,
                "cache_read_input_tokens": 11845,
                "output_tokens": 3,
                "service_tier": "standard"
            }
        },
        "parent_tool_use_id": null,
        "session_id": SESSION,
        "uuid": "7a1c9e5b-2f4d-4c8a-9b3e-6d2f8a0c1e47"
    }))
}

pub fn text(message_id: &str, text: &str) -> String {
    assistant(message_id, json!({"type": "text", "text": text}))
}

pub fn tool_use(message_id: &str, tool_id: &str, name: &str, input: Value) -> String {
    assistant(
        message_id,
        json!({"type": "tool_use", "id": tool_id, "name": name, "input": input}),
    )
}

pub fn bash(message_id: &str, tool_id: &str, command: &str) -> String {
    tool_use(
        message_id,
        tool_id,
        "Bash",
        json!({"command": command, "description": "Run the command"}),
    )
}

pub fn tool_result(tool_id: &str, output: &str, is_error: bool) -> String {
    line(json!({
        "type": "user",
        "message": {
            "role": "user",
            "content": [{
                "tool_use_id": tool_id,
                "type": "tool_result",
                "content": output,
                "is_error": is_error
            }]
        },
        "parent_tool_use_id": null,
        "session_id": SESSION,
        "uuid": "c3e8a2d1-5b7f-4e9c-8a1d-3f6b2c9e0d58",
        "tool_use_result": {
            "stdout": output,
            "stderr": "",
            "interrupted": false,
            "isImage": false
        }
    }))
}

pub fn api_retry(attempt: u64, status: Option<u16>, delay_ms: u64) -> String {
    line(json!({
        "type": "system",
        "subtype": "api_retry",
        "attempt": attempt,
        "max_retries": 10,
        "retry_delay_ms": delay_ms,
        "error_status": status,
        "error": "rate_limit",
        "session_id": SESSION,
        "uuid": "e2b7d4c9-1a3f-4d6e-8b2c-9f0a5e7c3d14"
    }))
}

/// A result line; `status` is `api_error_status`.
pub fn result(is_error: bool, num_turns: u64, text: &str, status: Option<u16>) -> String {
    line(json!({
        "type": "result",
        "subtype": "success",
        "is_error": is_error,
        "duration_ms": 2519,
        "duration_api_ms": 1874,
        "num_turns": num_turns,
        "result": text,
        "stop_reason": "end_turn",
        "session_id": SESSION,
        "total_cost_usd": 0.0234567,
        "usage": {
            "input_tokens": 12,
            "cache_creation_input_tokens": 1520,
            "cache_read_input_tokens": 23690,
            "output_tokens": 187,
            "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
            "service_tier": "standard",
            "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 1520}
        },
        "modelUsage": {
            MODEL: {
                "inputTokens": 12, "outputTokens": 187,
                "cacheReadInputTokens": 23690, "cacheCreationInputTokens": 1520,
                "webSearchRequests": 0, "costUSD": 0.0234567, "contextWindow": 200000
            }
        },
        "permission_denials": [],
        "terminal_reason": "completed",
        "api_error_status": status,
        "uuid": "9b4e1f7a-3c8d-4a2b-b5e6-0d7c2a9f8e31"
    }))
}

/// The two-turn Bash session the VM suite runs: init, a tool call, its
/// result, the answer, the result line.
pub fn bash_session() -> Vec<String> {
    vec![
        init(),
        bash("msg_01A", "toolu_01X", "echo hello"),
        tool_result("toolu_01X", "hello\n", false),
        text("msg_01B", "The command printed hello."),
        result(false, 2, "The command printed hello.", None),
    ]
}
