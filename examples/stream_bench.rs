//! Throughput of the Claude Code stream parser, natively.
//!
//! `cargo run --release --example stream_bench -- [LINES] [RUNS]` (defaults
//! 200000, 7): a synthetic recorded stream of LINES lines in sessions of
//! about 50 (init, model messages one block per line, tool calls and their
//! results, the odd API retry, rate-limit event and unknown line, a result
//! line), with sizes drawn like a working session's: text blocks of 50 B to
//! 2 KB, tool inputs up to 8 KB, tool output mostly under 1.5 KB with a tail
//! to 64 KB (printed twice per line, as the CLI does: the block and
//! `tool_use_result`). Times `parse_line` alone and `parse_line` +
//! `Progress::apply`, RUNS times each, and prints the medians; then the
//! short lines alone (under 1 KiB: the per-line overhead), one 5 MB result
//! line and one 5 MB tool output.

use claudine::core::claude_stream::{parse_line, Progress, StreamLine};
use serde_json::json;
use std::hint::black_box;
use std::time::Instant;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below((hi - lo) as u64) as usize
    }
}

const CORPUS: &str = "fn main() {\n    println!(\"hello, world\");\n}\n\
    src/core/scheduler.rs:42:    let ids = order(&lanes, &policy, now_ms);\n\
    total 48\ndrwxr-xr-x  5 ada ada 4096 Mar  3 10:12 .\n-rw-r--r--  1 ada ada  812 Cargo.toml\n\
    I'll look at the failing test first — it expects the \"queued\" state. Ünïcödé, 中文, 🦀.\n\
    error[E0308]: mismatched types\n  --> src/lib.rs:7:5\n   |\n7  |     x\n   |     ^ expected `u64`\n";

fn text(rng: &mut Rng, len: usize) -> String {
    let mut s = String::with_capacity(len + 64);
    while s.len() < len {
        let from = rng.below(CORPUS.len() as u64 / 2) as usize;
        let from = (from..CORPUS.len())
            .find(|&i| CORPUS.is_char_boundary(i))
            .unwrap();
        s.push_str(&CORPUS[from..]);
    }
    let mut end = len;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s
}

/// Tool output: mostly small, a long tail.
fn output_len(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..=79 => rng.range(100, 1536),
        80..=97 => rng.range(1536, 8 << 10),
        _ => rng.range(8 << 10, 64 << 10),
    }
}

fn session(rng: &mut Rng, s: usize, lines: &mut Vec<String>) {
    let sid = format!("5f0c3b2e-8d8a-4b8e-9f3c-{s:012x}");
    let model = "claude-sonnet-4-5-20250929";
    lines.push(
        json!({"type": "system", "subtype": "init", "cwd": "/home/ada/src/project",
        "session_id": sid, "tools": ["Task", "Bash", "Glob", "Grep", "Read", "Edit", "Write",
        "NotebookEdit", "WebFetch", "TodoWrite", "WebSearch", "BashOutput", "KillShell"],
        "mcp_servers": [], "model": model, "permissionMode": "default",
        "slash_commands": ["compact", "context", "cost", "init", "review"],
        "apiKeySource": "ANTHROPIC_API_KEY", "claude_code_version": "2.1.330",
        "output_style": "default", "agents": ["general-purpose"], "skills": [], "plugins": [],
        "uuid": "0d9c3f1e-7c55-4a38-a3e4-8c3b1c0f5a11"})
        .to_string(),
    );
    let turns = rng.range(8, 17);
    for turn in 0..turns {
        let mid = format!("msg_01{s:08x}{turn:04x}");
        let assistant = |content: serde_json::Value| {
            json!({"type": "assistant", "message": {"id": mid, "type": "message",
                "role": "assistant", "model": model, "content": [content],
                "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 4, "cache_creation_input_tokens": 1520,
                          "cache_read_input_tokens": 11845, "output_tokens": 3}},
                "parent_tool_use_id": null, "session_id": sid,
                "uuid": "7a1c9e5b-2f4d-4c8a-9b3e-6d2f8a0c1e47"})
            .to_string()
        };
        if rng.below(40) == 0 {
            lines.push(
                json!({"type": "system", "subtype": "api_retry", "attempt": 1,
                "max_retries": 10, "retry_delay_ms": 544, "error_status": 529,
                "error": "overloaded", "session_id": sid})
                .to_string(),
            );
        }
        if rng.below(30) == 0 {
            lines.push(
                json!({"type": "rate_limit_event", "rate_limit_info": {
                "status": "allowed", "resetsAt": 1_784_079_000u64, "rateLimitType": "five_hour"},
                "session_id": sid})
                .to_string(),
            );
        }
        let len = rng.range(50, 2048);
        lines.push(assistant(json!({"type": "text", "text": text(rng, len)})));
        if turn + 1 == turns {
            break;
        }
        for call in 0..rng.range(1, 4) {
            let tid = format!("toolu_01{s:08x}{turn:04x}{call}");
            let (name, input) = match rng.below(4) {
                0 => (
                    "Bash",
                    json!({"command": text(rng, 80), "description": "Run it"}),
                ),
                1 => (
                    "Read",
                    json!({"file_path": "/home/ada/src/project/src/lib.rs"}),
                ),
                2 => {
                    let len = rng.range(200, 8 << 10);
                    (
                        "Write",
                        json!({"file_path": "/tmp/x.rs", "content": text(rng, len)}),
                    )
                }
                _ => ("Grep", json!({"pattern": "fn main", "path": "src"})),
            };
            lines.push(assistant(
                json!({"type": "tool_use", "id": tid, "name": name, "input": input}),
            ));
            let len = output_len(rng);
            let out = text(rng, len);
            lines.push(
                json!({"type": "user", "message": {"role": "user", "content": [
                {"tool_use_id": tid, "type": "tool_result", "content": out, "is_error": false}]},
                "parent_tool_use_id": null, "session_id": sid,
                "uuid": "c3e8a2d1-5b7f-4e9c-8a1d-3f6b2c9e0d58",
                "tool_use_result": {"stdout": out, "stderr": "", "interrupted": false,
                                    "isImage": false}})
                .to_string(),
            );
        }
        if rng.below(50) == 0 {
            lines.push(
                json!({"type": "system", "subtype": "compact_boundary",
                "session_id": sid})
                .to_string(),
            );
        }
    }
    let len = rng.range(50, 2048);
    lines.push(
        json!({"type": "result", "subtype": "success", "is_error": false,
        "duration_ms": 52519, "duration_api_ms": 41874, "num_turns": turns,
        "result": text(rng, len), "session_id": sid, "total_cost_usd": 0.234567,
        "usage": {"input_tokens": 1200, "cache_creation_input_tokens": 15200,
                  "cache_read_input_tokens": 236900, "output_tokens": 18700,
                  "server_tool_use": {"web_search_requests": 0}, "service_tier": "standard"},
        "permission_denials": [], "terminal_reason": "completed",
        "uuid": "9b4e1f7a-3c8d-4a2b-b5e6-0d7c2a9f8e31"})
        .to_string(),
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Runs `f` `runs` times; the median of the seconds each took.
fn time(runs: usize, mut f: impl FnMut() -> u64) -> f64 {
    median(
        (0..runs)
            .map(|_| {
                let t0 = Instant::now();
                black_box(f());
                t0.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers: LINES RUNS"))
        .collect();
    let want = args.first().copied().unwrap_or(200_000);
    let runs = args.get(1).copied().unwrap_or(7).max(1);

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut lines = Vec::with_capacity(want + 64);
    let mut sessions = Vec::new();
    while lines.len() < want {
        sessions.push(lines.len());
        session(&mut rng, sessions.len(), &mut lines);
    }
    sessions.push(lines.len());
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    let mb = bytes as f64 / 1e6;
    let mut kinds = [0usize; 8];
    for l in &lines {
        kinds[kind(&parse_line(l.as_bytes()))] += 1;
    }
    println!(
        "stream: {} lines in {} sessions, {:.1} MB (mean {} B, longest {} B); \
         init {}, assistant {}, user {}, api_retry {}, rate_limit {}, result {}, unknown {}, malformed {}",
        lines.len(),
        sessions.len() - 1,
        mb,
        bytes / lines.len(),
        lines.iter().map(String::len).max().unwrap_or(0),
        kinds[0], kinds[1], kinds[2], kinds[3], kinds[4], kinds[5], kinds[6], kinds[7],
    );

    let parse_only = time(runs, || {
        lines
            .iter()
            .map(|l| kind(&parse_line(black_box(l.as_bytes()))) as u64)
            .sum()
    });
    let with_progress = time(runs, || {
        let mut n = 0u64;
        for w in sessions.windows(2) {
            let mut p = Progress::new();
            for (i, l) in lines[w[0]..w[1]].iter().enumerate() {
                n += p
                    .apply(&parse_line(black_box(l.as_bytes())), i as i64)
                    .len() as u64;
            }
            n += p.turns();
        }
        n
    });
    let n = lines.len() as f64;
    for (what, secs) in [
        ("parse_line", parse_only),
        ("parse_line + Progress::apply", with_progress),
    ] {
        println!(
            "{what}: median of {runs} runs {:.3} s: {:.0} lines/s, {:.0} MB/s, {:.2} us/line",
            secs,
            n / secs,
            mb / secs,
            secs / n * 1e6
        );
    }

    let small: Vec<&String> = lines.iter().filter(|l| l.len() < 1024).collect();
    let small_mb = small.iter().map(|l| l.len() + 1).sum::<usize>() as f64 / 1e6;
    let secs = time(runs, || {
        small
            .iter()
            .map(|l| kind(&parse_line(black_box(l.as_bytes()))) as u64)
            .sum()
    });
    println!(
        "parse_line, the {} lines under 1 KiB ({:.1} MB): {:.0} lines/s, {:.0} MB/s, {:.2} us/line",
        small.len(),
        small_mb,
        small.len() as f64 / secs,
        small_mb / secs,
        secs / small.len() as f64 * 1e6
    );

    let big_text = text(&mut rng, 5 << 20);
    let big_result = json!({"type": "result", "subtype": "success", "is_error": false,
        "num_turns": 3, "result": big_text})
    .to_string();
    let big_output = json!({"type": "user", "message": {"content": [{"type": "tool_result",
        "tool_use_id": "t", "content": big_text}]}, "tool_use_result": {"stdout": big_text}})
    .to_string();
    for (what, line) in [
        ("5 MB result text", &big_result),
        ("5 MB tool output (twice)", &big_output),
    ] {
        let secs = time(runs, || {
            kind(&parse_line(black_box(line.as_bytes()))) as u64
        });
        println!(
            "one line, {what}, {:.1} MB: {:.2} ms, {:.0} MB/s",
            line.len() as f64 / 1e6,
            secs * 1e3,
            line.len() as f64 / 1e6 / secs
        );
    }
}

fn kind(l: &StreamLine) -> usize {
    match l {
        StreamLine::Init(_) => 0,
        StreamLine::Assistant(_) => 1,
        StreamLine::User(_) => 2,
        StreamLine::ApiRetry(_) => 3,
        StreamLine::RateLimit(_) => 4,
        StreamLine::Result(_) => 5,
        StreamLine::Unknown(_) => 6,
        StreamLine::Malformed(_) => 7,
    }
}
