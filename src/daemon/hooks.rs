//! Notification hooks: commands run for chosen events, with the event as one
//! JSON line on stdin (a webhook through curl, notify-send, a chat bot).
//!
//! Configured as `[[hooks]]` tables, one [`HookConfig`] each, checked and
//! started once by [`Hooks::start`]; the daemon then calls [`Hooks::fire`]
//! for every event. What the code promises:
//!
//! - **Never blocks the caller.** `fire` is a plain function: it matches the
//!   event name and `try_send`s onto each matching hook's queue. No await, no
//!   lock, no process started on the caller's stack.
//! - **One queue and one runner per hook.** Each hook has its own bounded
//!   queue ([`QUEUE_CAPACITY`]) and its own tokio task that runs the events of
//!   that hook one at a time, in order. A slow or hanging hook delays only
//!   itself; a full queue drops the event for that hook only, counts it in
//!   `dropped`, and logs once per burst (and once more when room returns).
//! - **Bounded in time.** A run lasts until the command exits *and* its
//!   stdout and stderr are closed (a background child holding them keeps the
//!   run going), at most `timeout_ms`. Then the hook's whole process group is
//!   killed with SIGKILL, logged as a warning and counted in `timed_out`. The
//!   group is only ever signalled while its first process is not yet reaped
//!   (it is awaited through a pidfd, which does not reap), so the group id
//!   cannot have been reused by an unrelated process.
//! - **Never root unless configured.** A hook runs as `user`, by default
//!   [`DEFAULT_USER`] (`nobody`); `user = "root"` must be written out. The
//!   user's uid and primary gid are set, supplementary groups dropped.
//! - **Checked at start.** An empty command, a program that is missing, not
//!   found on [`HOOK_PATH`], given as a relative path, not a regular file or
//!   not executable by the hook's user, an unknown user, a bad event pattern
//!   or timeout: [`Hooks::start`] refuses with an error naming `hooks[i]`.
//!
//! What a hook gets: its argv as configured (no shell; the program is
//! resolved to an absolute path at start); on stdin the event line and a
//! newline, then end of file; the environment `PATH=`[`HOOK_PATH`], `HOME`,
//! `USER`, `LOGNAME` of its user, `LANG=C.UTF-8`, `CLAUDINE_EVENT` (the event
//! name) and `CLAUDINE_HOOK` (its index), nothing of the daemon's; cwd `/`;
//! its own process group. The first [`CAPTURE_BYTES`] of stdout and stderr
//! are kept and logged when the run fails or times out. Hooks run in
//! claudined's own cgroup: keep them small (hand real work to a service).
//!
//! Counters for the metrics endpoint: [`Hooks::stats`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::{self, error::TrySendError};
use tracing::{info, warn};

/// Events that may wait for one hook; beyond this they are dropped for it.
pub const QUEUE_CAPACITY: usize = 256;
/// `timeout_ms` when the configuration does not say.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// The longest `timeout_ms` accepted (10 minutes).
pub const MAX_TIMEOUT_MS: u64 = 600_000;
/// The user a hook runs as when its configuration names none.
pub const DEFAULT_USER: &str = "nobody";
/// Bytes of a hook's stdout, and of its stderr, kept for the log.
pub const CAPTURE_BYTES: usize = 4096;
/// The `PATH` a hook runs with, and where a bare program name is looked up.
pub const HOOK_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// After a kill, how long the output pipes may take to close.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);

/// The counters of one hook, for the metrics endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookStats {
    /// Position of the `[[hooks]]` table, from 0.
    pub index: usize,
    /// The program, as resolved at start.
    pub program: String,
    /// Runs started (an event taken from the queue).
    pub fired: u64,
    /// Runs that could not start, exited non-zero or were killed by a signal
    /// (timeouts not included).
    pub failed: u64,
    /// Runs killed at the timeout.
    pub timed_out: u64,
    /// Events not run because this hook's queue was full.
    pub dropped: u64,
}

/// The started hooks. Dropping it closes the queues: each runner finishes
/// the events already queued, then ends. When the runtime shuts down
/// instead, a run in progress is dropped and its process group killed.
pub struct Hooks {
    hooks: Vec<Hook>,
}

struct Hook {
    patterns: Vec<String>,
    program: String,
    index: usize,
    tx: mpsc::Sender<Job>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    fired: AtomicU64,
    failed: AtomicU64,
    timed_out: AtomicU64,
    dropped: AtomicU64,
    /// Set by the first drop of a burst, cleared by the next accepted event.
    overflowing: AtomicBool,
}

struct Job {
    event: Arc<str>,
    /// The JSON line, newline included.
    line: Arc<str>,
}

impl Hooks {
    /// Check every configuration, then start one runner task per hook. A bad
    /// hook starts none. Looks up users (NSS, blocking) and stats programs:
    /// call it at start-up, from inside the tokio runtime.
    pub fn start(configs: &[HookConfig]) -> Result<Hooks, HookError> {
        let specs = configs
            .iter()
            .enumerate()
            .map(|(i, c)| check(i, c))
            .collect::<Result<Vec<_>, _>>()?;
        let hooks = specs
            .into_iter()
            .zip(configs)
            .map(|(spec, cfg)| {
                let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
                let counters = Arc::new(Counters::default());
                let hook = Hook {
                    patterns: cfg.events.clone(),
                    program: spec.program.display().to_string(),
                    index: spec.index,
                    tx,
                    counters: counters.clone(),
                };
                tokio::spawn(runner(spec, counters, rx));
                hook
            })
            .collect();
        Ok(Hooks { hooks })
    }

    /// No hooks configured.
    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    /// Queue `json_line` (one line of JSON, the event) for every hook that
    /// takes `event`. Never blocks or waits; a hook whose queue is full
    /// misses this event (counted and logged), the others do not.
    pub fn fire(&self, event: &str, json_line: String) {
        let mut job: Option<(Arc<str>, Arc<str>)> = None;
        let mut json_line = Some(json_line);
        for hook in &self.hooks {
            if !hook.patterns.iter().any(|p| matches(p, event)) {
                continue;
            }
            let (event, line) = job.get_or_insert_with(|| {
                let mut line = json_line.take().unwrap_or_default();
                while line.ends_with(['\n', '\r']) {
                    line.pop();
                }
                line.push('\n');
                (Arc::from(event), Arc::from(line))
            });
            let job = Job {
                event: event.clone(),
                line: line.clone(),
            };
            let c = &hook.counters;
            match hook.tx.try_send(job) {
                Ok(()) => {
                    if c.overflowing.swap(false, Relaxed) {
                        info!(
                            claudine_hook = hook.index,
                            "hooks[{}] ({}): queue has room again; {} events dropped in all",
                            hook.index,
                            hook.program,
                            c.dropped.load(Relaxed)
                        );
                    }
                }
                Err(TrySendError::Full(_) | TrySendError::Closed(_)) => {
                    c.dropped.fetch_add(1, Relaxed);
                    if !c.overflowing.swap(true, Relaxed) {
                        warn!(claudine_hook = hook.index, "hooks[{}] ({}): {QUEUE_CAPACITY} events waiting; dropping its events until it catches up",
                            hook.index, hook.program);
                    }
                }
            }
        }
    }

    /// The counters of every hook, in configuration order.
    pub fn stats(&self) -> Vec<HookStats> {
        self.hooks
            .iter()
            .map(|h| HookStats {
                index: h.index,
                program: h.program.clone(),
                fired: h.counters.fired.load(Relaxed),
                failed: h.counters.failed.load(Relaxed),
                timed_out: h.counters.timed_out.load(Relaxed),
                dropped: h.counters.dropped.load(Relaxed),
            })
            .collect()
    }
}

/// `"*"` takes everything, `"task:*"` every name starting `task:`, anything
/// else exactly its own name.
fn matches(pattern: &str, event: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => event.starts_with(prefix),
        None => pattern == event,
    }
}

async fn runner(spec: Spec, counters: Arc<Counters>, mut rx: mpsc::Receiver<Job>) {
    while let Some(job) = rx.recv().await {
        counters.fired.fetch_add(1, Relaxed);
        match run_once(&spec, &job).await {
            Ending::Done => {}
            Ending::Failed => {
                counters.failed.fetch_add(1, Relaxed);
            }
            Ending::TimedOut => {
                counters.timed_out.fetch_add(1, Relaxed);
            }
        }
    }
}

#[path = "hooks_check.rs"]
mod check;
#[path = "hooks_run.rs"]
mod run;
use check::{check, Spec};
pub use check::{HookConfig, HookError};
use run::{run_once, Ending};

#[cfg(test)]
#[path = "hooks_tests.rs"]
mod tests;
