//! The embedded store: SQLite in WAL mode with `synchronous=FULL`, one
//! connection owned by the daemon's actor.
//!
//! Rules this module keeps:
//! - the database file is created 0600 (root only) and never through a
//!   symlink;
//! - an unreadable, corrupt or newer-schema database is refused with an error
//!   naming the path, before anything is written to it;
//! - every state change is one transaction that updates the task row,
//!   appends its lifecycle event and keeps its launch attempt's row, so no
//!   transition is ever lost or half-kept;
//! - `secure_delete` is on, and [`Store::purge_freed`] truncates the WAL, so
//!   environment values cleared from a finished task do not linger in free
//!   pages or old WAL frames.

mod attempts;
mod checkpoints;
mod codec;
mod events;
mod listing;
mod samples;
mod schema;

pub use attempts::{AttemptEnd, AttemptRow, RunRow};
pub use events::EventLine;
pub use listing::{FinishedFilter, Window};

use crate::core::{NewTask, Sample, Task, TaskEvent, TaskId, TaskState};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub use schema::LATEST as SCHEMA_VERSION;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create database {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("database {path} is corrupt or not a claudine database ({detail}); refusing to start, the file is left untouched")]
    Corrupt { path: PathBuf, detail: String },
    #[error("database {path} has schema version {found}, newer than the {supported} this claudined supports; refusing to start, the file is left untouched (install a newer claudine)")]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("database {path}: migration to schema version {version} failed: {source}")]
    Migrate {
        path: PathBuf,
        version: i64,
        source: rusqlite::Error,
    },
    #[error("database {path}: {step}: {source}")]
    Query {
        path: PathBuf,
        step: &'static str,
        source: rusqlite::Error,
    },
    #[error("database {path}: task {task}: folded sample at {at_ms} ms is not before {before_ms} ms; nothing was changed")]
    SampleNotBefore {
        path: PathBuf,
        task: TaskId,
        at_ms: i64,
        before_ms: i64,
    },
    #[error("database {path}: task {id} has an invalid {column}: {detail}")]
    Decode {
        path: PathBuf,
        id: TaskId,
        column: &'static str,
        detail: String,
    },
}

/// One row of a task's lifecycle history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub task_id: TaskId,
    pub at_ms: i64,
    pub event: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub detail: Option<String>,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The seq of the newest stored event (0: none).
    last_event_seq: i64,
}

const TASK_COLUMNS: &str = "id, owner_uid, owner_name, priority, state, argv, cwd, env, inherit_env, \
     created_ms, started_ms, finished_ms, exit_code, signal, reason, cancel_requested, supervisor_pid, attempts, \
     umask, eligible_ms, limits, claude, suspended_ms, restartable, worktree, after_ids, after_any";

impl Store {
    /// Open (or create) the database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let fresh = create_private_file(path)?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_NOFOLLOW,
        )
        .map_err(|source| StoreError::Open {
            path: path.into(),
            source,
        })?;
        let mut store = Store {
            conn,
            path: path.into(),
            last_event_seq: 0,
        };
        // Read-only checks first: nothing is written to a file we refuse.
        let version: i64 = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| store.corrupt(e.to_string()))?;
        if version > schema::LATEST {
            return Err(StoreError::TooNew {
                path: path.into(),
                found: version,
                supported: schema::LATEST,
            });
        }
        if !fresh {
            let check: String = store
                .conn
                .query_row("PRAGMA quick_check", [], |r| r.get(0))
                .map_err(|e| store.corrupt(e.to_string()))?;
            if check != "ok" {
                return Err(store.corrupt(check));
            }
            if version == 0 && store.has_tables()? {
                return Err(store.corrupt("tables present but no schema version".into()));
            }
        }
        store
            .conn
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
                 PRAGMA secure_delete = ON;",
            )
            .map_err(|source| StoreError::Query {
                path: path.into(),
                step: "set pragmas",
                source,
            })?;
        store.migrate(version)?;
        store.last_event_seq =
            events::last_seq(&store.conn).map_err(|source| StoreError::Query {
                path: path.into(),
                step: "read the last event",
                source,
            })?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn corrupt(&self, detail: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            detail,
        }
    }

    fn query_err(&self, step: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Query {
            path: self.path.clone(),
            step,
            source,
        }
    }

    fn step_err(&self, step: &'static str, source: rusqlite::Error) -> StoreError {
        StoreError::Query {
            path: self.path.clone(),
            step,
            source,
        }
    }

    fn has_tables(&self) -> Result<bool, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .map_err(|e| self.corrupt(e.to_string()))?;
        Ok(n > 0)
    }

    fn migrate(&mut self, from: i64) -> Result<(), StoreError> {
        for version in from..schema::LATEST {
            let path = self.path.clone();
            let err = |source| StoreError::Migrate {
                path: path.clone(),
                version: version + 1,
                source,
            };
            let tx = self.conn.transaction().map_err(err)?;
            tx.execute_batch(schema::MIGRATIONS[version as usize])
                .map_err(err)?;
            tx.pragma_update(None, "user_version", version + 1)
                .map_err(err)?;
            tx.commit().map_err(err)?;
        }
        Ok(())
    }

    /// Store a new Queued task and its `submitted` event; returns it with its id.
    pub fn insert(&mut self, new: NewTask) -> Result<Task, StoreError> {
        let path = self.path.clone();
        let err = |step: &'static str| {
            let path = path.clone();
            move |source| StoreError::Query { path, step, source }
        };
        let tx = self.conn.transaction().map_err(err("begin submit"))?;
        tx.execute(
            "INSERT INTO tasks (owner_uid, owner_name, priority, state, argv, cwd, env, inherit_env, created_ms, umask, limits, claude, restartable, worktree, after_ids, after_any)
             VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            params![
                new.owner_uid,
                new.owner_name,
                new.priority.as_str(),
                json(&new.argv),
                new.cwd,
                json(&new.env),
                new.inherit_env,
                new.created_ms,
                new.umask,
                json(&new.limits),
                new.claude.as_ref().map(json),
                new.restartable,
                new.worktree.as_ref().map(json),
                (!new.after.is_empty()).then(|| json(&new.after)),
                new.after_any,
            ],
        )
        .map_err(err("insert task"))?;
        let id = tx.last_insert_rowid();
        insert_event(
            &tx,
            id,
            new.created_ms,
            "submitted",
            None,
            TaskState::Queued,
            None,
            None,
        )
        .map_err(err("insert event"))?;
        let task = Task::queued(id, new);
        let seq = events::insert(
            &tx,
            task.owner_uid,
            &crate::core::lifecycle::submitted(&task),
        )
        .map_err(err("insert task event"))?;
        tx.commit().map_err(err("commit submit"))?;
        self.last_event_seq = seq;
        Ok(task)
    }

    /// Persist `after` (the result of a transition from `before`) together with
    /// its lifecycle event, in one transaction.
    pub fn save(
        &mut self,
        before: &Task,
        after: &Task,
        event: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        self.save_with(before, after, event, at_ms, None)
    }

    /// [`Store::save`], with the figures of an attempt that just ended (from
    /// its exit record). The attempt's row is inserted at launch, marked at
    /// start and closed when the attempt ends, in the same transaction.
    pub fn save_with(
        &mut self,
        before: &Task,
        after: &Task,
        event: &str,
        at_ms: i64,
        end: Option<&AttemptEnd>,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |step: &'static str| {
            let path = path.clone();
            move |source| StoreError::Query { path, step, source }
        };
        let c = after.status.fields();
        let tx = self.conn.transaction().map_err(err("begin update"))?;
        let n = tx
            .execute(
                "UPDATE tasks SET state = ?2, env = ?3, started_ms = ?4, finished_ms = ?5, exit_code = ?6,
                     signal = ?7, reason = ?8, cancel_requested = ?9, supervisor_pid = ?10, attempts = ?11,
                     priority = ?12, eligible_ms = ?13, claude = ?14, suspended_ms = ?15
                 WHERE id = ?1",
                params![
                    after.id,
                    after.state().as_str(),
                    json(&after.env),
                    c.started_ms,
                    c.finished_ms,
                    c.exit_code,
                    c.signal,
                    c.reason,
                    c.cancel_requested,
                    c.supervisor_pid,
                    after.attempts,
                    after.priority.as_str(),
                    c.eligible_ms,
                    after.claude.as_ref().map(json),
                    c.suspended_ms,
                ],
            )
            .map_err(err("update task"))?;
        if n != 1 {
            return Err(StoreError::Query {
                path: self.path.clone(),
                step: "update task",
                source: rusqlite::Error::QueryReturnedNoRows,
            });
        }
        attempts::record(&tx, before, after, event, at_ms, end).map_err(err("record attempt"))?;
        let detail = c.reason.clone().or_else(|| c.cancel_requested.clone());
        let attempt = after.active().or(before.active()).map(|a| a.attempt);
        insert_event(
            &tx,
            after.id,
            at_ms,
            event,
            Some(before.state()),
            after.state(),
            detail.as_deref(),
            attempt,
        )
        .map_err(err("insert event"))?;
        let mut seq = None;
        for ev in crate::core::lifecycle::events(before, after, at_ms) {
            seq =
                Some(events::insert(&tx, after.owner_uid, &ev).map_err(err("insert task event"))?);
        }
        tx.commit().map_err(err("commit update"))?;
        if let Some(seq) = seq {
            self.last_event_seq = seq;
        }
        Ok(())
    }

    /// Task events after `after_seq`, oldest first (see `events.rs`).
    pub fn events_after(
        &self,
        after_seq: i64,
        owner: Option<u32>,
        task: Option<TaskId>,
        limit: usize,
    ) -> Result<Vec<EventLine>, StoreError> {
        events::after(&self.conn, after_seq, owner, task, limit)
            .map_err(self.query_err("read task events"))
    }

    /// Record events that come with no state change (the monitor's), in
    /// one transaction.
    pub fn insert_events(&mut self, owner_uid: u32, evs: &[TaskEvent]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |step: &'static str| {
            let path = path.clone();
            move |source| StoreError::Query { path, step, source }
        };
        let tx = self.conn.transaction().map_err(err("begin events"))?;
        let mut seq = None;
        for ev in evs {
            seq = Some(events::insert(&tx, owner_uid, ev).map_err(err("insert task event"))?);
        }
        tx.commit().map_err(err("commit events"))?;
        if let Some(seq) = seq {
            self.last_event_seq = seq;
        }
        Ok(())
    }

    /// The seq of the newest stored task event.
    pub fn last_event_seq(&self) -> i64 {
        self.last_event_seq
    }

    /// The launch attempts of one task, oldest first.
    pub fn attempts(&self, id: TaskId) -> Result<Vec<AttemptRow>, StoreError> {
        attempts::of_task(&self.conn, id).map_err(self.query_err("read attempts"))
    }

    /// Claude Code runs' tokens and cost since `since_ms`, oldest first.
    pub fn claude_usage_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<crate::core::governor::UsageRecord>, StoreError> {
        self.claude_usage_of(since_ms, None)
    }

    /// [`Store::claude_usage_since`] of one owner, or everyone's.
    pub fn claude_usage_of(
        &self,
        since_ms: i64,
        owner: Option<u32>,
    ) -> Result<Vec<crate::core::governor::UsageRecord>, StoreError> {
        attempts::claude_usage_since(&self.conn, since_ms, owner)
            .map_err(self.query_err("read claude usage"))
    }

    /// The most recently ended attempts, oldest first (what the scheduler
    /// learns from at start).
    pub fn recent_runs(&self, limit: usize) -> Result<Vec<attempts::RunRow>, StoreError> {
        attempts::recent_runs(&self.conn, limit).map_err(self.query_err("read recent runs"))
    }

    /// Store metrics points (`core::history`) of any tasks, in one
    /// transaction; a point with the time of a stored one of the same task
    /// replaces it. Nothing to store: no transaction.
    pub fn append_samples(&mut self, rows: &[(TaskId, Sample)]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        samples::append(&mut self.conn, rows).map_err(|(step, source)| self.step_err(step, source))
    }

    /// Replace the task's points older than `before_ms` with `points` (what
    /// the history folded them into), in one transaction. A point not older
    /// than `before_ms` is refused before anything changes.
    pub fn replace_samples_before(
        &mut self,
        task: TaskId,
        before_ms: i64,
        points: &[Sample],
    ) -> Result<(), StoreError> {
        if let Some(p) = points.iter().find(|p| p.at_ms >= before_ms) {
            return Err(StoreError::SampleNotBefore {
                path: self.path.clone(),
                task,
                at_ms: p.at_ms,
                before_ms,
            });
        }
        samples::replace_before(&mut self.conn, task, before_ms, points)
            .map_err(|(step, source)| self.step_err(step, source))
    }

    /// The task's metrics points, oldest first.
    pub fn samples(&self, task: TaskId) -> Result<Vec<Sample>, StoreError> {
        samples::of_task(&self.conn, task).map_err(self.query_err("read samples"))
    }

    /// Move the WAL's content into the database and truncate it, so values
    /// overwritten or deleted (with `secure_delete` on) leave no copy in old
    /// WAL frames. Cheap when little changed; the daemon calls it after it
    /// cleared environment values.
    pub fn purge_freed(&mut self) -> Result<(), StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(self.query_err("checkpoint"))
    }

    /// Every task that is not terminal, in id order.
    pub fn unfinished(&self) -> Result<Vec<Task>, StoreError> {
        self.select(
            &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE state IN ('queued','starting','running','suspended') ORDER BY id"),
            params![],
        )
    }

    pub fn get(&self, id: TaskId) -> Result<Option<Task>, StoreError> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1");
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(self.query_err("prepare get"))?;
        let row = stmt
            .query_row(params![id], raw_task)
            .optional()
            .map_err(self.query_err("get task"))?;
        row.map(|r| self.decode(r)).transpose()
    }

    /// Terminal tasks, newest first, optionally of one owner, at most `limit`.
    /// The lifecycle history of one task, oldest first.
    pub fn events(&self, id: TaskId) -> Result<Vec<EventRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT task_id, at_ms, event, from_state, to_state, detail FROM task_events
                 WHERE task_id = ?1 ORDER BY seq",
            )
            .map_err(self.query_err("prepare events"))?;
        let rows = stmt
            .query_map(params![id], |r| {
                Ok(EventRow {
                    task_id: r.get(0)?,
                    at_ms: r.get(1)?,
                    event: r.get(2)?,
                    from_state: r.get(3)?,
                    to_state: r.get(4)?,
                    detail: r.get(5)?,
                })
            })
            .map_err(self.query_err("read events"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.query_err("read events"))
    }

    fn select(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<Task>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(self.query_err("prepare select"))?;
        let raws = stmt
            .query_map(params, raw_task)
            .map_err(self.query_err("select tasks"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.query_err("select tasks"))?;
        raws.into_iter().map(|r| self.decode(r)).collect()
    }

    fn decode(&self, r: RawTask) -> Result<Task, StoreError> {
        let bad = |column, detail: String| StoreError::Decode {
            path: self.path.clone(),
            id: r.id,
            column,
            detail,
        };
        let state: TaskState = r.state.parse().map_err(|e| bad("state", e))?;
        let status = codec::status(state, &r).map_err(|(col, e)| bad(col, e))?;
        Ok(Task {
            id: r.id,
            owner_uid: r.owner_uid,
            owner_name: r.owner_name.clone(),
            priority: r.priority.parse().map_err(|e| bad("priority", e))?,
            argv: serde_json::from_str(&r.argv).map_err(|e| bad("argv", e.to_string()))?,
            cwd: r.cwd.clone(),
            env: serde_json::from_str(&r.env).map_err(|e| bad("env", e.to_string()))?,
            inherit_env: r.inherit_env,
            umask: r.umask,
            limits: serde_json::from_str(&r.limits).map_err(|e| bad("limits", e.to_string()))?,
            created_ms: r.created_ms,
            attempts: r.attempts,
            status,
            claude: match &r.claude {
                Some(c) => Some(serde_json::from_str(c).map_err(|e| bad("claude", e.to_string()))?),
                None => None,
            },
            restartable: r.restartable,
            worktree: match &r.worktree {
                Some(w) => {
                    Some(serde_json::from_str(w).map_err(|e| bad("worktree", e.to_string()))?)
                }
                None => None,
            },
            after: match &r.after_ids {
                Some(a) => serde_json::from_str(a).map_err(|e| bad("after_ids", e.to_string()))?,
                None => Vec::new(),
            },
            after_any: r.after_any,
        })
    }
}

pub(crate) struct RawTask {
    id: TaskId,
    owner_uid: u32,
    owner_name: String,
    priority: String,
    state: String,
    argv: String,
    cwd: String,
    env: String,
    inherit_env: bool,
    created_ms: i64,
    started_ms: Option<i64>,
    finished_ms: Option<i64>,
    exit_code: Option<i32>,
    signal: Option<i32>,
    reason: Option<String>,
    cancel_requested: Option<String>,
    supervisor_pid: Option<u32>,
    attempts: u32,
    umask: u32,
    eligible_ms: Option<i64>,
    limits: String,
    claude: Option<String>,
    pub(super) suspended_ms: Option<i64>,
    restartable: bool,
    worktree: Option<String>,
    after_ids: Option<String>,
    after_any: bool,
}

fn raw_task(r: &Row<'_>) -> rusqlite::Result<RawTask> {
    Ok(RawTask {
        id: r.get(0)?,
        owner_uid: r.get(1)?,
        owner_name: r.get(2)?,
        priority: r.get(3)?,
        state: r.get(4)?,
        argv: r.get(5)?,
        cwd: r.get(6)?,
        env: r.get(7)?,
        inherit_env: r.get(8)?,
        created_ms: r.get(9)?,
        started_ms: r.get(10)?,
        finished_ms: r.get(11)?,
        exit_code: r.get(12)?,
        signal: r.get(13)?,
        reason: r.get(14)?,
        cancel_requested: r.get(15)?,
        supervisor_pid: r.get(16)?,
        attempts: r.get(17)?,
        umask: r.get(18)?,
        eligible_ms: r.get(19)?,
        limits: r.get(20)?,
        claude: r.get(21)?,
        suspended_ms: r.get(22)?,
        restartable: r.get(23)?,
        worktree: r.get(24)?,
        after_ids: r.get(25)?,
        after_any: r.get(26)?,
    })
}

#[allow(clippy::too_many_arguments)]
fn insert_event(
    tx: &rusqlite::Transaction<'_>,
    id: TaskId,
    at_ms: i64,
    event: &str,
    from: Option<TaskState>,
    to: TaskState,
    detail: Option<&str>,
    attempt: Option<u32>,
) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "INSERT INTO task_events (task_id, at_ms, event, from_state, to_state, detail, attempt)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        id,
        at_ms,
        event,
        from.map(|s| s.as_str()),
        to.as_str(),
        detail,
        attempt
    ])
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serializing strings cannot fail")
}

/// Create the database file 0600 without following a symlink. Returns true
/// if it did not exist before.
fn create_private_file(path: &Path) -> Result<bool, StoreError> {
    let res = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path);
    match res {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(source) => Err(StoreError::Create {
            path: path.into(),
            source,
        }),
    }
}

#[cfg(test)]
mod listing_tests;
#[cfg(test)]
mod samples_tests;
#[cfg(test)]
mod tests;
