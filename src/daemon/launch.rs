//! Launching one task.
//!
//! The handshake that keeps every bit of task work inside its scope:
//!
//! 1. The actor resolves the user, builds the environment, creates the log
//!    file and spawns `claudine-supervise <id>` (as root, in claudined's own
//!    cgroup) with the log as stdout/stderr and a pipe as stdin. It commits
//!    `Starting` with the supervisor's pid.
//! 2. A launch task writes the [`LaunchSpec`] line, subscribes to
//!    `JobRemoved`, calls `StartTransientUnit` with the supervisor's pid and
//!    waits for the job's result.
//! 3. Only when the job is `done` does it write `go`. The supervisor, now in
//!    the scope, forks the command, which drops to the user and enters the
//!    cwd as that user before exec. On any failure the pipe is closed
//!    instead and the supervisor exits without running anything.
//! 4. The launch task reports [`Event::ScopeReady`], then waits for the
//!    supervisor and reports [`Event::SupervisorGone`]; the actor reads the
//!    exit record the supervisor left.

use super::actor::{Actor, Event};
use super::{logs, pidfd, users};
use crate::core::{Task, TaskId, Transition};
use crate::supervise::{exit_record_path, LaunchSpec, GO_LINE};
use crate::systemd::{ScopeSpec, Scopes};
use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;
use tracing::{error, info};

struct Prepared {
    child: Child,
    stdin: ChildStdin,
    spec_line: Vec<u8>,
    pid: u32,
}

pub fn launch(actor: &mut Actor, task: Task) {
    let now = super::actor::now_ms();
    let prepared = match prepare(actor, &task) {
        Ok(p) => p,
        Err(reason) => {
            error!(claudine_task_id = task.id, claudine_user = %task.owner_name, "task {} cannot launch: {reason}", task.id);
            let _ = actor.transition(
                &task,
                Transition::LaunchFailed {
                    reason,
                    now_ms: now,
                },
                "launch-failed",
            );
            return;
        }
    };
    // Commit Starting before anything is asked of systemd. If the commit
    // fails, dropping `prepared` closes the pipe and the supervisor exits.
    let ev = Transition::Launch {
        supervisor_pid: prepared.pid,
        now_ms: now,
    };
    let Ok(t) = actor.transition(&task, ev, "launch") else {
        return;
    };
    info!(
        claudine_task_id = t.id,
        claudine_user = %t.owner_name,
        claudine_state = "starting",
        "task {} launching: supervisor pid {}, scope {}",
        t.id,
        prepared.pid,
        t.unit_name()
    );
    let description = describe(&t);
    tokio::spawn(run(
        actor.systemd.clone(),
        actor.events.clone(),
        t.id,
        t.unit_name(),
        description,
        prepared,
    ));
}

fn prepare(actor: &Actor, task: &Task) -> Result<Prepared, String> {
    let acct = users::account(task.owner_uid).map_err(|e| e.to_string())?;
    let env = users::task_env(&acct, &task.env, task.inherit_env);
    let log = logs::open_for_task(&actor.cfg.logs_dir(), task.id, acct.uid, acct.gid)
        .map_err(|e| e.to_string())?;
    let log2 = log
        .try_clone()
        .map_err(|e| format!("duplicate log descriptor: {e}"))?;
    let exit_path = exit_record_path(&actor.cfg.exit_dir(), task.id);
    match std::fs::remove_file(&exit_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(format!(
                "remove stale exit record {}: {e}",
                exit_path.display()
            ))
        }
    }
    let spec = LaunchSpec {
        task_id: task.id,
        uid: acct.uid,
        gid: acct.gid,
        groups: acct.groups.clone(),
        user: acct.name.clone(),
        argv: task.argv.clone(),
        cwd: task.cwd.clone(),
        env,
        exit_path,
        // Placeholders until the daemon side of spec v2 lands. The Launch
        // transition that follows makes this attempt number true.
        attempt: task.attempts + 1,
        umask: 0o022,
        rlimits: Vec::new(),
        log_limits: crate::supervise::LogLimits {
            max_bytes_per_stream: 1 << 40,
            min_free_bytes: 0,
        },
    };
    let mut spec_line =
        serde_json::to_vec(&spec).map_err(|e| format!("encode launch spec: {e}"))?;
    spec_line.push(b'\n');
    let mut child = tokio::process::Command::new(&actor.cfg.supervisor)
        .arg(task.id.to_string())
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2))
        .kill_on_drop(false)
        .spawn()
        .map_err(|e| format!("spawn supervisor {}: {e}", actor.cfg.supervisor.display()))?;
    let pid = child.id().ok_or("supervisor exited at once")?;
    let stdin = child.stdin.take().ok_or("supervisor has no stdin pipe")?;
    Ok(Prepared {
        child,
        stdin,
        spec_line,
        pid,
    })
}

async fn run(
    systemd: Arc<dyn Scopes>,
    events: mpsc::Sender<Event>,
    id: TaskId,
    unit: String,
    description: String,
    p: Prepared,
) {
    let Prepared {
        mut child,
        mut stdin,
        spec_line,
        pid,
    } = p;
    let result = async {
        stdin
            .write_all(&spec_line)
            .await
            .map_err(|e| format!("send launch spec to supervisor: {e}"))?;
        systemd
            .start_scope(&ScopeSpec {
                unit: &unit,
                pid,
                description: &description,
            })
            .await
            .map_err(|e| format!("cannot create scope: {e}"))?;
        stdin
            .write_all(format!("{GO_LINE}\n").as_bytes())
            .await
            .map_err(|e| format!("supervisor {pid} went away before the start: {e}"))
    }
    .await;
    drop(stdin);
    let _ = events.send(Event::ScopeReady { id, result }).await;
    let _ = child.wait().await;
    let _ = events.send(Event::SupervisorGone { id }).await;
}

/// Watch a supervisor that is not our child (adopted after a restart).
pub fn watch_adopted(events: mpsc::Sender<Event>, id: TaskId, fd: OwnedFd) {
    tokio::spawn(async move {
        if let Err(e) = pidfd::wait_exit(fd).await {
            error!(
                claudine_task_id = id,
                "waiting for the supervisor of task {id}: {e}"
            );
        }
        let _ = events.send(Event::SupervisorGone { id }).await;
    });
}

/// The scope's Description: id, owner and command, without control chars.
fn describe(t: &Task) -> String {
    let cmd: String = super::actor::command_line(&t.argv)
        .chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect();
    format!("claudine task {} ({}): {}", t.id, t.owner_name, cmd)
}
