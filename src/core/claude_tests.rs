use super::*;

fn task() -> ClaudeTask {
    ClaudeTask {
        prompt: "fix the test".into(),
        session_id: "0b7a9c1e-3f2d-4c5b-9a8e-7d6c5b4a3f21".into(),
        session_started: false,
        next_prompt: None,
        continue_from: None,
        binary: "/home/alice/.local/bin/claude".into(),
        version: Some("2.1.330 (Claude Code)".into()),
        options: ClaudeOptions::default(),
    }
}

fn pairs(argv: &[String], flag: &str) -> Vec<String> {
    argv.windows(2)
        .filter(|w| w[0] == flag)
        .map(|w| w[1].clone())
        .collect()
}

#[test]
fn first_run_starts_the_minted_session_and_reads_the_prompt_on_stdin() {
    let t = task();
    let argv = t.argv();
    assert_eq!(
        argv[..5],
        [
            "/home/alice/.local/bin/claude",
            "-p",
            "--output-format",
            "stream-json",
            "--verbose"
        ]
    );
    assert_eq!(
        pairs(&argv, "--session-id"),
        std::slice::from_ref(&t.session_id)
    );
    assert!(!argv.contains(&"--resume".to_string()));
    assert!(!argv.iter().any(|a| a.contains("fix the test")));
    assert_eq!(t.next_run_prompt(), "fix the test");
}

#[test]
fn later_runs_resume_the_same_session_with_the_new_or_default_prompt() {
    let mut t = task();
    t.session_started = true;
    let argv = t.argv();
    assert_eq!(
        pairs(&argv, "--resume"),
        std::slice::from_ref(&t.session_id)
    );
    assert!(pairs(&argv, "--session-id").is_empty());
    assert_eq!(t.next_run_prompt(), CONTINUE_PROMPT);
    t.next_prompt = Some("now add a regression test".into());
    assert_eq!(t.next_run_prompt(), "now add a regression test");
}

#[test]
fn continue_from_forks_the_other_session_under_its_own_id() {
    let mut t = task();
    t.continue_from = Some((41, "11111111-2222-4333-8444-555555555555".into()));
    let argv = t.argv();
    assert_eq!(
        pairs(&argv, "--resume"),
        ["11111111-2222-4333-8444-555555555555"]
    );
    assert_eq!(
        pairs(&argv, "--session-id"),
        std::slice::from_ref(&t.session_id)
    );
    assert!(argv.contains(&"--fork-session".to_string()));
    // Once its own session exists, it resumes that one.
    t.session_started = true;
    let argv = t.argv();
    assert_eq!(
        pairs(&argv, "--resume"),
        std::slice::from_ref(&t.session_id)
    );
    assert!(!argv.contains(&"--fork-session".to_string()));
}

#[test]
fn options_become_flags_one_per_tool_pattern() {
    let mut t = task();
    t.options = ClaudeOptions {
        model: Some("opus".into()),
        permission_mode: Some("acceptEdits".into()),
        allowed_tools: vec!["Bash(cargo test:*)".into(), "Edit".into()],
        disallowed_tools: vec!["WebFetch".into()],
        max_turns: Some(40),
        append_system_prompt: Some("be brief".into()),
        mcp_config: vec!["/home/alice/mcp.json".into()],
    };
    t.options.validate().unwrap();
    let argv = t.argv();
    assert_eq!(pairs(&argv, "--model"), ["opus"]);
    assert_eq!(pairs(&argv, "--permission-mode"), ["acceptEdits"]);
    assert_eq!(
        pairs(&argv, "--allowed-tools"),
        ["Bash(cargo test:*)", "Edit"]
    );
    assert_eq!(pairs(&argv, "--disallowed-tools"), ["WebFetch"]);
    assert_eq!(pairs(&argv, "--max-turns"), ["40"]);
    assert_eq!(pairs(&argv, "--append-system-prompt"), ["be brief"]);
    assert_eq!(pairs(&argv, "--mcp-config"), ["/home/alice/mcp.json"]);
}

#[test]
fn bad_prompts_are_refused_with_the_reason() {
    assert!(check_prompt("   \n").unwrap_err().contains("empty"));
    assert!(check_prompt("a\0b").unwrap_err().contains("NUL"));
    let big = "x".repeat(MAX_PROMPT_BYTES + 1);
    assert!(check_prompt(&big).unwrap_err().contains("1024 KiB"));
    assert!(check_prompt(&"x".repeat(MAX_PROMPT_BYTES)).is_ok());
}

#[test]
fn bad_options_are_refused_before_claude_runs() {
    let bad = |o: ClaudeOptions| o.validate().unwrap_err();
    assert!(bad(ClaudeOptions {
        model: Some("--dangerously-skip-permissions".into()),
        ..Default::default()
    })
    .contains("invalid model"));
    assert!(bad(ClaudeOptions {
        permission_mode: Some("ask me".into()),
        ..Default::default()
    })
    .contains("permission mode"));
    assert!(bad(ClaudeOptions {
        allowed_tools: vec!["--x".into()],
        ..Default::default()
    })
    .contains("may not start with '-'"));
    assert!(bad(ClaudeOptions {
        mcp_config: vec!["relative.json".into()],
        ..Default::default()
    })
    .contains("neither an absolute path"));
    assert!(bad(ClaudeOptions {
        max_turns: Some(0),
        ..Default::default()
    })
    .contains("at least 1"));
    // An unknown but well-formed mode is claude's to refuse.
    assert!(ClaudeOptions {
        permission_mode: Some("someFutureMode".into()),
        mcp_config: vec![r#"{"mcpServers":{}}"#.into()],
        ..Default::default()
    }
    .validate()
    .is_ok());
}

#[test]
fn uuids_are_minted_and_recognised() {
    let id = uuid_v4([0xff; 16]);
    assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
    assert!(is_uuid(&id));
    assert!(is_uuid(&uuid_v4([0; 16])));
    assert!(!is_uuid("ffffffff-ffff-4fff-bfff-fffffffffff"));
    assert!(!is_uuid("ffffffff_ffff-4fff-bfff-ffffffffffff"));
    assert!(!is_uuid("../../etc/passwd-aaaaaaaaaaaaaaaaaaaaaaaaa"));
}
