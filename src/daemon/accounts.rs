//! Account lookups off the actor and the async workers, bounded in time and
//! cached.
//!
//! NSS lookups (`getpwuid`, `getgrouplist`, `getgrnam`) block, and behind
//! sssd, LDAP or NIS they can take seconds or hang. claudined must not stall
//! on them: the actor feeds the systemd watchdog, and the server has only two
//! async workers. So every lookup runs on tokio's blocking pool, and:
//!
//! - **Bounded in time.** An async caller waits at most `timeout` (one
//!   deadline for all the lookups of one call) and then gets
//!   [`UserError::Timeout`]. The lookup itself cannot be cancelled; it goes on
//!   in its blocking thread and its answer, when it comes, is cached.
//! - **Coalesced.** At most one lookup per key (uid, user name, group name) is
//!   in flight; everyone who asks meanwhile waits for that one. A hung sssd
//!   therefore holds one blocking thread per key, not one per request.
//! - **Capped.** At most `max_in_flight` lookups run at once. Beyond that a new
//!   key is refused at once with [`UserError::Busy`] instead of queueing more
//!   threads behind a database that does not answer.
//! - **Cached.** Answers live `positive_ttl`; "no such uid/user/group" lives
//!   `negative_ttl`. Timeouts and lookup errors are not cached.
//! - **Non-blocking for the actor.** [`Accounts::cached_account`] never waits:
//!   it answers from the cache or starts a background lookup and says "not
//!   yet".
//!
//! The cache sits behind a std `Mutex` that guards only the map; it is never
//! held across an await or a lookup.

use super::users::{self, Account, Caller, UserError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How long an account, uid or gid found in the database is reused.
pub const DEFAULT_POSITIVE_TTL: Duration = Duration::from_secs(60);
/// How long "no such uid/user/group" is reused.
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(10);
/// How long an async caller waits for the database.
pub const DEFAULT_LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// Most lookups in flight at once (each holds a blocking thread).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 16;
/// Above this many entries, expired ones are dropped on the next insert.
const PRUNE_ABOVE: usize = 4096;

/// The user and group databases, as the daemon reads them. Every method may
/// block for as long as NSS does. [`Nss`] is the real one; tests inject
/// fakes that count calls or hang.
pub trait Resolver: Send + Sync + 'static {
    /// The account of `uid`; [`UserError::NoSuchUid`] if there is none.
    fn account(&self, uid: u32) -> Result<Account, UserError>;
    /// The uid of the user called `name`.
    fn uid_of(&self, name: &str) -> Result<Option<u32>, UserError>;
    /// The gid of the group called `group`.
    fn gid_of(&self, group: &str) -> Result<Option<u32>, UserError>;
}

/// The system's databases through glibc's NSS.
pub struct Nss;

impl Resolver for Nss {
    fn account(&self, uid: u32) -> Result<Account, UserError> {
        users::account(uid)
    }
    fn uid_of(&self, name: &str) -> Result<Option<u32>, UserError> {
        users::uid_of(name)
    }
    fn gid_of(&self, group: &str) -> Result<Option<u32>, UserError> {
        users::gid_of(group)
    }
}

/// Cached, time-bounded account lookups; shared as `Arc<Accounts>`.
pub struct Accounts {
    resolver: Arc<dyn Resolver>,
    admin_group: String,
    positive_ttl: Duration,
    negative_ttl: Duration,
    timeout: Duration,
    max_in_flight: usize,
    table: Mutex<Table>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Uid(u32),
    UserName(String),
    GroupName(String),
}

impl Key {
    fn describe(&self) -> String {
        match self {
            Key::Uid(uid) => format!("uid {uid}"),
            Key::UserName(name) => format!("user {name:?}"),
            Key::GroupName(group) => format!("group {group:?}"),
        }
    }
}

#[derive(Debug, Clone)]
enum Answer {
    Account(Account),
    Id(Option<u32>),
}

type Outcome = Result<Answer, UserError>;

enum Slot {
    Ready {
        outcome: Outcome,
        expires: Instant,
    },
    /// A lookup runs; its outcome arrives on the channel (`None` until then).
    InFlight(watch::Receiver<Option<Outcome>>),
}

#[derive(Default)]
struct Table {
    slots: HashMap<Key, Slot>,
    in_flight: usize,
}

enum Pending {
    Ready(Outcome),
    Waiting(watch::Receiver<Option<Outcome>>),
}

impl Accounts {
    /// Lookups through NSS with the default cap on lookups in flight.
    pub fn new(
        admin_group: String,
        positive_ttl: Duration,
        negative_ttl: Duration,
        timeout: Duration,
    ) -> Arc<Accounts> {
        Accounts::with_resolver(
            Arc::new(Nss),
            admin_group,
            positive_ttl,
            negative_ttl,
            timeout,
            DEFAULT_MAX_IN_FLIGHT,
        )
    }

    /// Lookups through `resolver` (tests pass a fake).
    pub fn with_resolver(
        resolver: Arc<dyn Resolver>,
        admin_group: String,
        positive_ttl: Duration,
        negative_ttl: Duration,
        timeout: Duration,
        max_in_flight: usize,
    ) -> Arc<Accounts> {
        Arc::new(Accounts {
            resolver,
            admin_group,
            positive_ttl,
            negative_ttl,
            timeout,
            max_in_flight: max_in_flight.max(1),
            table: Mutex::new(Table::default()),
        })
    }

    /// The caller of a connection (account + admin flag), looked up on the
    /// blocking pool within `timeout`, cached. The account and the admin
    /// group are looked up side by side under one deadline. A failed lookup
    /// of the admin group (other than a timeout or a busy database) counts as
    /// "no such group", as it always has.
    pub async fn caller(self: &Arc<Self>, uid: u32, gid: u32) -> Result<Caller, UserError> {
        let deadline = Instant::now() + self.timeout;
        let account = self.lookup(Key::Uid(uid), deadline);
        let (acct, admin_gid) = if uid == 0 {
            (account.await, Ok(Answer::Id(None)))
        } else {
            let group = self.lookup(Key::GroupName(self.admin_group.clone()), deadline);
            tokio::join!(account, group)
        };
        let acct = into_account(acct?, Key::Uid(uid))?;
        let admin_gid = match admin_gid {
            Ok(Answer::Id(gid)) => gid,
            Ok(Answer::Account(_)) => None,
            Err(e @ (UserError::Timeout { .. } | UserError::Busy { .. })) => return Err(e),
            Err(_) => None,
        };
        Ok(Caller {
            uid,
            gid,
            admin: users::is_admin(uid, gid, &acct, admin_gid),
            name: acct.name,
        })
    }

    /// A user's account, cached or looked up off the async workers within
    /// `timeout`.
    pub async fn account(self: &Arc<Self>, uid: u32) -> Result<Account, UserError> {
        let deadline = Instant::now() + self.timeout;
        into_account(self.lookup(Key::Uid(uid), deadline).await?, Key::Uid(uid))
    }

    /// Name -> uid (for `list --user NAME`), cached likewise.
    pub async fn uid_of(self: &Arc<Self>, name: &str) -> Result<Option<u32>, UserError> {
        let deadline = Instant::now() + self.timeout;
        let key = Key::UserName(name.to_string());
        into_id(self.lookup(key.clone(), deadline).await?, key)
    }

    /// Non-blocking, for the actor: the cached account (or cached "no such
    /// uid") if fresh, else `None`. On `None` a lookup for `uid` is in flight
    /// (started now if there was none), so a later call finds the answer;
    /// when the database is busy (too many lookups in flight) none could be
    /// started and a later call tries again. Call it inside the tokio runtime
    /// (it may spawn onto the blocking pool); it takes only the cache's lock.
    pub fn cached_account(self: &Arc<Self>, uid: u32) -> Option<Result<Account, UserError>> {
        match self.start(&Key::Uid(uid)) {
            Pending::Ready(Err(UserError::Busy { .. })) | Pending::Waiting(_) => None,
            Pending::Ready(outcome) => Some(outcome.and_then(|a| into_account(a, Key::Uid(uid)))),
        }
    }

    /// The outcome for `key`: from the cache, from a lookup in flight, or
    /// from a new one; waiting no later than `deadline`.
    async fn lookup(self: &Arc<Self>, key: Key, deadline: Instant) -> Outcome {
        let mut rx = match self.start(&key) {
            Pending::Ready(outcome) => return outcome,
            Pending::Waiting(rx) => rx,
        };
        let waited = tokio::time::timeout_at(deadline, rx.wait_for(Option::is_some))
            .await
            .map(|r| r.map(|outcome| outcome.clone()));
        match waited {
            Ok(Ok(Some(outcome))) => outcome,
            Ok(Ok(None) | Err(_)) => Err(UserError::Lost {
                what: key.describe(),
            }),
            Err(_elapsed) => Err(UserError::Timeout {
                what: key.describe(),
                secs: whole_secs(self.timeout),
            }),
        }
    }

    /// Answer from the cache, join the lookup in flight, or start one (if
    /// the cap allows). Never blocks beyond the cache's mutex.
    fn start(self: &Arc<Self>, key: &Key) -> Pending {
        let now = Instant::now();
        let mut table = self.table();
        match table.slots.get(key) {
            Some(Slot::Ready { outcome, expires }) if *expires > now => {
                return Pending::Ready(outcome.clone())
            }
            Some(Slot::InFlight(rx)) => return Pending::Waiting(rx.clone()),
            _ => {}
        }
        if table.in_flight >= self.max_in_flight {
            return Pending::Ready(Err(UserError::Busy {
                what: key.describe(),
                in_flight: table.in_flight,
            }));
        }
        let (tx, rx) = watch::channel(None);
        table.slots.insert(key.clone(), Slot::InFlight(rx.clone()));
        table.in_flight += 1;
        if table.slots.len() > PRUNE_ABOVE {
            table.slots.retain(|_, slot| match slot {
                Slot::Ready { expires, .. } => *expires > now,
                Slot::InFlight(_) => true,
            });
        }
        drop(table);
        let lookup = Lookup {
            accounts: Arc::clone(self),
            key: key.clone(),
            tx: Some(tx),
        };
        // If the closure never runs (the runtime is shutting down), dropping
        // it drops `lookup`, which takes the slot back.
        tokio::task::spawn_blocking(move || lookup.run());
        Pending::Waiting(rx)
    }

    /// How long an outcome is cached; `None` for "not at all".
    fn ttl(&self, outcome: &Outcome) -> Option<Duration> {
        match outcome {
            Ok(Answer::Account(_)) | Ok(Answer::Id(Some(_))) => Some(self.positive_ttl),
            Ok(Answer::Id(None)) | Err(UserError::NoSuchUid(_)) => Some(self.negative_ttl),
            Err(_) => None,
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // Nothing panics while holding the lock; if something did, the map is
        // still consistent enough to go on with.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One lookup in flight, run on the blocking pool. Whatever happens to it
/// (answer, panic in the resolver, never run), it gives its slot back.
struct Lookup {
    accounts: Arc<Accounts>,
    key: Key,
    tx: Option<watch::Sender<Option<Outcome>>>,
}

impl Lookup {
    fn run(mut self) {
        let resolver = &self.accounts.resolver;
        let outcome = match &self.key {
            Key::Uid(uid) => resolver.account(*uid).map(Answer::Account),
            Key::UserName(name) => resolver.uid_of(name).map(Answer::Id),
            Key::GroupName(group) => resolver.gid_of(group).map(Answer::Id),
        };
        self.finish(Some(outcome));
    }

    /// Record the outcome in the cache (or drop the slot), then wake the
    /// waiters, in that order: a woken waiter that asks again finds the
    /// answer. With `None` the waiters see the channel closed.
    fn finish(&mut self, outcome: Option<Outcome>) {
        let Some(tx) = self.tx.take() else {
            return;
        };
        let now = Instant::now();
        let mut table = self.accounts.table();
        table.in_flight = table.in_flight.saturating_sub(1);
        let cached = outcome.as_ref().and_then(|o| {
            let ttl = self.accounts.ttl(o)?;
            Some((o.clone(), now.checked_add(ttl)?))
        });
        match cached {
            Some((outcome, expires)) => {
                table
                    .slots
                    .insert(self.key.clone(), Slot::Ready { outcome, expires });
            }
            None => {
                table.slots.remove(&self.key);
            }
        }
        drop(table);
        if let Some(outcome) = outcome {
            tx.send_replace(Some(outcome));
        }
    }
}

impl Drop for Lookup {
    fn drop(&mut self) {
        self.finish(None);
    }
}

fn into_account(answer: Answer, key: Key) -> Result<Account, UserError> {
    match answer {
        Answer::Account(acct) => Ok(acct),
        Answer::Id(_) => Err(UserError::Lost {
            what: key.describe(),
        }),
    }
}

fn into_id(answer: Answer, key: Key) -> Result<Option<u32>, UserError> {
    match answer {
        Answer::Id(id) => Ok(id),
        Answer::Account(_) => Err(UserError::Lost {
            what: key.describe(),
        }),
    }
}

/// Seconds for messages, rounded up (a 500 ms timeout reads "1 s").
fn whole_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
#[path = "accounts_tests.rs"]
mod tests;
