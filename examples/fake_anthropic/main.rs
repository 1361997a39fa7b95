//! A fake of Anthropic's Messages API, so tests can run the real `claude` CLI
//! (headless, `-p … --output-format stream-json`) with scripted model replies.
//!
//! `cargo build --release --example fake_anthropic`, then
//! `fake_anthropic --port 0 [--log FILE] [--dump DIR]`: listens on
//! 127.0.0.1:PORT (0 picks a free port) and prints `listening on 127.0.0.1:N`
//! on stdout first. Point the CLI at it with
//! `ANTHROPIC_BASE_URL=http://127.0.0.1:N ANTHROPIC_API_KEY=x`.
//!
//! It answers `POST /v1/messages` (the CLI adds `?beta=true`) with the
//! standard SSE stream — `message_start`, `ping`, per content block
//! `content_block_start` / `content_block_delta` (`text_delta` or
//! `input_json_delta`) / `content_block_stop`, then `message_delta` (stop
//! reason `tool_use` or `end_turn`, usage) and `message_stop` — over chunked
//! HTTP/1.1 with keep-alive. Any other path gets a 404 JSON error. Token
//! counts are rough: input = request bytes / 4, output = reply bytes / 4.
//!
//! # Directives
//!
//! The model's replies are scripted by lines in the prompt that start with
//! `@`, so the server keeps no conversation state and a `--resume` still
//! follows the script. The script is read from the newest prompt (a user
//! message without a `tool_result`) that holds any directive; a resumed
//! prompt without directives (`claude -p next --resume ID`) replays the first
//! prompt's script. Unknown `@` lines are ignored.
//!
//! | line | effect |
//! | --- | --- |
//! | `@bash CMD` | a tool turn: a Bash tool call running CMD; several lines run in order, one turn each |
//! | `@write PATH TEXT` | a tool turn: a Write tool call creating PATH (absolute) with TEXT and a newline |
//! | `@tool NAME JSON` | a tool turn: a call of any tool by name with the JSON object as input (e.g. an MCP server's `mcp__claudine__list_tasks {}`) |
//! | `@turns N` | N tool turns; past the listed calls the last one repeats (none listed: `echo turn K`) |
//! | `@say TEXT` | the final reply's text (several lines are joined; default `done`) |
//! | `@delay-ms N` | sleep N ms before each SSE event after the first (a slow model) |
//! | `@status CODE [reset=T] [retry-after=S] [claim=C] [should-retry=B]` | answer with HTTP CODE and an Anthropic error body |
//! | `@status-times N` | only the first N requests of a session get `@status` (counted per session id while the server runs) |
//!
//! A model whose name does not start with `claude` gets a 404
//! `not_found_error` (`model: NAME`), as the API answers an unknown model.
//!
//! Turns: after the prompt, each request whose conversation holds fewer
//! tool calls since that prompt than there are tool turns gets the next tool
//! call (a short text block, then the `tool_use` block, stop reason
//! `tool_use`); once every tool call has its `tool_result`, the next request
//! gets the final text with `end_turn`. So `@bash touch /tmp/f` is a run of
//! two turns, and the CLI's `result` line says `num_turns: 2`.
//!
//! `@status`: 429 is `rate_limit_error`, 529 `overloaded_error`, 500
//! `api_error` (400/401/403/404/413 have their own types). With `reset=T`
//! (unix seconds, or `+S` for S seconds from each request) a 429 also carries
//! the subscription headers the CLI reads — `anthropic-ratelimit-unified-status:
//! rejected`, `anthropic-ratelimit-unified-reset: T`,
//! `anthropic-ratelimit-unified-representative-claim: C` (default
//! `five_hour`) — and the API-key ones `anthropic-ratelimit-requests-*`
//! (reset as RFC 3339); `retry-after` is S when given (`none`: no such
//! header), else the seconds left until T. `should-retry=false` sends
//! `x-should-retry: false`, which the CLI obeys (no retry).
//!
//! What 2.1.330 does with them (API-key auth, measured): it retries 429,
//! 529 and 500 up to `CLAUDE_CODE_MAX_RETRIES` times, printing a
//! `{"type":"system","subtype":"api_retry","attempt":…,"retry_delay_ms":…,
//! "error_status":…}` line before each wait; the wait is `retry-after` plus
//! up to about 25 % when `retry-after` is at most 60 s, and exponential
//! back-off from about 0.5 s without it. A `retry-after` over 60 s ends the
//! run at once (no retry). The `anthropic-ratelimit-unified-*` headers
//! neither change the wait nor appear in the output (they are read for
//! claude.ai subscriptions); the `result` text is `API Error: Request
//! rejected (429) · MESSAGE` with the body's error message.
//!
//! # Records
//!
//! `--log FILE` appends one JSON object per request: `ts_ms`, `method`,
//! `path`, `session_id` (header `X-Claude-Code-Session-Id`), `retry_count`
//! (header `x-stainless-retry-count`), `model`, `messages` (entries in the
//! `messages` array), `prompts` (each prompt's first 80 characters),
//! `assistant_turns`, `tool_results`, `earlier_turns` (true when the
//! conversation already holds an assistant message: a later turn, or a
//! resumed session), `reply` (`tool_use`, `text`, `error`, `not_found`,
//! `bad_request`) and `status`. `--dump DIR` also writes each request's
//! headers and body to DIR/NNNN.json.
//!
//! # Layout
//!
//! `script` reads the directives and the conversation and picks the reply
//! (pure); `reply` turns it into SSE events, or a scripted error into a body
//! and headers; `http` parses requests and writes answers; `server` runs the
//! connections, keeps the `@status-times` counts and writes the records.

mod http;
mod reply;
mod script;
mod server;

use server::{run, Server};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;

const USAGE: &str = "usage: fake_anthropic [--port N] [--log FILE] [--dump DIR]";

fn parse_args() -> Result<(u16, Option<PathBuf>, Option<PathBuf>), String> {
    let (mut port, mut log, mut dump) = (0u16, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value\n{USAGE}"));
        match a.as_str() {
            "--port" => port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--log" => log = Some(PathBuf::from(value()?)),
            "--dump" => dump = Some(PathBuf::from(value()?)),
            "-h" | "--help" => return Err(USAGE.to_string()),
            _ => return Err(format!("unknown argument {a:?}\n{USAGE}")),
        }
    }
    Ok((port, log, dump))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (port, log, dump) = parse_args().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let log = log.map(|p| {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p);
        f.unwrap_or_else(|e| panic!("cannot open log {}: {e}", p.display()))
    });
    if let Some(d) = &dump {
        std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("cannot create {}: {e}", d.display()));
    }
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| panic!("cannot listen on 127.0.0.1:{port}: {e}"));
    let addr = listener.local_addr().expect("local address");
    println!("listening on {addr}");
    std::io::stdout().flush().expect("stdout");
    run(listener, Arc::new(Server::new(log, dump))).await;
}
