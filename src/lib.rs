//! claudine: a systemd-native queue that runs Claude Code tasks, or any
//! command, each in its own transient scope.
//!
//! # Layout
//!
//! - `core`: the pure logic (task state machine, ready queue, admission).
//!   No I/O, no clock, no async.
//! - `proto`: the versioned HTTP+JSON protocol over the Unix socket.
//! - `supervise`: the per-task supervisor that lives inside the scope,
//!   drops privileges, runs the command and records its exit status.
//! - `store`: the SQLite store (WAL, versioned schema).
//! - `config`: `/etc/claudine/claudine.toml`.
//! - `host`: procfs host sampling for admission.
//! - `cgroup`: the cgroup v2 file reader (root injected; read only).
//! - `gitops`: git as a given user (checkpoints, worktrees), blocking.
//! - `systemd`: the systemd D-Bus adapter (zbus).
//! - `daemon`: the actor that owns the state, the socket server, launch and
//!   restart reconciliation.
//! - `cli`: `claudinectl`.
//!
//! See ARCHITECTURE.md for the invariants.

pub mod cgroup;
pub mod cli;
pub mod config;
pub mod core;
pub mod daemon;
pub mod gitops;
pub mod host;
pub mod proto;
pub mod store;
pub mod supervise;
pub mod systemd;
