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
    // 1 -> 2: attempts are data; umask; eligibility time (cooldowns).
    r#"
    ALTER TABLE tasks ADD COLUMN umask INTEGER NOT NULL DEFAULT 18;   -- 0o022
    ALTER TABLE tasks ADD COLUMN eligible_ms INTEGER;
    ALTER TABLE task_events ADD COLUMN attempt INTEGER;
    CREATE TABLE attempts (
        task_id        INTEGER NOT NULL REFERENCES tasks(id),
        attempt        INTEGER NOT NULL,
        launched_ms    INTEGER NOT NULL,
        supervisor_pid INTEGER,
        started_ms     INTEGER,          -- the scope was ready and the command told to go
        ended_ms       INTEGER,
        ended_by       TEXT,             -- the event that ended it: exited, requeue, vanished, ...
        state          TEXT,             -- the task state it led to
        exit_code      INTEGER,
        signal         INTEGER,
        reason         TEXT,
        usage          TEXT,             -- JSON: the scope's final cgroup figures
        output         TEXT,             -- JSON: bytes written and dropped per stream
        PRIMARY KEY (task_id, attempt)
    ) WITHOUT ROWID;
    INSERT INTO attempts (task_id, attempt, launched_ms, supervisor_pid, started_ms)
        SELECT id, attempts, created_ms, supervisor_pid, started_ms FROM tasks
        WHERE state IN ('starting', 'running') AND attempts > 0;
    "#,
    // 2 -> 3: the limits a task was submitted with (JSON).
    r#"
    ALTER TABLE tasks ADD COLUMN limits TEXT NOT NULL DEFAULT '{}';
    "#,
    // 3 -> 4: task events (task:queued, task:started, ...), one JSON line each.
    r#"
    CREATE TABLE events (
        seq       INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id   INTEGER NOT NULL REFERENCES tasks(id),
        owner_uid INTEGER NOT NULL,
        at_ms     INTEGER NOT NULL,
        kind      TEXT    NOT NULL,
        line      TEXT    NOT NULL
    );
    CREATE INDEX events_owner ON events(owner_uid, seq);
    CREATE INDEX events_task ON events(task_id, seq);
    "#,
    // 4 -> 5: each task's metrics history (`core::history`), one row per point.
    r#"
    CREATE TABLE samples (
        task_id        INTEGER NOT NULL REFERENCES tasks(id),
        at_ms          INTEGER NOT NULL,
        memory_bytes   INTEGER NOT NULL,
        cpu_usage_usec INTEGER NOT NULL,   -- a counter (cpu.stat usage_usec)
        pids           INTEGER NOT NULL,
        output_bytes   INTEGER NOT NULL,   -- a counter (bytes of output so far)
        PRIMARY KEY (task_id, at_ms)
    ) WITHOUT ROWID;
    "#,
    // 5 -> 6: Claude Code tasks (`core::claude::ClaudeTask` as JSON), what
    // each run's stream showed (`Progress` as JSON), and the tokens and cost
    // of each run for per-user accounting.
    r#"
    ALTER TABLE tasks ADD COLUMN claude TEXT;
    ALTER TABLE attempts ADD COLUMN claude TEXT;
    CREATE TABLE claude_usage (
        task_id               INTEGER NOT NULL REFERENCES tasks(id),
        attempt               INTEGER NOT NULL,
        owner_uid             INTEGER NOT NULL,
        at_ms                 INTEGER NOT NULL,
        input_tokens          INTEGER NOT NULL,
        output_tokens         INTEGER NOT NULL,
        cache_read_tokens     INTEGER NOT NULL,
        cache_creation_tokens INTEGER NOT NULL,
        cost_usd              REAL    NOT NULL,
        PRIMARY KEY (task_id, attempt)
    ) WITHOUT ROWID;
    CREATE INDEX claude_usage_owner ON claude_usage(owner_uid, at_ms);
    CREATE INDEX claude_usage_at ON claude_usage(at_ms);
    "#,
    // 6 -> 7: suspended tasks (frozen scopes): since when.
    r#"
    ALTER TABLE tasks ADD COLUMN suspended_ms INTEGER;
    DROP INDEX tasks_unfinished;
    CREATE INDEX tasks_unfinished ON tasks(state)
        WHERE state IN ('queued', 'starting', 'running', 'suspended');
    "#,
    // 7 -> 8: tasks that may run again after an interruption.
    r#"
    ALTER TABLE tasks ADD COLUMN restartable INTEGER NOT NULL DEFAULT 0;
    "#,
    // 8 -> 9: checkpoints (`core::checkpoint::Checkpoint` as JSON), numbered
    // per task; a task's own git worktree (JSON).
    r#"
    CREATE TABLE checkpoints (
        task_id INTEGER NOT NULL REFERENCES tasks(id),
        n       INTEGER NOT NULL,
        at_ms   INTEGER NOT NULL,
        body    TEXT    NOT NULL,
        PRIMARY KEY (task_id, n)
    ) WITHOUT ROWID;
    ALTER TABLE tasks ADD COLUMN worktree TEXT;
    "#,
    // 9 -> 10: dependencies (`--after`: a JSON array of ids, NULL for none;
    // `--after-any`).
    r#"
    ALTER TABLE tasks ADD COLUMN after_ids TEXT;
    ALTER TABLE tasks ADD COLUMN after_any INTEGER NOT NULL DEFAULT 0;
    "#,
];

pub const LATEST: i64 = MIGRATIONS.len() as i64;
