//! The versioned schema. `PRAGMA user_version` holds the version; each
//! migration moves it up by one inside a transaction. A database whose version
//! is newer than [`LATEST`] is never touched.

/// Migration `i` takes the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 0 -> 1: tasks and their lifecycle events.
    r#"
    CREATE TABLE tasks (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        owner_uid        INTEGER NOT NULL,
        owner_name       TEXT    NOT NULL,
        priority         TEXT    NOT NULL,
        state            TEXT    NOT NULL,
        argv             TEXT    NOT NULL,   -- JSON array of strings
        cwd              TEXT    NOT NULL,
        env              TEXT    NOT NULL,   -- JSON array of [key, value]; values blanked once terminal
        inherit_env      INTEGER NOT NULL,
        created_ms       INTEGER NOT NULL,
        started_ms       INTEGER,
        finished_ms      INTEGER,
        exit_code        INTEGER,
        signal           INTEGER,
        reason           TEXT,
        cancel_requested TEXT,
        supervisor_pid   INTEGER,
        attempts         INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX tasks_unfinished ON tasks(state)
        WHERE state IN ('queued', 'starting', 'running');
    CREATE INDEX tasks_owner ON tasks(owner_uid, id);
    CREATE TABLE task_events (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id    INTEGER NOT NULL REFERENCES tasks(id),
        at_ms      INTEGER NOT NULL,
        event      TEXT    NOT NULL,
        from_state TEXT,
        to_state   TEXT    NOT NULL,
        detail     TEXT
    );
    CREATE INDEX task_events_task ON task_events(task_id, seq);
    "#,
];

pub const LATEST: i64 = MIGRATIONS.len() as i64;
