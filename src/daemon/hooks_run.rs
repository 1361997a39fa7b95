//! One run of one hook: spawn, feed stdin, capture output, bound in time,
//! kill the process group, reap, log.
//!
//! The order of the kill and the reap is what makes the kill safe. The
//! group's id is the pid of its first process (the "leader"); while the
//! leader is not reaped that pid, and so the group id, cannot be handed to
//! any other process. So the leader's exit is awaited through a pidfd (or,
//! failing that, `waitid(WNOWAIT)`), neither of which reaps; the group is
//! killed, if it must be, before `wait()` reaps; and the [`Group`] guard that
//! kills it when the run is dropped half-way (runtime shutdown) is disarmed
//! as soon as the leader is reaped.

use super::{Job, Spec, CAPTURE_BYTES, HOOK_PATH, OUTPUT_GRACE};
use crate::daemon::pidfd;
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::task::JoinHandle;
use tokio::time::{timeout, timeout_at, Instant};
use tracing::{debug, warn};

/// How a run ended, for the counters.
pub(super) enum Ending {
    Done,
    Failed,
    TimedOut,
}

/// Kills the hook's process group when dropped, unless disarmed. Armed only
/// while the leader is unreaped (see the module docs).
struct Group(Option<Pid>);

impl Group {
    fn kill(&self) {
        if let Some(pgid) = self.0 {
            _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The first [`CAPTURE_BYTES`] of a stream, and how many bytes it had.
#[derive(Default)]
struct Captured {
    head: Vec<u8>,
    total: u64,
}

pub(super) async fn run_once(spec: &Spec, job: &Job) -> Ending {
    let started = Instant::now();
    let deadline = started + spec.timeout;
    let (i, program, event) = (spec.index, spec.program.display(), &*job.event);
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .env_clear()
        .env("PATH", HOOK_PATH)
        .env("HOME", &spec.user.home)
        .env("USER", &spec.user.name)
        .env("LOGNAME", &spec.user.name)
        .env("LANG", "C.UTF-8")
        .env("CLAUDINE_EVENT", event)
        .env("CLAUDINE_HOOK", i.to_string())
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if spec.user.uid != 0 {
        // std drops the supplementary groups when it changes the uid.
        cmd.uid(spec.user.uid).gid(spec.user.gid);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            warn!(
                claudine_hook = i,
                claudine_event = event,
                "hooks[{i}] ({program}): cannot start it for {event}: {e}"
            );
            return Ending::Failed;
        }
    };
    // Declared after `child`, so dropped (and the group killed) before the
    // child is dropped and handed to tokio's reaper.
    let mut group = Group(child.id().map(|p| Pid::from_raw(p as i32)));
    let Some(pid) = group.0 else {
        return Ending::Failed; // already reaped: cannot happen before wait()
    };
    let mut stdin = child.stdin.take();
    let line = job.line.clone();
    let writer = tokio::spawn(async move {
        if let Some(s) = stdin.as_mut() {
            // A hook may ignore its stdin and exit: EPIPE is not an error.
            _ = s.write_all(line.as_bytes()).await;
        }
    });
    let mut out = tokio::spawn(capture(child.stdout.take()));
    let mut err = tokio::spawn(capture(child.stderr.take()));
    let (mut out_got, mut err_got) = (None, None);
    let in_time = timeout_at(deadline, async {
        leader_exit(pid).await;
        out_got = Some((&mut out).await.unwrap_or_default());
        err_got = Some((&mut err).await.unwrap_or_default());
    })
    .await
    .is_ok();
    if !in_time {
        group.kill();
    }
    let status = child.wait().await;
    group.0 = None;
    writer.abort();
    // After a kill the pipes close at once, unless a process left the group.
    let stdout = finish(out_got, &mut out).await;
    let stderr = finish(err_got, &mut err).await;
    let ms = started.elapsed().as_millis();
    let said = || format!("stderr: {}; stdout: {}", shown(&stderr), shown(&stdout));
    match status {
        _ if !in_time => {
            warn!(claudine_hook = i, claudine_event = event,
                "hooks[{i}] ({program}) did not finish {event} within {} ms; its process group was killed; {}",
                spec.timeout.as_millis(), said());
            Ending::TimedOut
        }
        Ok(s) if s.success() => {
            debug!(
                claudine_hook = i,
                claudine_event = event,
                "hooks[{i}] ({program}) ran for {event} in {ms} ms"
            );
            Ending::Done
        }
        Ok(s) => {
            warn!(
                claudine_hook = i,
                claudine_event = event,
                "hooks[{i}] ({program}) failed for {event} after {ms} ms: {}; {}",
                describe(s),
                said()
            );
            Ending::Failed
        }
        Err(e) => {
            warn!(
                claudine_hook = i,
                claudine_event = event,
                "hooks[{i}] ({program}): cannot wait for it: {e}"
            );
            Ending::Failed
        }
    }
}

/// Resolves once the leader has exited, without reaping it.
async fn leader_exit(pid: Pid) {
    match pidfd::open(pid.as_raw() as u32) {
        Ok(Some(fd)) => match pidfd::wait_exit(fd).await {
            Ok(()) => return,
            Err(e) => debug!("pidfd wait for hook pid {pid}: {e}; polling instead"),
        },
        Ok(None) => return,
        Err(e) => debug!("pidfd for hook pid {pid}: {e}; polling instead"),
    }
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    while let Ok(WaitStatus::StillAlive) = waitid(Id::Pid(pid), flags) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn capture(pipe: Option<impl AsyncRead + Unpin>) -> Captured {
    let mut got = Captured::default();
    let Some(mut pipe) = pipe else { return got };
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = pipe.read(&mut buf).await {
        let keep = n.min(CAPTURE_BYTES - got.head.len());
        got.head.extend_from_slice(&buf[..keep]);
        got.total += n as u64;
    }
    got
}

async fn finish(got: Option<Captured>, handle: &mut JoinHandle<Captured>) -> Captured {
    if let Some(c) = got {
        return c;
    }
    match timeout(OUTPUT_GRACE, &mut *handle).await {
        Ok(c) => c.unwrap_or_default(),
        Err(_) => {
            handle.abort();
            Captured::default()
        }
    }
}

/// `"text"` (escaped, trimmed), with the size when it was cut.
fn shown(c: &Captured) -> String {
    let text = String::from_utf8_lossy(&c.head);
    let text = format!("{:?}", text.trim());
    if c.total > c.head.len() as u64 {
        format!("{text} (first {} of {} bytes)", c.head.len(), c.total)
    } else {
        text
    }
}

fn describe(s: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => match Signal::try_from(sig) {
            Ok(sig) => format!("killed by {sig}"),
            Err(_) => format!("killed by signal {sig}"),
        },
        _ => s.to_string(),
    }
}
