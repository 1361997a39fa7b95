//! Launching one attempt of a task.
//!
//! The handshake that keeps every bit of task work inside its scope:
//!
//! 1. The actor resolves the user (from the account cache: never a blocking
//!    lookup in the actor), builds the environment and rlimits, opens the log
//!    files and spawns `claudine-supervise <id>` (as root, in claudined's own
//!    cgroup) with the logs as fds 1, 2, 3 and a pipe as stdin. It commits
//!    `Starting` (attempt n, the supervisor's pid).
//! 2. A launch task writes the [`LaunchSpec`] line, subscribes to
//!    `JobRemoved`, calls `StartTransientUnit` with the supervisor's pid and
//!    waits for the job's result.
//! 3. Only when the job is `done`, and the task was not cancelled meanwhile,
//!    does it write `go`. The supervisor, now in the scope, durably records
//!    that attempt n starts, then forks the command, which drops to the user
//!    and enters the cwd as that user before exec. On any failure, or a
//!    cancel, the pipe is closed instead and the supervisor exits without
//!    running anything.
//! 4. The launch task reports [`Event::ScopeReady`], then waits for the
//!    supervisor and reports [`Event::SupervisorGone`]; the actor reads the
//!    record the supervisor left and decides ([`crate::core::recover`]).

use super::actor::{Actor, Event, LaunchError};
use super::users::{self, UserError};
use super::{logs, pidfd, rlimits};
use crate::core::{Task, TaskId, Transition};
use crate::supervise::{exit_record_path, LaunchSpec, LogLimits, COMBINED_LOG_FD, GO_LINE};
use crate::systemd::{describe, ScopeProperties, ScopeSpec, Scopes};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

struct Prepared {
    /// The scope's resource-control properties (the task's hard limits).
    properties: ScopeProperties,
    child: Child,
    stdin: ChildStdin,
    spec_line: Vec<u8>,
    pid: u32,
}

/// What became of a launch.
pub enum Launched {
    /// Starting is committed; the launch task runs.
    Yes,
    /// The task could not be launched and ended Failed (or the failure could
    /// not even be recorded: it stays queued).
    Failed,
    /// Not now (the account lookup is pending, or Starting could not be
    /// recorded); the task stays queued. Why, in words.
    NotYet(String),
}

pub fn launch(actor: &mut Actor, task: Task) -> Launched {
    let now = super::actor::now_ms();
    let attempt = task.attempts + 1;
    let prepared = match prepare(actor, &task, attempt) {
        Ok(p) => p,
        Err(Prep::Later(why)) => return Launched::NotYet(why),
        Err(Prep::Fail(reason)) => {
            error!(claudine_task_id = task.id, claudine_user = %task.owner_name, "task {} cannot launch: {reason}", task.id);
            let ev = Transition::LaunchFailed {
                attempt,
                reason,
                now_ms: now,
            };
            return match actor.transition(&task, ev) {
                Ok(_) => Launched::Failed,
                Err(e) => Launched::NotYet(format!("could not record a failed launch: {e}")),
            };
        }
    };
    // Commit Starting before anything is asked of systemd. If the commit
    // fails, dropping `prepared` closes the pipe and the supervisor exits.
    let ev = Transition::Launch {
        supervisor_pid: prepared.pid,
        now_ms: now,
    };
    let t = match actor.transition(&task, ev) {
        Ok(t) => t,
        Err(e) => return Launched::NotYet(format!("could not record the launch: {e}")),
    };
    info!(
        claudine_task_id = t.id,
        claudine_user = %t.owner_name,
        claudine_state = "starting",
        claudine_attempt = attempt,
        "task {} attempt {attempt} launching: supervisor pid {}, scope {}",
        t.id,
        prepared.pid,
        t.unit_name()
    );
    let (abort_tx, abort_rx) = oneshot::channel();
    actor.aborts.insert(t.id, abort_tx);
    tokio::spawn(run(
        actor.systemd.clone(),
        actor.events.clone(),
        t.id,
        attempt,
        prepared,
        abort_rx,
    ));
    Launched::Yes
}

enum Prep {
    /// Retry later; the task stays queued.
    Later(String),
    /// The task cannot run as submitted.
    Fail(String),
}

fn prepare(actor: &Actor, task: &Task, attempt: u32) -> Result<Prepared, Prep> {
    let acct = match actor.accounts.cached_account(task.owner_uid) {
        None => {
            return Err(Prep::Later(format!(
                "looking up the account of {} (uid {})",
                task.owner_name, task.owner_uid
            )))
        }
        Some(Ok(acct)) => acct,
        Some(Err(e @ (UserError::NoSuchUid(_) | UserError::Groups { .. }))) => {
            return Err(Prep::Fail(e.to_string()))
        }
        // A slow or failing user database: wait and try again.
        Some(Err(e)) => return Err(Prep::Later(e.to_string())),
    };
    let env = users::task_env(&acct, &task.env, task.inherit_env);
    let (rules, warnings) = rlimits::load_rules(Path::new(rlimits::SECURITY_DIR));
    for w in warnings {
        warn!(claudine_task_id = task.id, "{w}");
    }
    let rlimits = rlimits::login_limits(&actor.base_limits, &acct, &rules);
    let logs = logs::open_for_task(&actor.cfg.logs_dir(), task.id, acct.uid, acct.gid)
        .map_err(|e| Prep::Fail(e.to_string()))?;
    let exit_path = exit_record_path(&actor.cfg.exit_dir(), task.id);
    // The record of an earlier attempt has been read already; a new one must
    // not be mistaken for it.
    match std::fs::remove_file(&exit_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Prep::Later(format!(
                "remove stale exit record {}: {e}",
                exit_path.display()
            )))
        }
    }
    let claude =
        super::claude::launch::prepare(&actor.cfg.exit_dir(), task, &acct).map_err(Prep::Later)?;
    let (argv, claude) = match claude {
        Some((argv, run)) => (argv, Some(run)),
        None => (task.argv.clone(), None),
    };
    let spec = LaunchSpec {
        task_id: task.id,
        attempt,
        uid: acct.uid,
        gid: acct.gid,
        groups: acct.groups.clone(),
        user: acct.name.clone(),
        argv,
        cwd: match &task.worktree {
            Some(w) => w.cwd(task.id),
            None => task.cwd.clone(),
        },
        env,
        exit_path,
        umask: task.umask,
        rlimits,
        log_limits: LogLimits {
            max_bytes_per_stream: actor.cfg.log_max_bytes,
            min_free_bytes: actor.cfg.min_free_disk_bytes,
        },
        claude,
        worktree: task
            .worktree
            .as_ref()
            .map(|w| crate::supervise::WorktreeRun {
                repo: w.repo.clone(),
                path: w.path(task.id),
                branch: crate::core::worktree::Worktree::branch(task.id),
            }),
    };
    let mut spec_line =
        serde_json::to_vec(&spec).map_err(|e| Prep::Fail(format!("encode launch spec: {e}")))?;
    spec_line.push(b'\n');
    let combined = logs.combined;
    let combined_fd = combined.as_raw_fd();
    let mut cmd = tokio::process::Command::new(&actor.cfg.supervisor);
    cmd.arg(task.id.to_string())
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::from(logs.out))
        .stderr(Stdio::from(logs.err))
        .kill_on_drop(false);
    // SAFETY: between fork and exec only async-signal-safe calls (dup2, fcntl).
    unsafe {
        cmd.pre_exec(move || {
            // The combined log on fd 3 (COMBINED_LOG_FD), without close-on-exec.
            let r = if combined_fd == COMBINED_LOG_FD {
                libc::fcntl(combined_fd, libc::F_SETFD, 0)
            } else {
                libc::dup2(combined_fd, COMBINED_LOG_FD)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let spawned = cmd.spawn();
    drop(combined);
    let mut child = spawned.map_err(|e| {
        Prep::Later(format!(
            "spawn supervisor {}: {e}",
            actor.cfg.supervisor.display()
        ))
    })?;
    let pid = child
        .id()
        .ok_or_else(|| Prep::Later("supervisor exited at once".into()))?;
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| Prep::Later("supervisor has no stdin pipe".into()))?;
    let l = &task.limits;
    Ok(Prepared {
        properties: ScopeProperties {
            memory_high: None,
            memory_max: l.memory_max,
            tasks_max: l.max_pids,
            cpu_weight: l.cpu_weight,
            cpu_quota_per_sec_usec: l.cpu_quota_per_sec_usec(),
        },
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
    attempt: u32,
    p: Prepared,
    mut abort: oneshot::Receiver<()>,
) {
    let Prepared {
        properties: props,
        mut child,
        mut stdin,
        spec_line,
        pid,
    } = p;
    let unit = crate::core::unit_name(id);
    let description = describe(id, attempt);
    let fail = LaunchError::new;
    let result = async {
        stdin
            .write_all(&spec_line)
            .await
            .map_err(|e| fail(format!("send launch spec to supervisor: {e}")))?;
        #[cfg(feature = "fault-injection")]
        super::fault::pause("pause-before-scope", id).await;
        let spec = ScopeSpec {
            unit: &unit,
            pid,
            description: &description,
            properties: &props,
        };
        let started = tokio::select! {
            r = systemd.start_scope(&spec) => r,
            _ = &mut abort => return Err(LaunchError { cancelled: true, ..fail("cancelled before the command started".into()) }),
        };
        started.map_err(|e| LaunchError {
            unit_exists: e.is_unit_exists(),
            ..fail(format!("cannot create scope: {e}"))
        })?;
        // A cancel that arrived while the scope was being created wins: the
        // command never runs.
        if abort.try_recv().is_ok() {
            return Err(LaunchError {
                cancelled: true,
                ..fail("cancelled before the command started".into())
            });
        }
        stdin
            .write_all(format!("{GO_LINE}\n").as_bytes())
            .await
            .map_err(|e| LaunchError {
                supervisor_gone: true,
                ..fail(format!("supervisor {pid} went away before the start: {e}"))
            })
    }
    .await;
    drop(stdin);
    let _ = events
        .send(Event::ScopeReady {
            id,
            attempt,
            result,
        })
        .await;
    // The supervisor is our child: wait for it. Should waiting fail (it
    // cannot, short of a bug), fall back to its pidfd rather than assume it died.
    if let Err(e) = child.wait().await {
        warn!(
            claudine_task_id = id,
            "waiting for supervisor {pid}: {e}; watching its pidfd instead"
        );
        if let Ok(Some(fd)) = pidfd::open(pid) {
            pidfd::wait_exit_surely(fd, id).await;
        }
    }
    let _ = events.send(Event::SupervisorGone { id, attempt }).await;
}

/// Watch a supervisor that is not our child (adopted after a restart).
pub fn watch_adopted(events: mpsc::Sender<Event>, id: TaskId, attempt: u32, fd: OwnedFd) {
    tokio::spawn(async move {
        pidfd::wait_exit_surely(fd, id).await;
        let _ = events.send(Event::SupervisorGone { id, attempt }).await;
    });
}
