//! Claude Code tasks in-process, with a stand-in `claude` (a shell script
//! that answers `--version`, records its arguments and stdin, and prints a
//! stream-json run): the session minted at submit, judged by the stream,
//! resumed with `--resume`, forked by `--continue-from`, a 429 queued again
//! to resume by itself after the cooldown, and bad input refused.

use super::*;

const FAKE: &str = r#"#!/bin/sh
d=$(dirname "$0")
if [ "$1" = "--version" ]; then echo "9.9.9 (Fake Claude)"; exit 0; fi
echo "$*" >> "$d/args.log"
prompt=$(cat)
printf '%s\n---\n' "$prompt" >> "$d/prompts.log"
sid=; prev=
for a in "$@"; do
  [ "$prev" = "--session-id" ] && sid=$a
  [ "$prev" = "--resume" ] && [ -z "$sid" ] && sid=$a
  prev=$a
done
echo "{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"$sid\",\"model\":\"fake-model\",\"claude_code_version\":\"9.9.9\"}"
case "$prompt" in
  *RATE*)
    if [ ! -e "$d/limited-once" ]; then
      touch "$d/limited-once"
      echo "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,\"num_turns\":1,\"result\":\"API Error: 429\",\"api_error_status\":429,\"total_cost_usd\":0,\"usage\":{\"input_tokens\":0,\"output_tokens\":0},\"session_id\":\"$sid\"}"
      exit 1
    fi ;;
esac
echo "{\"type\":\"assistant\",\"message\":{\"id\":\"m1\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"Bash\",\"input\":{\"command\":\"true\"}}]},\"session_id\":\"$sid\"}"
echo "{\"type\":\"assistant\",\"message\":{\"id\":\"m2\",\"content\":[{\"type\":\"text\",\"text\":\"done\"}]},\"session_id\":\"$sid\"}"
echo "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"num_turns\":2,\"result\":\"done\",\"total_cost_usd\":0.125,\"usage\":{\"input_tokens\":1000,\"output_tokens\":50},\"session_id\":\"$sid\"}"
"#;

pub(super) fn fake_claude(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let p = bin.join("claude");
    std::fs::write(&p, FAKE).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn wait_json(
    d: &Daemon,
    id: &str,
    what: &str,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = d.json(id);
        if ok(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "task {id}: never {what}: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_prompt_runs_claude_in_its_own_session_and_resume_continues_it() {
    let dir = tempfile::tempdir().unwrap();
    let claude = fake_claude(dir.path());
    let bin = claude.parent().unwrap().to_owned();
    let path = claude.to_str().unwrap().to_owned();
    let d = Daemon::start_with(dir.path(), Arc::default(), None, move |c| {
        c.claude_path = Some(path);
        c.claude.backoff_ms = 1_000;
    });
    let id = d.submit(&["fix the flaky test", "--model", "opus"]);
    d.wait_state(&id, "succeeded");
    let v = d.json(&id);
    let c = &v["claude"];
    let sid = c["session_id"].as_str().unwrap().to_owned();
    assert_eq!(sid.len(), 36, "{v}");
    assert_eq!(c["version"], "9.9.9 (Fake Claude)");
    assert_eq!(c["session_started"], true);
    assert_eq!(c["progress"]["result"]["is_error"], false);
    assert_eq!(c["progress"]["result"]["usage"]["output_tokens"], 50);
    assert_eq!(c["progress"]["tools"][0]["name"], "Bash");
    let args = std::fs::read_to_string(bin.join("args.log")).unwrap();
    let first = args.lines().next().unwrap();
    assert!(
        first.contains(&format!(
            "-p --output-format stream-json --verbose --session-id {sid}"
        )) && first.contains("--model opus")
            && !first.contains("flaky"),
        "the prompt is not on the command line: {first}"
    );
    let prompts = std::fs::read_to_string(bin.join("prompts.log")).unwrap();
    assert!(
        prompts.starts_with("fix the flaky test\n---\n"),
        "{prompts}"
    );
    let human = text(&d.ctl(&["status", &id]).stdout);
    for want in [
        "session:", "claude:", "turns:", "tools:", "tokens:", "cost:", "$0.1250", "result:",
    ] {
        assert!(human.contains(want), "{want} missing: {human}");
    }

    // Resume: the same task, the same session, the new prompt on stdin.
    let out = d.ctl(&["resume", &id, "--prompt", "now add a regression test"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v = wait_json(&d, &id, "resumed and succeeded", |v| {
        v["state"] == "succeeded" && v["attempts"] == 2
    });
    assert_eq!(v["claude"]["session_id"], sid.as_str());
    let args = std::fs::read_to_string(bin.join("args.log")).unwrap();
    let second = args.lines().nth(1).unwrap();
    assert!(
        second.contains(&format!("--resume {sid}")) && !second.contains("--session-id"),
        "{second}"
    );
    assert!(std::fs::read_to_string(bin.join("prompts.log"))
        .unwrap()
        .contains("now add a regression test\n---\n"));

    // --continue-from: a new task on a copy of the session.
    let id2 = d.submit(&["--continue-from", &id, "next step"]);
    d.wait_state(&id2, "succeeded");
    let sid2 = d.json(&id2)["claude"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(sid2, sid);
    let args = std::fs::read_to_string(bin.join("args.log")).unwrap();
    let third = args.lines().nth(2).unwrap();
    assert!(
        third.contains(&format!(
            "--resume {sid} --session-id {sid2} --fork-session"
        )),
        "{third}"
    );

    // A 429: queued again with the reason, then it resumes by itself.
    let id3 = d.submit(&["RATE limited run"]);
    let v = wait_json(&d, &id3, "queued again after the 429", |v| {
        v["state"] == "queued" && v["attempts"] == 1
    });
    let why = format!("{} {}", v["reason"], v["waiting_reason"]);
    assert!(
        why.contains("rate limited") || why.contains("cooldown"),
        "{v}"
    );
    let v = wait_json(&d, &id3, "resumed after the cooldown", |v| {
        v["state"] == "succeeded"
    });
    assert_eq!(v["attempts"], 2, "{v}");
    let events = text(&d.ctl(&["events", "--task", &id3]).stdout);
    assert!(events.contains("rate limited"), "{events}");
    let args = std::fs::read_to_string(bin.join("args.log")).unwrap();
    let sid3 = v["claude"]["session_id"].as_str().unwrap();
    assert!(
        args.lines()
            .last()
            .unwrap()
            .contains(&format!("--resume {sid3}")),
        "{args}"
    );
}

#[test]
fn bad_claude_input_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let claude = fake_claude(dir.path());
    let broken = claude.parent().unwrap().join("broken");
    std::fs::write(&broken, "#!/bin/sh\necho 'cannot start' >&2\nexit 3\n").unwrap();
    std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = claude.to_str().unwrap().to_owned();
    let d = Daemon::start_with(dir.path(), Arc::default(), None, move |c| {
        c.claude_path = Some(path);
    });
    let err = |args: &[&str], code: i32, want: &str| {
        let out = d.ctl(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(want),
            "{args:?}: {}",
            text(&out.stderr)
        );
    };
    err(&["submit", "  "], 2, "the prompt is empty");
    err(&["submit", "x", "--", "ls"], 2, "not both");
    err(
        &["submit", "--model", "opus", "--", "ls"],
        2,
        "go with a prompt",
    );
    err(
        &["submit", "x", "--permission-mode", "ask me"],
        1,
        "invalid permission mode",
    );
    let cmd = d.submit(&["--", "true"]);
    d.wait_state(&cmd, "succeeded");
    err(&["resume", &cmd], 1, "not a Claude Code task");
    err(&["resume", "99999"], 1, "99999");
    err(
        &["submit", "--continue-from", &cmd, "x"],
        1,
        "has no session",
    );
    let big = dir.path().join("big");
    std::fs::write(&big, vec![b'x'; (1 << 20) + 1]).unwrap();
    err(
        &["submit", "--prompt-file", big.to_str().unwrap()],
        2,
        "larger than the 1024 KiB",
    );
    // 1 MiB exactly is accepted and reaches claude whole, on stdin.
    std::fs::write(&big, vec![b'y'; 1 << 20]).unwrap();
    let id = d.submit(&["--prompt-file", big.to_str().unwrap()]);
    d.wait_state(&id, "succeeded");
    let prompts = std::fs::read_to_string(claude.parent().unwrap().join("prompts.log")).unwrap();
    assert!(prompts.contains(&"y".repeat(1 << 20)));
    drop(d);

    // A broken binary is refused at submit, with what it said.
    let dir2 = tempfile::tempdir().unwrap();
    let b = broken.to_str().unwrap().to_owned();
    let d = Daemon::start_with(dir2.path(), Arc::default(), None, move |c| {
        c.claude_path = Some(b)
    });
    let out = d.ctl(&["submit", "fix it"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let e = text(&out.stderr);
    assert!(
        e.contains("--version failed") && e.contains("cannot start"),
        "{e}"
    );
    drop(d);
    let dir3 = tempfile::tempdir().unwrap();
    let d = Daemon::start_with(dir3.path(), Arc::default(), None, |c| {
        c.claude_path = Some("/nonexistent/claude".into())
    });
    let out = d.ctl(&["submit", "fix it"]);
    assert!(
        text(&out.stderr).contains("does not exist"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn budgets_and_the_start_rate_hold_claude_tasks_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let claude = fake_claude(dir.path());
    let path = claude.to_str().unwrap().to_owned();
    let d = Daemon::start_with(dir.path(), Arc::default(), None, move |c| {
        c.claude_path = Some(path);
        c.claude.budgets.usd_per_day = Some(0.1);
    });
    let first = d.submit(&["spend"]);
    d.wait_state(&first, "succeeded");
    let second = d.submit(&["spend more"]);
    let v = wait_json(&d, &second, "held by the budget", |v| {
        v["waiting_reason"]
            .as_str()
            .is_some_and(|w| w.contains("budget"))
    });
    assert_eq!(v["state"], "queued", "{v}");
    assert!(
        v["waiting_reason"]
            .as_str()
            .unwrap()
            .contains("$0.12 of $0.10"),
        "{v}"
    );
    // A command is not a Claude task: the budget does not hold it.
    let cmd = d.submit(&["--", "true"]);
    d.wait_state(&cmd, "succeeded");
    drop(d);

    let dir = tempfile::tempdir().unwrap();
    let claude = fake_claude(dir.path());
    let path = claude.to_str().unwrap().to_owned();
    let d = Daemon::start_with(dir.path(), Arc::default(), None, move |c| {
        c.claude_path = Some(path);
        c.claude.starts_per_minute = Some(1);
        c.claude.burst = 1;
    });
    let a = d.submit(&["one"]);
    let b = d.submit(&["two"]);
    d.wait_state(&a, "succeeded");
    let v = wait_json(&d, &b, "held by the start rate", |v| {
        v["waiting_reason"]
            .as_str()
            .is_some_and(|w| w.contains("start rate"))
    });
    assert_eq!(v["state"], "queued", "{v}");
}
