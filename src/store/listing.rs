//! Finished tasks for `list`: the filters and the limit are pushed into the
//! SQL, so a page costs the rows it returns (plus a `COUNT(*)` when the
//! caller needs the total), however many tasks the store holds.

use super::{Store, StoreError, TASK_COLUMNS};
use crate::core::{Priority, Task, TaskState};
use rusqlite::types::Value;

/// Which finished tasks to read.
#[derive(Debug, Clone, Copy)]
pub struct FinishedFilter<'a> {
    /// Only this owner's tasks; `None`: everyone's.
    pub owner: Option<u32>,
    /// The terminal states wanted (others are ignored; empty: none).
    pub states: &'a [TaskState],
    /// Only these priorities; `None`: any.
    pub priorities: Option<&'a [Priority]>,
}

/// Which end of the id order a page is taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The `n` highest ids (the most recently submitted).
    Newest(usize),
    /// The lowest ids, at most `n` of them if given.
    Oldest(Option<usize>),
}

impl Store {
    /// Finished tasks matching `f` in the `window`, oldest (lowest id) first.
    pub fn finished(&self, f: &FinishedFilter, window: Window) -> Result<Vec<Task>, StoreError> {
        let Some((clause, mut params)) = where_clause(f) else {
            return Ok(Vec::new());
        };
        let (order, limit) = match window {
            Window::Newest(n) => ("DESC", n as i64),
            Window::Oldest(n) => ("ASC", n.map_or(-1, |n| n as i64)),
        };
        params.push(Value::Integer(limit));
        let sql =
            format!("SELECT {TASK_COLUMNS} FROM tasks WHERE {clause} ORDER BY id {order} LIMIT ?");
        let mut tasks = self.select(&sql, rusqlite::params_from_iter(params))?;
        if order == "DESC" {
            tasks.reverse();
        }
        Ok(tasks)
    }

    /// How many finished tasks match `f`.
    pub fn count_finished(&self, f: &FinishedFilter) -> Result<usize, StoreError> {
        let Some((clause, params)) = where_clause(f) else {
            return Ok(0);
        };
        let sql = format!("SELECT COUNT(*) FROM tasks WHERE {clause}");
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(self.query_err("prepare count"))?;
        let n: i64 = stmt
            .query_row(rusqlite::params_from_iter(params), |r| r.get(0))
            .map_err(self.query_err("count tasks"))?;
        Ok(n as usize)
    }
}

/// The WHERE clause and its parameters; `None` when no terminal state is
/// wanted (nothing can match).
fn where_clause(f: &FinishedFilter) -> Option<(String, Vec<Value>)> {
    let states: Vec<TaskState> = f
        .states
        .iter()
        .copied()
        .filter(|s| s.is_terminal())
        .collect();
    if states.is_empty() || f.priorities.is_some_and(|p| p.is_empty()) {
        return None;
    }
    let marks = |n: usize| vec!["?"; n].join(",");
    let mut clause = format!("state IN ({})", marks(states.len()));
    let mut params: Vec<Value> = states
        .iter()
        .map(|s| Value::Text(s.as_str().into()))
        .collect();
    if let Some(uid) = f.owner {
        clause.push_str(" AND owner_uid = ?");
        params.push(Value::Integer(uid.into()));
    }
    if let Some(prios) = f.priorities {
        clause.push_str(&format!(" AND priority IN ({})", marks(prios.len())));
        params.extend(prios.iter().map(|p| Value::Text(p.as_str().into())));
    }
    Some((clause, params))
}
