//! The hub with a real inotify instance on a temp dir, and streams that
//! follow through it. Nothing here sleeps and hopes: every wait is a future awaited with a
//! timeout, and "still waiting" is checked by polling once.

use super::*;
use bytes::Bytes;
use futures_util::{FutureExt, Stream, StreamExt};
use std::io::Write;
use std::pin::Pin;
use std::time::Duration;

/// Hub tests take this shared; the one that counts inotify instances in the
/// process takes it alone.
static INOTIFY: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

const LONG: Duration = Duration::from_secs(10);

type Body = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

fn body(path: PathBuf, tail: Option<usize>, follow: Option<LogFollow>) -> Body {
    Box::pin(stream(path, tail, follow))
}

/// The next chunk, which must come.
async fn next(s: &mut Body) -> Bytes {
    tokio::time::timeout(LONG, s.next())
        .await
        .expect("no chunk in time")
        .expect("the stream ended")
        .unwrap()
}

/// Everything until the end, which must come.
async fn rest(s: Body) -> String {
    let chunks: Vec<_> = tokio::time::timeout(LONG, s.collect::<Vec<_>>())
        .await
        .expect("the stream did not end");
    let bytes: Vec<u8> = chunks.into_iter().flat_map(|c| c.unwrap()).collect();
    String::from_utf8(bytes).unwrap()
}

/// The stream is waiting: polling it once gives nothing.
fn assert_waiting(s: &mut Body) {
    assert!(s.next().now_or_never().is_none(), "the stream did not wait");
}

fn append(dir: &Path, id: i64, stream: LogStream, text: &str) {
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .open(log_path(dir, id, stream))
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn inotify_fds() -> Vec<std::ffi::OsString> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            (target.as_os_str() == "anon_inode:inotify").then(|| e.file_name())
        })
        .collect()
}

#[tokio::test]
async fn without_follow_a_log_is_read_once_and_a_missing_one_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(dir.path(), 1, LogStream::Both);
    assert_eq!(rest(body(path.clone(), None, None)).await, "");
    std::fs::write(&path, "a\nb\nc\n").unwrap();
    assert_eq!(rest(body(path.clone(), None, None)).await, "a\nb\nc\n");
    assert_eq!(rest(body(path, Some(2), None)).await, "b\nc\n");
}

#[tokio::test]
async fn writes_wake_only_the_followers_of_their_task() {
    let _shared = INOTIFY.read().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = LogHub::start(dir.path()).unwrap();
    let (mut one, mut two, mut marker) = (hub.follow(1), hub.follow(2), hub.follow(3));
    assert_eq!(one.seen(), two.seen());
    let before = two.seen();
    append(dir.path(), 1, LogStream::Stdout, "x\n");
    tokio::time::timeout(LONG, one.changed()).await.unwrap();
    // Events are handled in order: once task 3's write has woken its
    // follower, task 1's write has been handled too, and woke no one else.
    append(dir.path(), 3, LogStream::Both, "x\n");
    tokio::time::timeout(LONG, marker.changed()).await.unwrap();
    assert_eq!(two.seen(), before);

    // The same through streams: the follower of task 1's stdout gets the
    // bytes, the one of task 2 keeps waiting.
    let mut s1 = body(log_path(dir.path(), 1, LogStream::Stdout), None, Some(one));
    let mut s2 = body(log_path(dir.path(), 2, LogStream::Stdout), None, Some(two));
    assert_eq!(next(&mut s1).await, "x\n");
    assert_waiting(&mut s2);
    append(dir.path(), 1, LogStream::Stdout, "y\n");
    assert_eq!(next(&mut s1).await, "y\n");
    assert_waiting(&mut s2);
    append(dir.path(), 2, LogStream::Stdout, "z\n");
    assert_eq!(next(&mut s2).await, "z\n");
    hub.finish(1);
    assert_eq!(rest(s1).await, "");
    assert_waiting(&mut s2);
    hub.finish(2);
    assert_eq!(rest(s2).await, "");
}

#[tokio::test]
async fn finish_ends_the_stream_after_the_final_bytes() {
    let _shared = INOTIFY.read().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = LogHub::start(dir.path()).unwrap();
    let mut logs = open_for_task(dir.path(), 1, 0, 0).unwrap();
    writeln!(logs.combined, "one").unwrap();
    let mut s = body(
        log_path(dir.path(), 1, LogStream::Both),
        None,
        Some(hub.follow(1)),
    );
    assert_eq!(next(&mut s).await, "one\n");
    writeln!(logs.combined, "two").unwrap();
    assert_eq!(next(&mut s).await, "two\n");
    // The last bytes and the end together: the bytes are not lost.
    writeln!(logs.combined, "three").unwrap();
    hub.finish(1);
    assert_eq!(rest(s).await, "three\n");
    assert_eq!(hub.followers(), 0);
}

#[tokio::test]
async fn tail_then_follow() {
    let _shared = INOTIFY.read().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = LogHub::start(dir.path()).unwrap();
    append(dir.path(), 1, LogStream::Stderr, "a\nb\nc\n");
    let path = log_path(dir.path(), 1, LogStream::Stderr);
    let mut s = body(path, Some(1), Some(hub.follow(1)));
    assert_eq!(next(&mut s).await, "c\n");
    append(dir.path(), 1, LogStream::Stderr, "d\n");
    assert_eq!(next(&mut s).await, "d\n");
    hub.finish(1);
    assert_eq!(rest(s).await, "");
}

#[tokio::test]
async fn a_follower_waits_for_the_file_to_appear() {
    let _shared = INOTIFY.read().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = LogHub::start(dir.path()).unwrap();
    let mut s = body(
        log_path(dir.path(), 5, LogStream::Both),
        None,
        Some(hub.follow(5)),
    );
    assert_waiting(&mut s);
    // The launch creates the logs; the command writes.
    let mut logs = open_for_task(dir.path(), 5, 0, 0).unwrap();
    writeln!(logs.combined, "hi").unwrap();
    assert_eq!(next(&mut s).await, "hi\n");
    hub.finish(5);
    assert_eq!(rest(s).await, "");
}

/// Defect: `logs --follow` on a finished task with no log looped forever
/// (it waited for the end's broadcast, which had already gone out).
#[tokio::test]
async fn finish_of_a_task_without_a_file_ends_its_follow_at_once() {
    let _shared = INOTIFY.read().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = LogHub::start(dir.path()).unwrap();
    // The follower is waiting for the file when the task ends.
    let mut s = body(
        log_path(dir.path(), 6, LogStream::Both),
        None,
        Some(hub.follow(6)),
    );
    assert_waiting(&mut s);
    hub.finish(6);
    assert_eq!(rest(s).await, "");
    // The task ends before the follower even looks.
    let f = hub.follow(7);
    hub.finish(7);
    assert_eq!(
        rest(body(
            log_path(dir.path(), 7, LogStream::Both),
            None,
            Some(f)
        ))
        .await,
        ""
    );
    assert_eq!(hub.followed_tasks(), 0);
}

/// Defect: a follower that lagged behind the broadcast of finished tasks
/// missed its own end and hung. A watch channel holds the latest value
/// only: however much happens meanwhile, the end is seen.
#[tokio::test]
async fn a_follower_far_behind_still_sees_its_end() {
    let _shared = INOTIFY.read().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = LogHub::start(dir.path()).unwrap();
    append(dir.path(), 1, LogStream::Both, "0\n");
    let mut s = body(
        log_path(dir.path(), 1, LogStream::Both),
        None,
        Some(hub.follow(1)),
    );
    assert_eq!(next(&mut s).await, "0\n");
    assert_waiting(&mut s);
    // While this follower is not polled: its task ends, then thousands of
    // other tasks with followers of their own end too.
    let mut expected = String::new();
    let mut f = OpenOptions::new()
        .append(true)
        .open(log_path(dir.path(), 1, LogStream::Both))
        .unwrap();
    for i in 1..2000 {
        writeln!(f, "{i}").unwrap();
        expected.push_str(&format!("{i}\n"));
    }
    hub.finish(1);
    let others: Vec<_> = (2..3000).map(|id| hub.follow(id)).collect();
    for id in 2..3000 {
        hub.finish(id);
    }
    assert_eq!(rest(s).await, expected);
    drop(others);
    assert_eq!(hub.followers(), 0);
}

/// Defect: each follower had its own inotify instance, from root's shared
/// budget of 128. Now 200 followers (more than that budget) share one
/// instance with one watch.
#[tokio::test]
async fn two_hundred_followers_use_one_inotify_instance() {
    let _alone = INOTIFY.write().await;
    let dir = tempfile::tempdir().unwrap();
    let before = inotify_fds();
    let hub = LogHub::start(dir.path()).unwrap();
    let after: Vec<_> = inotify_fds()
        .into_iter()
        .filter(|fd| !before.contains(fd))
        .collect();
    assert_eq!(after.len(), 1, "the hub has one inotify instance");
    let fdinfo = std::fs::read_to_string(Path::new("/proc/self/fdinfo").join(&after[0])).unwrap();
    assert_eq!(fdinfo.matches("inotify wd:").count(), 1, "{fdinfo}");

    append(dir.path(), 1, LogStream::Both, "start\n");
    let mut streams = Vec::new();
    for _ in 0..200 {
        let mut s = body(
            log_path(dir.path(), 1, LogStream::Both),
            None,
            Some(hub.follow(1)),
        );
        assert_eq!(next(&mut s).await, "start\n");
        assert_waiting(&mut s);
        streams.push(s);
    }
    assert_eq!(hub.followers(), 200);
    assert_eq!(inotify_fds().len(), before.len() + 1);
    let fdinfo = std::fs::read_to_string(Path::new("/proc/self/fdinfo").join(&after[0])).unwrap();
    assert_eq!(fdinfo.matches("inotify wd:").count(), 1, "{fdinfo}");

    // One write wakes them all.
    append(dir.path(), 1, LogStream::Both, "more\n");
    for s in &mut streams {
        assert_eq!(next(s).await, "more\n");
    }
    hub.finish(1);
    for s in streams {
        assert_eq!(rest(s).await, "");
    }
    assert_eq!(hub.followers(), 0);
    assert_eq!(hub.followed_tasks(), 0);
    drop(hub);
    tokio::task::yield_now().await;
}

#[tokio::test]
async fn dropping_followers_empties_the_map() {
    let _shared = INOTIFY.read().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = LogHub::start(dir.path()).unwrap();
    let a: Vec<_> = (0..3).map(|_| hub.follow(1)).collect();
    let b = hub.follow(2);
    assert_eq!((hub.followers(), hub.followed_tasks()), (4, 2));
    drop(b);
    assert_eq!((hub.followers(), hub.followed_tasks()), (3, 1));
    // A stream owns its follow: dropping the stream (the client went away)
    // unregisters it.
    let mut s = body(
        log_path(dir.path(), 1, LogStream::Both),
        None,
        Some(hub.follow(1)),
    );
    assert_waiting(&mut s);
    assert_eq!(hub.followers(), 4);
    drop(s);
    drop(a);
    assert_eq!((hub.followers(), hub.followed_tasks()), (0, 0));
}

#[tokio::test]
async fn dropping_the_hub_ends_every_follow() {
    let _shared = INOTIFY.read().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = LogHub::start(dir.path()).unwrap();
    append(dir.path(), 1, LogStream::Both, "a\n");
    let mut s = body(
        log_path(dir.path(), 1, LogStream::Both),
        None,
        Some(hub.follow(1)),
    );
    assert_eq!(next(&mut s).await, "a\n");
    assert_waiting(&mut s);
    let mut waiting = body(
        log_path(dir.path(), 2, LogStream::Both),
        None,
        Some(hub.follow(2)),
    );
    assert_waiting(&mut waiting);
    drop(hub);
    assert_eq!(rest(s).await, "");
    assert_eq!(rest(waiting).await, "");
}

/// The reader survives IN_Q_OVERFLOW: every follower is woken (their
/// events may be among the lost ones) and later events still arrive.
#[tokio::test(flavor = "current_thread")]
async fn an_overflowing_queue_wakes_everyone_and_the_hub_goes_on() {
    let _shared = INOTIFY.read().await;
    let max: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub = LogHub::start(dir.path()).unwrap();
    let mut bystander = hub.follow(99);
    let before = bystander.seen();
    // On this one-thread runtime the reader task cannot run until the test
    // awaits, so these writes fill its queue. Alternating between two files
    // keeps the kernel from merging consecutive identical events.
    let TaskLogs {
        out: mut a,
        err: mut b,
        ..
    } = open_for_task(dir.path(), 1, 0, 0).unwrap();
    for _ in 0..max / 2 + 100 {
        a.write_all(b"x").unwrap();
        b.write_all(b"x").unwrap();
    }
    // Task 99 has no file: only the overflow can wake its follower.
    tokio::time::timeout(LONG, bystander.changed())
        .await
        .expect("the overflow woke no one");
    assert_ne!(bystander.seen(), before);
    let mut later = hub.follow(7);
    append(dir.path(), 7, LogStream::Both, "x\n");
    tokio::time::timeout(LONG, later.changed())
        .await
        .expect("the hub stopped after the overflow");
}

#[tokio::test]
async fn the_hub_records_writes_of_the_combined_log_and_forgets_them_at_the_end() {
    let _shared = INOTIFY.read().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = LogHub::start(dir.path()).unwrap();
    let mut marker = hub.follow(9);
    append(dir.path(), 9, LogStream::Both, "x\n");
    tokio::time::timeout(LONG, marker.changed()).await.unwrap();
    assert!(
        hub.activity().last_write(9).is_some(),
        "a write to 9.log is activity"
    );
    hub.finish(9);
    assert_eq!(
        hub.activity().last_write(9),
        None,
        "forgotten once the task ended"
    );
}
