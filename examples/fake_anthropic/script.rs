//! The directives in the prompt (the language is described in main.rs) and
//! what a request's `messages` array says about the conversation so far:
//! together they decide the fake model's next reply, with no server state.

use crate::reply::Block;
use serde_json::{json, Value};

/// One tool call the fake model makes.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolCall {
    Bash(String),
    Write {
        path: String,
        text: String,
    },
    /// Any tool by name with a JSON input (`@tool NAME {...}`), e.g. an
    /// MCP server's `mcp__claudine__list_tasks`.
    Named {
        name: String,
        input: Value,
    },
}

/// An error answer asked for by `@status`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusDirective {
    pub code: u16,
    pub reset: Option<Reset>,
    /// Seconds for `retry-after`; `Some(None)` is `retry-after=none`: no header.
    pub retry_after: Option<Option<u64>>,
    pub claim: Option<String>,
    pub should_retry: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reset {
    At(u64),
    In(u64),
}

impl Reset {
    pub fn at(self, now: u64) -> u64 {
        match self {
            Reset::At(t) => t,
            Reset::In(s) => now + s,
        }
    }
}

/// The directives of one prompt.
#[derive(Debug, Default, PartialEq)]
pub struct Script {
    pub tools: Vec<ToolCall>,
    pub turns: Option<usize>,
    pub say: Vec<String>,
    pub delay_ms: u64,
    pub status: Option<StatusDirective>,
    pub status_times: Option<u32>,
}

impl Script {
    /// The directives in `text`, or None when it holds none.
    pub fn parse(text: &str) -> Option<Script> {
        let mut s = Script::default();
        let mut any = false;
        for line in text.lines() {
            let line = line.trim();
            let Some(rest) = line.strip_prefix('@') else {
                continue;
            };
            let (word, arg) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let arg = arg.trim();
            let known = match word {
                "bash" if !arg.is_empty() => {
                    s.tools.push(ToolCall::Bash(arg.to_string()));
                    true
                }
                "write" => match arg.split_once(char::is_whitespace) {
                    Some((path, text)) => {
                        s.tools.push(ToolCall::Write {
                            path: path.to_string(),
                            text: text.trim().to_string(),
                        });
                        true
                    }
                    None => false,
                },
                "tool" => {
                    let (name, input) = arg.split_once(char::is_whitespace).unwrap_or((arg, "{}"));
                    match serde_json::from_str::<Value>(input.trim()) {
                        Ok(input) if !name.is_empty() && input.is_object() => {
                            s.tools.push(ToolCall::Named {
                                name: name.to_string(),
                                input,
                            });
                            true
                        }
                        _ => false,
                    }
                }
                "turns" => arg.parse().map(|n| s.turns = Some(n)).is_ok(),
                "say" => {
                    s.say.push(arg.to_string());
                    true
                }
                "delay-ms" => arg.parse().map(|n| s.delay_ms = n).is_ok(),
                "status" => parse_status(arg).map(|d| s.status = Some(d)).is_some(),
                "status-times" => arg.parse().map(|n| s.status_times = Some(n)).is_ok(),
                _ => false,
            };
            any |= known;
        }
        any.then_some(s)
    }

    pub fn tool_turns(&self) -> usize {
        self.turns.unwrap_or(self.tools.len())
    }

    /// The tool call of tool turn `k` (0-based).
    pub fn tool(&self, k: usize) -> ToolCall {
        match self.tools.get(k).or(self.tools.last()) {
            Some(t) => t.clone(),
            None => ToolCall::Bash(format!("echo turn {}", k + 1)),
        }
    }

    pub fn final_text(&self) -> String {
        if self.say.is_empty() {
            "done".to_string()
        } else {
            self.say.join("\n")
        }
    }
}

pub fn parse_status(arg: &str) -> Option<StatusDirective> {
    let mut words = arg.split_whitespace();
    let code: u16 = words.next()?.parse().ok()?;
    let mut d = StatusDirective {
        code,
        reset: None,
        retry_after: None,
        claim: None,
        should_retry: None,
    };
    for w in words {
        match w.split_once('=')? {
            ("reset", v) => {
                d.reset = Some(match v.strip_prefix('+') {
                    Some(s) => Reset::In(s.parse().ok()?),
                    None => Reset::At(v.parse().ok()?),
                })
            }
            ("retry-after", "none") => d.retry_after = Some(None),
            ("retry-after", v) => d.retry_after = Some(Some(v.parse().ok()?)),
            ("claim", v) => d.claim = Some(v.to_string()),
            ("should-retry", v) => d.should_retry = Some(v.parse().ok()?),
            _ => return None,
        }
    }
    Some(d)
}

/// What a request's `messages` array says about the conversation so far.
#[derive(Debug, Default, PartialEq)]
pub struct Conversation {
    pub messages: usize,
    /// The text of every prompt (a user message without a tool_result), oldest first.
    pub prompts: Vec<String>,
    pub assistant_turns: usize,
    pub tool_results: usize,
    /// Assistant messages with a tool_use since the last prompt.
    pub tool_calls_since_prompt: usize,
}

impl Conversation {
    pub fn read(messages: &[Value]) -> Conversation {
        let mut c = Conversation {
            messages: messages.len(),
            ..Conversation::default()
        };
        for m in messages {
            let blocks = blocks(&m["content"]);
            let has = |ty: &str| blocks.iter().any(|b| b["type"] == ty);
            match m["role"].as_str() {
                Some("user") if has("tool_result") => {
                    c.tool_results += blocks.iter().filter(|b| b["type"] == "tool_result").count();
                }
                Some("user") => {
                    // The CLI puts its own `<system-reminder>` text blocks before the prompt.
                    let text: Vec<&str> = blocks
                        .iter()
                        .filter(|b| b["type"] == "text")
                        .filter_map(|b| b["text"].as_str())
                        .filter(|t| !t.starts_with("<system-reminder>"))
                        .collect();
                    c.prompts.push(text.join("\n"));
                    c.tool_calls_since_prompt = 0;
                }
                Some("assistant") => {
                    c.assistant_turns += 1;
                    if has("tool_use") {
                        c.tool_calls_since_prompt += 1;
                    }
                }
                _ => {} // 2.1.330 inserts a role "system" entry: not a turn.
            }
        }
        c
    }

    /// The script: the newest prompt's directives, else an older prompt's.
    pub fn script(&self) -> Script {
        self.prompts
            .iter()
            .rev()
            .find_map(|p| Script::parse(p))
            .unwrap_or_default()
    }
}

/// A message's content as a list of blocks (a plain string is one text block).
pub fn blocks(content: &Value) -> Vec<Value> {
    match content {
        Value::String(s) => vec![json!({"type": "text", "text": s})],
        Value::Array(a) => a.clone(),
        _ => Vec::new(),
    }
}

/// The reply blocks and stop reason for a conversation under its script.
pub fn model_reply(conv: &Conversation, script: &Script) -> (Vec<Block>, &'static str) {
    let k = conv.tool_calls_since_prompt;
    if k < script.tool_turns() {
        let (say, name, input) = match script.tool(k) {
            ToolCall::Bash(cmd) => (
                format!("Running: {cmd}"),
                "Bash".to_string(),
                json!({"command": cmd, "description": format!("scripted tool turn {}", k + 1)}),
            ),
            ToolCall::Write { path, text } => (
                format!("Writing {path}"),
                "Write".to_string(),
                json!({"file_path": path, "content": format!("{text}\n")}),
            ),
            ToolCall::Named { name, input } => (format!("Calling {name}"), name, input),
        };
        (
            vec![Block::Text(say), Block::ToolUse { name, input }],
            "tool_use",
        )
    } else {
        (vec![Block::Text(script.final_text())], "end_turn")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_tool_takes_a_json_object() {
        let s =
            Script::parse("@tool mcp__claudine__list_tasks {\"limit\": 5}\n@tool Bad [1]").unwrap();
        assert_eq!(
            s.tools,
            [ToolCall::Named {
                name: "mcp__claudine__list_tasks".into(),
                input: json!({"limit": 5}),
            }]
        );
    }

    #[test]
    fn directives_are_lines_starting_with_at() {
        let s = Script::parse(
            "do this\n@bash touch /tmp/x\n  @delay-ms 50\n@say all good\n@nonsense 1",
        )
        .unwrap();
        assert_eq!(s.tools, vec![ToolCall::Bash("touch /tmp/x".into())]);
        assert_eq!(
            (s.delay_ms, s.final_text(), s.tool_turns()),
            (50, "all good".into(), 1)
        );
        assert_eq!(Script::parse("no directives, just @mentions"), None);
    }

    #[test]
    fn turns_follow_tool_results_and_survive_resume() {
        let prompt = json!({"role": "user", "content": [{"type": "text", "text": "go\n@bash true\n@turns 2"}]});
        let system = json!({"role": "system", "content": "reminder"});
        let call = json!({"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "Bash", "input": {}}]});
        let result = json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]});
        let done = json!({"role": "assistant", "content": [{"type": "text", "text": "done"}]});
        let next = json!({"role": "user", "content": "next"});
        let step = |msgs: &[Value]| {
            let c = Conversation::read(msgs);
            let (_, stop) = model_reply(&c, &c.script());
            (c.tool_calls_since_prompt, stop)
        };
        assert_eq!(step(&[prompt.clone(), system.clone()]), (0, "tool_use"));
        let two = [prompt.clone(), system.clone(), call.clone(), result.clone()];
        assert_eq!(step(&two), (1, "tool_use"));
        let mut all = two.to_vec();
        all.extend([call.clone(), result.clone()]);
        assert_eq!(step(&all), (2, "end_turn"));
        all.extend([done, next]);
        let c = Conversation::read(&all);
        assert_eq!(
            (c.prompts.len(), c.assistant_turns, c.tool_results),
            (2, 3, 2)
        );
        assert_eq!(
            c.script().tool_turns(),
            2,
            "a resumed prompt replays the first script"
        );
        assert_eq!(step(&all), (0, "tool_use"));
    }
}
