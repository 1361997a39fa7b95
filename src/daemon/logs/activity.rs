//! When each task last wrote output, as the hub's one inotify watch sees it.
//!
//! The hub calls [`Activity::touch`] for every change to a task's combined
//! log (`<id>.log`), so a burst of writes costs a map update per inotify
//! event (the kernel merges identical consecutive events), never a syscall
//! per byte. The monitor reads [`Activity::last_write`] at each sample, and
//! asks with [`Activity::wake_on_output`] to hear of the next write of a
//! stalled task at once, not at the next sample.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, OnceLock};

type Notify = Box<dyn Fn(i64, i64) + Send + Sync>;

#[derive(Default)]
pub struct Activity {
    map: Mutex<Map>,
    /// Called with (task, time) for a write of a task in `wake`.
    notify: OnceLock<Notify>,
}

#[derive(Default)]
struct Map {
    last_write_ms: HashMap<i64, i64>,
    wake: HashSet<i64>,
}

impl Activity {
    fn lock(&self) -> MutexGuard<'_, Map> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Set once, by the daemon, before tasks run.
    pub fn set_notify(&self, f: impl Fn(i64, i64) + Send + Sync + 'static) {
        let _ = self.notify.set(Box::new(f));
    }

    /// Task `id` wrote output at `now_ms`.
    pub fn touch(&self, id: i64, now_ms: i64) {
        let woke = {
            let mut map = self.lock();
            map.last_write_ms.insert(id, now_ms);
            map.wake.remove(&id)
        };
        if woke {
            if let Some(f) = self.notify.get() {
                f(id, now_ms);
            }
        }
    }

    /// The last write seen since the daemon started, if any.
    pub fn last_write(&self, id: i64) -> Option<i64> {
        self.lock().last_write_ms.get(&id).copied()
    }

    /// Call the notifier at the next write of `id` (once).
    pub fn wake_on_output(&self, id: i64) {
        self.lock().wake.insert(id);
    }

    /// The task ended (or is no longer watched).
    pub fn forget(&self, id: i64) {
        let mut map = self.lock();
        map.last_write_ms.remove(&id);
        map.wake.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn records_writes_and_wakes_once() {
        let a = Activity::default();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let h = heard.clone();
        a.set_notify(move |id, at| h.lock().unwrap().push((id, at)));
        assert_eq!(a.last_write(4), None);
        a.touch(4, 100);
        assert_eq!(a.last_write(4), Some(100));
        assert!(heard.lock().unwrap().is_empty(), "nobody asked");
        a.wake_on_output(4);
        a.touch(4, 200);
        a.touch(4, 300);
        assert_eq!(*heard.lock().unwrap(), [(4, 200)], "one wake-up");
        a.wake_on_output(4);
        a.forget(4);
        a.touch(4, 400);
        assert_eq!(heard.lock().unwrap().len(), 1, "forgotten: no wake-up");
        assert_eq!(a.last_write(4), Some(400));
    }
}
