//! `claudinectl status` of a Claude Code task: the prompt, the session, the
//! CLI's version, and what the running (or last) run's stream showed —
//! turns, tools, tokens, cost, the result.

use crate::cli::format;
use crate::proto::ClaudeView;

/// The `key: value` lines of a Claude task.
pub fn lines(c: &ClaudeView, fields: &mut Vec<(&'static str, String)>) {
    let clean = |s: &str| format::sanitize(s).into_owned();
    let one_line = |s: &str| clean(&s.split_whitespace().collect::<Vec<_>>().join(" "));
    let mut prompt = one_line(&c.prompt);
    if c.prompt_bytes > c.prompt.len() || prompt.chars().count() > 200 {
        prompt = prompt.chars().take(200).collect::<String>() + "…";
    }
    fields.push(("prompt", format!("{prompt} ({} bytes)", c.prompt_bytes)));
    if let Some(next) = &c.next_prompt {
        fields.push(("next prompt", one_line(next)));
    }
    let started = if c.session_started {
        ""
    } else {
        " (not started yet)"
    };
    fields.push(("session", format!("{}{started}", c.session_id)));
    if let Some(from) = c.continue_from {
        fields.push(("continues", format!("a copy of task {from}'s session")));
    }
    let version = c
        .version
        .as_deref()
        .map(clean)
        .unwrap_or_else(|| "?".into());
    fields.push(("claude", format!("{} ({})", version, clean(&c.binary))));
    let o = &c.options;
    let mut opts = Vec::new();
    if let Some(m) = &o.model {
        opts.push(format!("model {}", clean(m)));
    }
    if let Some(p) = &o.permission_mode {
        opts.push(format!("permission mode {}", clean(p)));
    }
    if !o.allowed_tools.is_empty() {
        opts.push(format!("allowed {}", clean(&o.allowed_tools.join(", "))));
    }
    if !o.disallowed_tools.is_empty() {
        opts.push(format!(
            "disallowed {}",
            clean(&o.disallowed_tools.join(", "))
        ));
    }
    if let Some(n) = o.max_turns {
        opts.push(format!("max {n} turns"));
    }
    if !o.mcp_config.is_empty() {
        opts.push(format!("{} MCP config(s)", o.mcp_config.len()));
    }
    if !opts.is_empty() {
        fields.push(("options", opts.join(", ")));
    }
    if let Some(h) = &c.held {
        fields.push(("held", clean(h)));
    }
    let Some(p) = &c.progress else { return };
    if let Some(m) = &p.model {
        fields.push(("model", clean(m)));
    }
    fields.push(("turns", p.turns().to_string()));
    if p.tool_uses > 0 {
        let per: Vec<String> = p
            .tools
            .iter()
            .map(|t| format!("{} {}", clean(&t.name), t.uses))
            .collect();
        let last = p
            .last_tool
            .as_deref()
            .map(|l| format!(", last {}", clean(l)))
            .unwrap_or_default();
        fields.push((
            "tools",
            format!("{} uses ({}){last}", p.tool_uses, per.join(", ")),
        ));
    }
    if let Some(r) = &p.retrying {
        fields.push(("api", format!("retrying ({})", r.describe())));
    }
    let Some(r) = &p.result else {
        if let Some(t) = &p.last_text {
            fields.push(("last text", one_line(&t.preview)));
        }
        return;
    };
    let u = &r.usage;
    let n = |v: Option<u64>| v.map_or("?".into(), |v| v.to_string());
    let mut tokens = format!("in {} / out {}", n(u.input_tokens), n(u.output_tokens));
    if let Some(c) = u.cache_read_input_tokens.filter(|c| *c > 0) {
        tokens.push_str(&format!(", cache read {c}"));
    }
    if let Some(c) = u.cache_creation_input_tokens.filter(|c| *c > 0) {
        tokens.push_str(&format!(", cache write {c}"));
    }
    fields.push(("tokens", tokens));
    if let Some(cost) = r.total_cost_usd {
        fields.push(("cost", format!("${cost:.4}")));
    }
    let mut result = match r.is_error {
        Some(false) => "success".to_string(),
        Some(true) => "error".to_string(),
        None => "no is_error".to_string(),
    };
    if let Some(s) = r.subtype.as_deref().filter(|s| *s != "success") {
        result.push_str(&format!(" ({})", clean(s)));
    }
    if let Some(st) = r.api_error_status {
        result.push_str(&format!(", API status {st}"));
    }
    if let Some(d) = r.duration_ms {
        result.push_str(&format!(", {}", format::duration(d as i64)));
    }
    if let Some(text) = &r.result {
        result.push_str(&format!(": {}", one_line(&text.preview)));
    }
    fields.push(("result", result));
    if r.permission_denials > 0 {
        fields.push((
            "denied",
            format!(
                "{} tool call(s): {}",
                r.permission_denials,
                clean(&r.denied_tools.join(", "))
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::claude_stream::{fixtures, parse_line, Progress};

    #[test]
    fn a_finished_run_shows_session_turns_tools_tokens_cost_and_result() {
        let mut p = Progress::new();
        for l in fixtures::bash_session() {
            p.apply(&parse_line(l.as_bytes()), 1);
        }
        let c = ClaudeView {
            prompt: "fix the\ntest".into(),
            prompt_bytes: 12,
            session_id: fixtures::SESSION.into(),
            session_started: true,
            next_prompt: None,
            continue_from: None,
            binary: "/usr/local/bin/claude".into(),
            version: Some("2.1.330 (Claude Code)".into()),
            options: Default::default(),
            progress: Some(p),
            held: None,
        };
        let mut f = Vec::new();
        lines(&c, &mut f);
        let get = |k: &str| f.iter().find(|(key, _)| *key == k).map(|(_, v)| v.clone());
        assert_eq!(get("prompt").unwrap(), "fix the test (12 bytes)");
        assert_eq!(get("session").unwrap(), fixtures::SESSION);
        assert_eq!(
            get("claude").unwrap(),
            "2.1.330 (Claude Code) (/usr/local/bin/claude)"
        );
        assert_eq!(get("turns").unwrap(), "2");
        assert!(get("tools")
            .unwrap()
            .starts_with("1 uses (Bash 1), last Bash"));
        assert!(get("tokens").unwrap().starts_with("in "), "{f:?}");
        assert!(get("cost").unwrap().starts_with('$'));
        assert!(get("result").unwrap().starts_with("success"), "{f:?}");
    }
}
