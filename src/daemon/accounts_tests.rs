//! Tests of [`Accounts`] against a fake database that counts its calls and
//! can hang on chosen uids until released.

use super::*;
use std::collections::HashSet;
use std::sync::Condvar;

const ADMIN_GROUP: &str = "wheel";
const ADMIN_GID: u32 = 10;

#[derive(Default)]
struct Fake {
    calls: Mutex<HashMap<String, usize>>,
    hung: Mutex<HashSet<u32>>,
    released: Condvar,
}

impl Fake {
    fn calls(&self, what: &str) -> usize {
        self.calls.lock().unwrap().get(what).copied().unwrap_or(0)
    }

    fn count(&self, what: String) {
        *self.calls.lock().unwrap().entry(what).or_default() += 1;
    }

    fn hang(&self, uid: u32) {
        self.hung.lock().unwrap().insert(uid);
    }

    fn release_all(&self) {
        self.hung.lock().unwrap().clear();
        self.released.notify_all();
    }
}

fn acct(uid: u32, name: &str, groups: &[u32]) -> Account {
    Account {
        uid,
        gid: uid,
        name: name.into(),
        home: format!("/home/{name}"),
        shell: "/bin/sh".into(),
        groups: groups.to_vec(),
        group_names: Vec::new(),
    }
}

impl Resolver for Fake {
    fn account(&self, uid: u32) -> Result<Account, UserError> {
        self.count(format!("uid {uid}"));
        let mut hung = self.hung.lock().unwrap();
        while hung.contains(&uid) {
            hung = self.released.wait(hung).unwrap();
        }
        match uid {
            0 => Ok(acct(0, "root", &[0])),
            1 => Ok(acct(1, "hung", &[1])),
            2 => Ok(acct(2, "bob", &[2])),
            1000 => Ok(acct(1000, "alice", &[1000, ADMIN_GID])),
            1001 => Ok(acct(1001, "carol", &[1001])),
            _ => Err(UserError::NoSuchUid(uid)),
        }
    }

    fn uid_of(&self, name: &str) -> Result<Option<u32>, UserError> {
        self.count(format!("user {name}"));
        Ok((name == "alice").then_some(1000))
    }

    fn gid_of(&self, group: &str) -> Result<Option<u32>, UserError> {
        self.count(format!("group {group}"));
        Ok((group == ADMIN_GROUP).then_some(ADMIN_GID))
    }
}

/// Releases every hung lookup when the test ends, pass or fail: the runtime
/// waits for its blocking threads when it shuts down.
struct Harness {
    fake: Arc<Fake>,
    accounts: Arc<Accounts>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.fake.release_all();
    }
}

const TIMEOUT: Duration = Duration::from_millis(150);
const NEGATIVE_TTL: Duration = Duration::from_millis(100);

fn harness(max_in_flight: usize) -> Harness {
    let fake = Arc::new(Fake::default());
    let accounts = Accounts::with_resolver(
        fake.clone(),
        ADMIN_GROUP.into(),
        Duration::from_secs(60),
        NEGATIVE_TTL,
        TIMEOUT,
        max_in_flight,
    );
    Harness { fake, accounts }
}

/// Wait (a bounded while) until `f` holds.
async fn eventually(what: &str, f: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn in_flight(a: &Accounts) -> usize {
    a.table().in_flight
}

#[tokio::test]
async fn a_second_lookup_is_served_from_the_cache() {
    let h = harness(16);
    let a = h.accounts.account(2).await.unwrap();
    let b = h.accounts.account(2).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(a.name, "bob");
    assert_eq!(h.fake.calls("uid 2"), 1);
    assert_eq!(h.accounts.cached_account(2).unwrap().unwrap(), a);
    assert_eq!(h.fake.calls("uid 2"), 1);
}

#[tokio::test]
async fn callers_are_cached_and_admin_comes_from_the_admin_group() {
    let h = harness(16);
    let alice = h.accounts.caller(1000, 1000).await.unwrap();
    assert!(alice.admin);
    assert_eq!(alice.name, "alice");
    let carol = h.accounts.caller(1001, 1001).await.unwrap();
    assert!(!carol.admin);
    // The admin group as the peer's primary gid counts too.
    assert!(h.accounts.caller(1001, ADMIN_GID).await.unwrap().admin);
    let again = h.accounts.caller(1000, 1000).await.unwrap();
    assert_eq!(again, alice);
    assert_eq!(h.fake.calls("uid 1000"), 1);
    assert_eq!(h.fake.calls("uid 1001"), 1);
    assert_eq!(h.fake.calls(&format!("group {ADMIN_GROUP}")), 1);
    let root = h.accounts.caller(0, 0).await.unwrap();
    assert!(root.admin);
    assert!(matches!(
        h.accounts.caller(77, 77).await,
        Err(UserError::NoSuchUid(77))
    ));
}

#[tokio::test]
async fn a_hung_lookup_times_out_and_other_uids_are_still_served() {
    let h = harness(16);
    h.fake.hang(1);
    let started = Instant::now();
    let err = h.accounts.account(1).await.unwrap_err();
    assert!(
        matches!(&err, UserError::Timeout { what, secs: 1 } if what == "uid 1"),
        "{err:?}"
    );
    assert!(started.elapsed() >= TIMEOUT);
    assert!(started.elapsed() < TIMEOUT * 5);
    assert!(err.to_string().contains("did not answer for uid 1"));
    // Meanwhile, other users are served, and callers too.
    assert_eq!(h.accounts.account(2).await.unwrap().name, "bob");
    assert!(h.accounts.caller(1000, 1000).await.unwrap().admin);
    // The timeout was not cached as "no such uid": once the database
    // answers, the late answer is what the next call gets.
    assert!(h.accounts.cached_account(1).is_none());
    h.fake.release_all();
    eventually("the late answer", || h.accounts.cached_account(1).is_some()).await;
    assert_eq!(h.accounts.account(1).await.unwrap().name, "hung");
    assert_eq!(h.fake.calls("uid 1"), 1);
}

#[tokio::test]
async fn concurrent_lookups_of_one_uid_share_one_call() {
    let h = harness(16);
    h.fake.hang(1);
    let waits = (0..10).map(|_| h.accounts.account(1));
    let results = futures_util::future::join_all(waits).await;
    assert_eq!(results.len(), 10);
    for r in &results {
        assert!(matches!(r, Err(UserError::Timeout { .. })), "{r:?}");
    }
    assert_eq!(h.fake.calls("uid 1"), 1);
    assert_eq!(in_flight(&h.accounts), 1);
    // Callers that come later join the same lookup too.
    assert!(h.accounts.account(1).await.is_err());
    assert!(h.accounts.cached_account(1).is_none());
    assert_eq!(h.fake.calls("uid 1"), 1);
    h.fake.release_all();
    eventually("the lookup to end", || in_flight(&h.accounts) == 0).await;
    assert_eq!(h.fake.calls("uid 1"), 1);
}

#[tokio::test]
async fn concurrent_callers_that_wait_get_the_answer() {
    let h = harness(16);
    h.fake.hang(1);
    let accounts = h.accounts.clone();
    let waiters: Vec<_> = (0..5)
        .map(|_| {
            let accounts = accounts.clone();
            tokio::spawn(async move { accounts.account(1).await })
        })
        .collect();
    eventually("the lookup to start", || h.fake.calls("uid 1") == 1).await;
    h.fake.release_all();
    for w in waiters {
        assert_eq!(w.await.unwrap().unwrap().name, "hung");
    }
    assert_eq!(h.fake.calls("uid 1"), 1);
}

#[tokio::test]
async fn no_such_uid_is_cached_for_the_negative_ttl() {
    let h = harness(16);
    for _ in 0..3 {
        assert!(matches!(
            h.accounts.account(9).await,
            Err(UserError::NoSuchUid(9))
        ));
    }
    assert!(matches!(
        h.accounts.cached_account(9),
        Some(Err(UserError::NoSuchUid(9)))
    ));
    assert_eq!(h.fake.calls("uid 9"), 1);
    tokio::time::sleep(NEGATIVE_TTL + Duration::from_millis(20)).await;
    assert!(h.accounts.account(9).await.is_err());
    assert_eq!(h.fake.calls("uid 9"), 2);
    // A found account outlives the negative TTL.
    h.accounts.account(2).await.unwrap();
    tokio::time::sleep(NEGATIVE_TTL + Duration::from_millis(20)).await;
    h.accounts.account(2).await.unwrap();
    assert_eq!(h.fake.calls("uid 2"), 1);
}

#[tokio::test]
async fn names_resolve_to_uids_and_are_cached_both_ways() {
    let h = harness(16);
    assert_eq!(h.accounts.uid_of("alice").await.unwrap(), Some(1000));
    assert_eq!(h.accounts.uid_of("alice").await.unwrap(), Some(1000));
    assert_eq!(h.accounts.uid_of("nobody-here").await.unwrap(), None);
    assert_eq!(h.accounts.uid_of("nobody-here").await.unwrap(), None);
    assert_eq!(h.fake.calls("user alice"), 1);
    assert_eq!(h.fake.calls("user nobody-here"), 1);
    tokio::time::sleep(NEGATIVE_TTL + Duration::from_millis(20)).await;
    assert_eq!(h.accounts.uid_of("nobody-here").await.unwrap(), None);
    assert_eq!(h.fake.calls("user nobody-here"), 2);
    assert_eq!(h.fake.calls("user alice"), 1);
}

#[tokio::test]
async fn the_actor_never_waits_and_a_background_lookup_fills_the_cache() {
    let h = harness(16);
    h.fake.hang(2);
    let started = Instant::now();
    for _ in 0..5 {
        assert!(h.accounts.cached_account(2).is_none());
    }
    assert!(started.elapsed() < TIMEOUT);
    eventually("the lookup to start", || h.fake.calls("uid 2") == 1).await;
    h.fake.release_all();
    eventually("the answer", || h.accounts.cached_account(2).is_some()).await;
    assert_eq!(h.accounts.cached_account(2).unwrap().unwrap().name, "bob");
    assert_eq!(h.fake.calls("uid 2"), 1);
}

#[tokio::test]
async fn beyond_the_cap_new_lookups_are_refused_at_once() {
    let h = harness(2);
    h.fake.hang(1);
    h.fake.hang(5);
    assert!(h.accounts.cached_account(1).is_none());
    assert!(h.accounts.cached_account(5).is_none());
    eventually("both lookups to start", || {
        h.fake.calls("uid 1") == 1 && h.fake.calls("uid 5") == 1
    })
    .await;
    let started = Instant::now();
    let err = h.accounts.account(2).await.unwrap_err();
    assert!(started.elapsed() < TIMEOUT);
    assert!(
        matches!(&err, UserError::Busy { in_flight: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("user database busy"));
    assert!(h.accounts.cached_account(2).is_none());
    assert!(matches!(
        h.accounts.caller(1001, 1001).await,
        Err(UserError::Busy { .. })
    ));
    assert!(matches!(
        h.accounts.uid_of("alice").await,
        Err(UserError::Busy { .. })
    ));
    // Joining a lookup already in flight is not refused.
    assert!(matches!(
        h.accounts.account(1).await,
        Err(UserError::Timeout { .. })
    ));
    assert_eq!(h.fake.calls("uid 2"), 0);
    h.fake.release_all();
    eventually("the slots to free", || in_flight(&h.accounts) == 0).await;
    assert_eq!(h.accounts.account(2).await.unwrap().name, "bob");
}

struct Panicky;

impl Resolver for Panicky {
    fn account(&self, _uid: u32) -> Result<Account, UserError> {
        panic!("resolver blew up");
    }
    fn uid_of(&self, _name: &str) -> Result<Option<u32>, UserError> {
        Ok(None)
    }
    fn gid_of(&self, _group: &str) -> Result<Option<u32>, UserError> {
        Ok(None)
    }
}

#[tokio::test]
async fn a_lookup_that_dies_gives_its_slot_back() {
    let accounts = Accounts::with_resolver(
        Arc::new(Panicky),
        ADMIN_GROUP.into(),
        Duration::from_secs(60),
        NEGATIVE_TTL,
        Duration::from_secs(5),
        1,
    );
    assert!(matches!(
        accounts.account(3).await,
        Err(UserError::Lost { .. })
    ));
    assert_eq!(in_flight(&accounts), 0);
    assert!(accounts.table().slots.is_empty());
    // The one slot is free again.
    assert_eq!(accounts.uid_of("x").await.unwrap(), None);
}

#[test]
fn timeouts_read_in_whole_seconds() {
    assert_eq!(whole_secs(Duration::from_secs(5)), 5);
    assert_eq!(whole_secs(Duration::from_millis(150)), 1);
    assert_eq!(whole_secs(Duration::from_millis(5_001)), 6);
}
