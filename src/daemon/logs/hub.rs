//! [`LogHub`]: one inotify instance for every follower of every log.
//!
//! `fs.inotify.max_user_instances` (128 by default) is a budget shared by
//! everything root runs, so a follower must not cost an instance: the hub
//! holds one, with one watch on the logs directory, and a reader task turns
//! its events into wake-ups for the followers of the task the file belongs
//! to.
//!
//! A follower learns about its task through a `tokio::sync::watch` channel,
//! which holds only the latest [`Progress`]. It cannot lag as a broadcast
//! channel can: a follower that is slow to look still sees `finished`
//! whenever it next looks, and a burst of writes is one wake-up, not a queue.
//!
//! Who calls what: the actor calls [`LogHub::follow`] while the task is not
//! terminal and [`LogHub::finish`] when it becomes terminal. Both happen on
//! the actor's one thread, so a follower is registered either before the end
//! (and sees it) or not at all (the task is terminal: read once and end).

use super::{task_of_file, LogError};
use futures_util::StreamExt;
use inotify::{EventMask, EventStream, Inotify, WatchMask};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;
use tracing::{error, warn};

/// What a follower knows about its task's logs: the latest value only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Progress {
    /// Bumped whenever one of the task's files may have changed.
    pub changes: u64,
    /// The task is terminal: read to the end once more and stop.
    pub finished: bool,
}

struct Entry {
    tx: watch::Sender<Progress>,
    followers: usize,
}

/// Who follows which task. A plain std mutex: it guards only this
/// bookkeeping (task state stays with the actor, which holds no lock), it is
/// held for a map look-up at a time and never across an await.
#[derive(Default)]
struct Followers(Mutex<HashMap<i64, Entry>>);

impl Followers {
    fn lock(&self) -> MutexGuard<'_, HashMap<i64, Entry>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self, id: i64) {
        if let Some(entry) = self.lock().get(&id) {
            entry.tx.send_modify(bump);
        }
    }

    fn wake_all(&self) {
        for entry in self.lock().values() {
            entry.tx.send_modify(bump);
        }
    }
}

fn bump(p: &mut Progress) {
    p.changes = p.changes.wrapping_add(1);
}

/// The daemon's one watcher of the logs directory.
pub struct LogHub {
    followers: Arc<Followers>,
    /// When each task last wrote (its combined log changed).
    activity: Arc<super::Activity>,
    reader: tokio::task::AbortHandle,
}

impl LogHub {
    /// Watch `dir` (IN_MODIFY, IN_CLOSE_WRITE, IN_CREATE) with one inotify
    /// instance and spawn the task that wakes followers. Needs a tokio
    /// runtime. Dropping the hub stops that task and ends every follow.
    pub fn start(dir: &Path) -> Result<Arc<LogHub>, LogError> {
        let events = watch_dir(dir)?;
        let followers = Arc::new(Followers::default());
        let activity = Arc::new(super::Activity::default());
        let reader = tokio::spawn(read_events(
            dir.to_path_buf(),
            events,
            followers.clone(),
            activity.clone(),
        ));
        Ok(Arc::new(LogHub {
            followers,
            activity,
            reader: reader.abort_handle(),
        }))
    }

    /// Register a follower of task `id`, which must not be terminal yet.
    pub fn follow(&self, id: i64) -> LogFollow {
        let mut map = self.followers.lock();
        let entry = map.entry(id).or_insert_with(|| Entry {
            tx: watch::channel(Progress::default()).0,
            followers: 0,
        });
        entry.followers += 1;
        LogFollow {
            id,
            rx: entry.tx.subscribe(),
            followers: self.followers.clone(),
        }
    }

    /// Task `id` is terminal: its followers read to the end and stop.
    pub fn finish(&self, id: i64) {
        if let Some(entry) = self.followers.lock().get(&id) {
            entry.tx.send_modify(|p| p.finished = true);
        }
        // Its last write is of no use any more (a task that ended before
        // the monitor first sampled it would otherwise stay in the map).
        self.activity.forget(id);
    }

    /// When tasks last wrote output.
    pub fn activity(&self) -> &Arc<super::Activity> {
        &self.activity
    }

    /// Open follows, over all tasks.
    pub fn followers(&self) -> usize {
        self.followers.lock().values().map(|e| e.followers).sum()
    }

    /// Tasks with at least one follower.
    #[cfg(test)]
    pub(super) fn followed_tasks(&self) -> usize {
        self.followers.lock().len()
    }
}

impl Drop for LogHub {
    /// The daemon is stopping: nothing will wake followers any more, so each
    /// one sends what is there and ends.
    fn drop(&mut self) {
        self.reader.abort();
        for entry in self.followers.lock().values() {
            entry.tx.send_modify(|p| p.finished = true);
        }
    }
}

/// One follower of one task. Dropping it unregisters; the task's entry goes
/// with its last follower.
pub struct LogFollow {
    id: i64,
    rx: watch::Receiver<Progress>,
    followers: Arc<Followers>,
}

impl LogFollow {
    pub fn id(&self) -> i64 {
        self.id
    }

    /// The latest progress, marked as seen: a change after this call makes
    /// the next [`changed`](Self::changed) return at once.
    pub(super) fn seen(&mut self) -> Progress {
        *self.rx.borrow_and_update()
    }

    /// Wait for a change not yet [`seen`](Self::seen). False if the hub is
    /// gone and nothing will come (cannot happen while this follow is
    /// registered, since the entry holds the sender; kept for safety).
    pub(super) async fn changed(&mut self) -> bool {
        self.rx.changed().await.is_ok()
    }
}

impl Drop for LogFollow {
    fn drop(&mut self) {
        let mut map = self.followers.lock();
        if let Some(entry) = map.get_mut(&self.id) {
            entry.followers -= 1;
            if entry.followers == 0 {
                map.remove(&self.id);
            }
        }
    }
}

impl std::fmt::Debug for LogFollow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogFollow").field("id", &self.id).finish()
    }
}

type Events = EventStream<[u8; 4096]>;

fn watch_dir(dir: &Path) -> Result<Events, LogError> {
    let io = |step| {
        move |source| LogError::Io {
            step,
            path: dir.to_path_buf(),
            source,
        }
    };
    let inotify = Inotify::init().map_err(io("create the inotify instance for"))?;
    let mask = WatchMask::MODIFY
        | WatchMask::CLOSE_WRITE
        | WatchMask::CREATE
        | WatchMask::ONLYDIR
        | WatchMask::DONT_FOLLOW;
    inotify
        .watches()
        .add(dir, mask)
        .map_err(io("add an inotify watch on"))?;
    inotify
        .into_event_stream([0u8; 4096])
        .map_err(io("register with tokio the inotify instance for"))
}

/// The reader task: wake the followers of the task each event names. It
/// never ends by itself; when reading fails it watches the directory anew
/// and wakes every follower, since events may have been lost.
async fn read_events(
    dir: PathBuf,
    mut events: Events,
    followers: Arc<Followers>,
    activity: Arc<super::Activity>,
) {
    loop {
        let failure = match events.next().await {
            Some(Ok(ev)) => {
                if ev.mask.contains(EventMask::MODIFY) {
                    if let Some(id) = ev.name.as_deref().and_then(combined_log_of) {
                        activity.touch(id, crate::daemon::actor::now_ms());
                    }
                }
                dispatch(&dir, &followers, ev.mask, ev.name.as_deref());
                continue;
            }
            Some(Err(e)) => e.to_string(),
            None => "the inotify instance was closed".to_string(),
        };
        error!(
            "read inotify events for {}: {failure}; watching it anew",
            dir.display()
        );
        events = rewatch(&dir).await;
        followers.wake_all();
    }
}

fn dispatch(dir: &Path, followers: &Followers, mask: EventMask, name: Option<&OsStr>) {
    if mask.contains(EventMask::Q_OVERFLOW) {
        warn!(
            "inotify queue for {} overflowed; waking every log follower",
            dir.display()
        );
        followers.wake_all();
    } else if mask.contains(EventMask::IGNORED) {
        error!(
            "inotify watch on {} was removed (directory deleted or unmounted?); \
             log followers now only learn of their task's end",
            dir.display()
        );
        followers.wake_all();
    } else if let Some(id) = name.and_then(task_of_file) {
        followers.wake(id);
    }
}

/// The task whose combined log (`<id>.log`) `name` is.
fn combined_log_of(name: &OsStr) -> Option<i64> {
    task_of_file(name).filter(|_| name.to_str().is_some_and(|n| n.ends_with(".log")))
}

/// Watch `dir` again, retrying every second while that fails (e.g. the
/// instance budget is exhausted); each failure is logged with its step.
async fn rewatch(dir: &Path) -> Events {
    loop {
        match watch_dir(dir) {
            Ok(events) => return events,
            Err(e) => {
                error!("{e}; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
