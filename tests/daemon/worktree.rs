//! A task's own git worktree and its checkpoints, in-process (as root, in
//! a repository made for the test; the worktree goes to root's
//! `~/.local/share/claudine/worktrees` and is cleaned at the end).

use super::*;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

fn checkpoints(d: &Daemon, id: &str) -> Vec<serde_json::Value> {
    let out = d.ctl(&["checkpoints", id, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["checkpoints"].as_array().unwrap().clone()
}

#[test]
fn worktree_task_runs_on_its_branch_is_checkpointed_and_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join(format!("repo{}", std::process::id()));
    std::fs::create_dir_all(repo.join("sub")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("sub/file.txt"), "one\n").unwrap();
    git(&repo, &["add", "."]);
    git(
        &repo,
        &[
            "-c",
            "user.email=t@x",
            "-c",
            "user.name=t",
            "commit",
            "-qm",
            "first",
        ],
    );
    std::fs::write(repo.join("staged.txt"), "staged\n").unwrap();
    git(&repo, &["add", "staged.txt"]);
    let index = std::fs::read(repo.join(".git/index")).unwrap();
    let head = git(&repo, &["rev-parse", "HEAD"]);

    let d = Daemon::start_with(dir.path(), Arc::default(), None, |c| {
        c.protect.checkpoint_interval_ms = 300;
    });
    let sub = repo.join("sub");
    let release = dir.path().join("release");
    let script = format!(
        "pwd > where; git branch --show-current >> where; echo two > file.txt; \
         until [ -e {} ]; do sleep 0.05; done",
        release.display()
    );
    let id = d.submit(&[
        "--worktree",
        "--cwd",
        sub.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &script,
    ]);
    let v = d.json(&id);
    let wt = PathBuf::from(v["worktree"]["path"].as_str().unwrap());
    assert_eq!(v["worktree"]["branch"], format!("claudine/{id}"));
    assert!(
        wt.ends_with(format!(
            "{}-{id}",
            repo.file_name().unwrap().to_str().unwrap()
        )),
        "{wt:?}"
    );
    d.wait_state(&id, "running");
    // Every checkpoint_interval, a snapshot of the worktree as it is.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let cps = checkpoints(&d, &id);
        let holds = |c: &serde_json::Value| {
            c["why"] == "interval"
                && c["git"]["ref_name"]
                    .as_str()
                    .is_some_and(|r| git(&repo, &["show", &format!("{r}:sub/file.txt")]) == "two")
        };
        if cps.last().is_some_and(holds) {
            break;
        }
        if Instant::now() >= deadline {
            let r = cps.last().unwrap()["git"]["ref_name"]
                .as_str()
                .unwrap()
                .to_string();
            panic!(
                "no checkpoint holds the change: {:?} {} / {} / {} / {}",
                cps.iter()
                    .map(|c| (
                        c["n"].clone(),
                        c["at_ms"].clone(),
                        c["git"]["commit"].clone()
                    ))
                    .collect::<Vec<_>>(),
                claudine::cli::format::now_ms(),
                git(&repo, &["ls-tree", "-r", &r]),
                git(&repo, &["show", &format!("{r}:sub/file.txt")]),
                text(&d.ctl(&["logs", &id]).stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let cps = checkpoints(&d, &id);
    assert_eq!(cps[0]["git"]["branch"], format!("claudine/{id}"), "{cps:?}");
    assert_eq!(cps[0]["cwd"], wt.join("sub").to_str().unwrap());
    std::fs::write(&release, "").unwrap();
    d.wait_state(&id, "succeeded");
    assert_eq!(
        std::fs::read_to_string(wt.join("sub/where")).unwrap(),
        format!("{}\nclaudine/{id}\n", wt.join("sub").display())
    );
    // The user's own tree, branch and index are untouched.
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), head);
    assert_eq!(git(&repo, &["branch", "--show-current"]), "main");
    assert_eq!(std::fs::read(repo.join(".git/index")).unwrap(), index);
    assert_eq!(
        std::fs::read_to_string(repo.join("sub/file.txt")).unwrap(),
        "one\n"
    );
    let status = text(&d.ctl(&["status", &id]).stdout);
    assert!(
        status.contains(&format!("(branch claudine/{id})")),
        "{status}"
    );
    assert!(status.contains("checkpoints:"), "{status}");

    // clean: not with uncommitted changes unless forced; the branch stays.
    let out = d.ctl(&["clean", &id]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("uncommitted change"),
        "{}",
        text(&out.stderr)
    );
    assert!(wt.exists());
    let out = d.ctl(&["clean", &id, "--force"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!wt.exists());
    git(
        &repo,
        &[
            "rev-parse",
            "--verify",
            &format!("refs/heads/claudine/{id}"),
        ],
    );
    assert_eq!(d.json(&id)["worktree"]["removed"], true);
    let out = d.ctl(&["clean", &id]);
    assert!(
        text(&out.stderr).contains("already removed"),
        "{}",
        text(&out.stderr)
    );

    // A branch claudine/<id> already there: the task fails, saying so.
    let plain = d.submit(&["--", "true"]);
    let next = (plain.parse::<i64>().unwrap() + 1).to_string();
    git(&repo, &["branch", &format!("claudine/{next}")]);
    let taken = d.submit(&["--worktree", "--cwd", repo.to_str().unwrap(), "--", "true"]);
    assert_eq!(taken, next);
    d.wait_state(&taken, "failed");
    let reason = d.json(&taken)["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains(&format!("a branch claudine/{next} already exists")),
        "{reason}"
    );
    // Outside a repository: refused at submit.
    let out = d.ctl(&[
        "submit",
        "--worktree",
        "--cwd",
        dir.path().to_str().unwrap(),
        "--",
        "true",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("is not in a git repository"),
        "{}",
        text(&out.stderr)
    );
    // A task without a worktree has none to clean.
    let out = d.ctl(&["clean", &plain]);
    assert!(
        text(&out.stderr).contains("has no worktree"),
        "{}",
        text(&out.stderr)
    );
}
