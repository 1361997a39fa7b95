//! `GET /v1/tasks`: the list's filters and its answer.
//!
//! Query parameters, combined with AND (values percent-decoded):
//!
//! - `state=queued,running`: tasks in one of these states (lower case:
//!   `queued`, `starting`, `running`, `succeeded`, `failed`, `cancelled`,
//!   `interrupted`);
//! - `priority=P0,P1`: tasks of one of these priorities (`p0` and `0` are
//!   accepted too);
//! - `user=NAME`: one owner's tasks (others than yourself need admin rights);
//! - `limit=N` (1 to [`MAX_LIST_LIMIT`]): the first N matching tasks in the
//!   list's order (by id); [`ListResponse::truncated`] then says whether
//!   more matched and [`ListResponse::total`] how many;
//! - `all=1`: every finished task, not only the 20 most recent matching ones.
//!
//! A bad value is refused with 400 `invalid_request` naming the parameter.
//! Filters never widen what a caller may see.

use super::TaskView;
use crate::core::{Priority, TaskState};
use serde::{Deserialize, Serialize};

/// The largest `limit` a list may ask for.
pub const MAX_LIST_LIMIT: usize = 100_000;

/// How many finished tasks a list without `all` shows (the most recent
/// matching ones).
pub const RECENT_FINISHED: usize = 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListResponse {
    pub tasks: Vec<TaskView>,
    /// Counts of the unfinished tasks the caller may see (narrowed by
    /// `user`, not by the other filters or the limit).
    pub queued: usize,
    pub running: usize,
    /// More tasks matched than `limit` let through.
    #[serde(default)]
    pub truncated: bool,
    /// How many tasks matched before the limit; present when truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<usize>,
}

/// The filters of a list besides its owner (`user`) and `all`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only tasks in one of these states; `None`: any state.
    pub states: Option<Vec<TaskState>>,
    /// Only tasks of one of these priorities; `None`: any.
    pub priorities: Option<Vec<Priority>>,
    /// At most this many tasks; `None`: all that match.
    pub limit: Option<usize>,
}

impl ListFilter {
    /// The filter from the raw (already percent-decoded) query values.
    pub fn parse(
        state: Option<&str>,
        priority: Option<&str>,
        limit: Option<&str>,
    ) -> Result<ListFilter, String> {
        let param = |name: &str, e: String| format!("query parameter {name}: {e}");
        Ok(ListFilter {
            states: state
                .map(|v| comma_list(v, parse_state))
                .transpose()
                .map_err(|e| param("state", e))?,
            priorities: priority
                .map(|v| comma_list(v, parse_priority))
                .transpose()
                .map_err(|e| param("priority", e))?,
            limit: limit
                .map(parse_limit)
                .transpose()
                .map_err(|e| param("limit", e))?,
        })
    }

    /// The query parameters that say this filter (values need no encoding).
    pub fn query(&self) -> Vec<String> {
        let mut q = Vec::new();
        if let Some(states) = &self.states {
            let v: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
            q.push(format!("state={}", v.join(",")));
        }
        if let Some(prios) = &self.priorities {
            let v: Vec<&str> = prios.iter().map(|p| p.as_str()).collect();
            q.push(format!("priority={}", v.join(",")));
        }
        if let Some(n) = self.limit {
            q.push(format!("limit={n}"));
        }
        q
    }

    /// Whether a task in `state` with `priority` passes the filter.
    pub fn matches(&self, state: TaskState, priority: Priority) -> bool {
        self.states.as_ref().is_none_or(|s| s.contains(&state))
            && self
                .priorities
                .as_ref()
                .is_none_or(|p| p.contains(&priority))
    }

    /// The terminal states the filter lets through (all four without a
    /// state filter).
    pub fn terminal_states(&self) -> Vec<TaskState> {
        TaskState::ALL
            .into_iter()
            .filter(|s| s.is_terminal() && self.states.as_ref().is_none_or(|w| w.contains(s)))
            .collect()
    }
}

/// One task state as users type it (any case).
pub fn parse_state(s: &str) -> Result<TaskState, String> {
    s.trim().to_ascii_lowercase().parse().map_err(|_| {
        let allowed: Vec<&str> = TaskState::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown task state {s:?}; allowed: {}", allowed.join(", "))
    })
}

/// One priority as users type it (`P0`, `p0` or `0`).
pub fn parse_priority(s: &str) -> Result<Priority, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("unknown priority {s:?}; allowed: P0, P1, P2"))
}

/// A list limit, 1 to [`MAX_LIST_LIMIT`].
pub fn parse_limit(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_LIST_LIMIT).contains(&n) => Ok(n),
        _ => Err(format!(
            "must be a number from 1 to {MAX_LIST_LIMIT}, got {s:?}"
        )),
    }
}

/// A comma-separated list of at least one value, duplicates dropped.
fn comma_list<T: PartialEq>(
    v: &str,
    one: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let mut out = Vec::new();
    for item in v.split(',') {
        if item.trim().is_empty() {
            return Err(format!("empty value in {v:?}: give a comma-separated list"));
        }
        let x = one(item)?;
        if !out.contains(&x) {
            out.push(x);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskState::*;

    #[test]
    fn good_values_parse_and_say_themselves_back() {
        let f =
            ListFilter::parse(Some("queued,Running,queued"), Some("p0,P2"), Some("50")).unwrap();
        assert_eq!(f.states, Some(vec![Queued, Running]));
        assert_eq!(f.priorities, Some(vec![Priority::P0, Priority::P2]));
        assert_eq!(f.limit, Some(50));
        assert_eq!(
            f.query(),
            ["state=queued,running", "priority=P0,P2", "limit=50"]
        );
        assert_eq!(
            ListFilter::parse(None, None, None).unwrap(),
            ListFilter::default()
        );
        assert!(ListFilter::default().query().is_empty());
        let max = MAX_LIST_LIMIT.to_string();
        assert_eq!(
            ListFilter::parse(None, Some("1"), Some(&max))
                .unwrap()
                .limit,
            Some(MAX_LIST_LIMIT)
        );
    }

    #[test]
    fn bad_values_name_the_parameter_and_what_is_allowed() {
        let e = ListFilter::parse(Some("queued,done"), None, None).unwrap_err();
        assert_eq!(
            e,
            "query parameter state: unknown task state \"done\"; allowed: queued, starting, \
             running, suspended, succeeded, failed, cancelled, interrupted"
        );
        let e = ListFilter::parse(None, Some("P3"), None).unwrap_err();
        assert_eq!(
            e,
            "query parameter priority: unknown priority \"P3\"; allowed: P0, P1, P2"
        );
        for bad in ["0", "-1", "x", "100001", ""] {
            let e = ListFilter::parse(None, None, Some(bad)).unwrap_err();
            assert!(
                e.starts_with("query parameter limit: must be a number from 1 to 100000"),
                "{e}"
            );
        }
        for bad in ["", "queued,", ",running"] {
            let e = ListFilter::parse(Some(bad), None, None).unwrap_err();
            assert!(e.starts_with("query parameter state: empty value"), "{e}");
        }
    }

    #[test]
    fn matching_and_terminal_states() {
        let f = ListFilter::parse(Some("queued,failed"), Some("P1"), None).unwrap();
        assert!(f.matches(Queued, Priority::P1));
        assert!(!f.matches(Queued, Priority::P0));
        assert!(!f.matches(Running, Priority::P1));
        assert_eq!(f.terminal_states(), [Failed]);
        assert_eq!(
            ListFilter::default().terminal_states(),
            [Succeeded, Failed, Cancelled, Interrupted]
        );
        let active = ListFilter::parse(Some("running"), None, None).unwrap();
        assert!(active.terminal_states().is_empty());
    }

    #[test]
    fn old_answers_read_as_not_truncated() {
        let r: ListResponse =
            serde_json::from_str(r#"{"tasks":[],"queued":1,"running":0}"#).unwrap();
        assert!(!r.truncated);
        assert_eq!(r.total, None);
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(
            s,
            r#"{"tasks":[],"queued":1,"running":0,"truncated":false}"#
        );
    }
}
