//! A Claude Code run through the supervisor: the prompt on stdin from its
//! file (removed once open), the user's environment file read and applied
//! (submitted variables kept), the stream parsed into the exit record and
//! the progress file; a writable environment file refused.

use super::*;
use claudine::supervise::ClaudeRun;

const STREAM: &str = r#"{"type":"system","subtype":"init","session_id":"5f0c3b2e-8d8a-4b8e-9f3c-2a7d1e6b4c90","model":"m","claude_code_version":"2.1.330"}
{"type":"assistant","message":{"id":"m1","content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"true"}}]},"session_id":"5f0c3b2e-8d8a-4b8e-9f3c-2a7d1e6b4c90"}
not json at all
{"type":"result","subtype":"success","is_error":false,"num_turns":2,"total_cost_usd":0.25,"usage":{"input_tokens":100,"output_tokens":7},"session_id":"5f0c3b2e-8d8a-4b8e-9f3c-2a7d1e6b4c90"}"#;

fn claude_run(env_file_text: &str, mode: u32) -> Run {
    // The fake claude: copies its stdin (the prompt) and two variables to
    // files, then prints the stream (without a final newline).
    let mut run = Run::new(&[]);
    let d = run.dir.path().to_owned();
    let script = format!(
        "cat > {d}/prompt.seen; printf '%s|%s' \"$FROM_FILE\" \"$GIVEN\" > {d}/env.seen; printf '%s' '{}'",
        STREAM.replace('\'', "'\\''"),
        d = d.display()
    );
    run.spec.argv = vec!["sh".into(), "-c".into(), script];
    run.spec.env.push(("GIVEN".into(), "from submit".into()));
    let env_file = d.join("env");
    std::fs::write(&env_file, env_file_text).unwrap();
    std::fs::set_permissions(&env_file, std::fs::Permissions::from_mode(mode)).unwrap();
    let prompt = d.join("7.prompt");
    std::fs::write(&prompt, "fix the test\n@bash true\n").unwrap();
    run.spec.claude = Some(ClaudeRun {
        prompt_path: prompt,
        progress_path: d.join("7.progress.json"),
        env_file: Some(env_file.to_str().unwrap().into()),
        keep_env: vec!["GIVEN".into()],
    });
    run
}

#[test]
fn a_claude_run_reads_its_prompt_and_env_file_and_its_stream_is_recorded() {
    let run = claude_run(
        "# creds\nFROM_FILE='secret value'\nGIVEN=overridden\n",
        0o600,
    );
    let d = run.dir.path().to_owned();
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    assert_eq!(
        std::fs::read_to_string(d.join("prompt.seen")).unwrap(),
        "fix the test\n@bash true\n"
    );
    assert!(
        !d.join("7.prompt").exists(),
        "the prompt file is removed once open"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("env.seen")).unwrap(),
        "secret value|from submit"
    );
    let rec = run.record().unwrap();
    let p = rec.claude.expect("the stream is recorded");
    assert_eq!(
        p.session_id.as_deref(),
        Some("5f0c3b2e-8d8a-4b8e-9f3c-2a7d1e6b4c90")
    );
    assert_eq!(p.uses_of("Bash"), 1);
    assert_eq!(p.malformed_lines, 1);
    let result = p.result.expect("the last line, without a newline, is read");
    assert_eq!(result.is_error, Some(false));
    assert_eq!(result.usage.output_tokens, Some(7));
    let on_disk: claudine::core::claude_stream::Progress =
        serde_json::from_slice(&std::fs::read(d.join("7.progress.json")).unwrap()).unwrap();
    assert_eq!(on_disk.result.unwrap().total_cost_usd, Some(0.25));
    // The secret is in no log.
    assert!(!run.logs().contains("secret value"), "{}", run.logs());
}

#[test]
fn a_group_writable_env_file_is_refused_and_nothing_runs() {
    let run = claude_run("FROM_FILE=secret-value\n", 0o660);
    let d = run.dir.path().to_owned();
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    let rec = run.record().unwrap();
    assert_eq!(rec.exit_code, Some(claudine::supervise::LAUNCH_ERROR_EXIT));
    let err = rec.error.unwrap();
    assert!(
        err.contains("writable by its group") && err.contains("chmod go-w"),
        "{err}"
    );
    assert!(!err.contains("secret-value"));
    assert!(!d.join("prompt.seen").exists(), "the command never ran");
}

#[test]
fn a_bad_line_in_the_env_file_names_the_line_not_the_value() {
    let run = claude_run("OK=1\nthis-is-secret\n", 0o600);
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    let err = run.record().unwrap().error.unwrap();
    assert!(err.contains("line 2: no '='"), "{err}");
    assert!(!err.contains("this-is-secret"), "{err}");
}

#[test]
fn an_env_file_the_user_cannot_read_is_a_clear_error() {
    // The file is read as the user (nobody here), who cannot reach it.
    let mut run = claude_run("FROM_FILE=x\n", 0o600);
    as_nobody(&mut run);
    run.spec.claude.as_mut().unwrap().keep_env.clear();
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    let err = run.record().unwrap().error.unwrap();
    assert!(
        err.contains("cannot read the environment file") && err.contains("permission denied"),
        "{err}"
    );
}
