//! `list`: the tasks a caller may see, filtered and cut to a limit.
//!
//! Unfinished tasks come from the actor's memory: each is matched on its
//! owner, state and priority first, and a [`TaskView`] (the costly part:
//! queue position, why it waits, copies of argv and cwd) is built only for
//! those in the page. Finished tasks come from the store with the same
//! filters and the limit in the SQL ([`crate::store::Store::finished`]).
//! The page is the first `limit` matching tasks by id, as the whole list
//! always was ordered; queue positions are those in the whole queue.

use super::actor::{internal, Actor};
use super::users::Caller;
use crate::core::{Task, TaskId, TaskState};
use crate::proto::list::RECENT_FINISHED;
use crate::proto::{ErrorCode, ErrorInfo, ListFilter, ListResponse, TaskView};
use crate::store::{FinishedFilter, Window};
use std::collections::{HashMap, HashSet};

impl Actor {
    pub(super) fn list(
        &self,
        caller: &Caller,
        all: bool,
        user: Option<(String, Option<u32>)>,
        filter: &ListFilter,
    ) -> Result<ListResponse, ErrorInfo> {
        let owner = whose(caller, user, "list other users' tasks")?;
        let (mut queued, mut running) = (0, 0);
        let mut unfinished: Vec<&Task> = Vec::new();
        for t in self.tasks.values() {
            if owner.is_some_and(|u| u != t.owner_uid) {
                continue;
            }
            match t.state() {
                TaskState::Queued => queued += 1,
                _ => running += 1,
            }
            if filter.matches(t.state(), t.priority) {
                unfinished.push(t);
            }
        }
        unfinished.sort_unstable_by_key(|t| t.id);

        let states = filter.terminal_states();
        let f = FinishedFilter {
            owner,
            states: &states,
            priorities: filter.priorities.as_deref(),
        };
        let finished = if !all {
            self.store.finished(&f, Window::Newest(RECENT_FINISHED))
        } else {
            self.store.finished(&f, Window::Oldest(filter.limit))
        }
        .map_err(internal)?;
        // Without `all` at most RECENT_FINISHED are wanted, all read; with
        // it, a full page means there may be more.
        let finished_total = match filter.limit {
            Some(n) if all && finished.len() == n => {
                self.store.count_finished(&f).map_err(internal)?
            }
            _ => finished.len(),
        };
        let total = unfinished.len() + finished_total;
        let page = merge(&unfinished, &finished, filter.limit.unwrap_or(usize::MAX));
        let truncated = page.len() < total;

        let positions = self.positions(&page);
        let tasks = page
            .into_iter()
            .map(|t| {
                let why = (t.state() == TaskState::Queued)
                    .then(|| self.why_waiting(t))
                    .flatten();
                TaskView::from_task(t, positions.get(&t.id).copied(), why)
            })
            .collect();
        Ok(ListResponse {
            tasks,
            queued,
            running,
            truncated,
            total: truncated.then_some(total),
        })
    }

    /// The queue positions (in the whole queue) of the queued tasks of a
    /// page, in one pass that stops once all are found.
    fn positions(&self, page: &[&Task]) -> HashMap<TaskId, usize> {
        let wanted: HashSet<TaskId> = page
            .iter()
            .filter(|t| t.state() == TaskState::Queued)
            .map(|t| t.id)
            .collect();
        let mut found = HashMap::with_capacity(wanted.len());
        if wanted.is_empty() {
            return found;
        }
        for (i, id) in self.queue.iter().enumerate() {
            if wanted.contains(&id) {
                found.insert(id, i + 1);
                if found.len() == wanted.len() {
                    break;
                }
            }
        }
        found
    }
}

/// Whose tasks (or usage) a request shows: admins see everyone's unless
/// they name a user; others see their own, and naming anyone else is
/// refused ("only root and members of the admin group may {what}").
pub(in crate::daemon) fn whose(
    caller: &Caller,
    user: Option<(String, Option<u32>)>,
    what: &str,
) -> Result<Option<u32>, ErrorInfo> {
    match (user, caller.admin) {
        (None, true) => Ok(None),
        (None, false) => Ok(Some(caller.uid)),
        (Some((name, uid)), admin) => {
            let uid = uid.ok_or_else(|| {
                ErrorInfo::new(ErrorCode::InvalidRequest, format!("no such user {name:?}"))
            })?;
            if !admin && uid != caller.uid {
                return Err(ErrorInfo::new(
                    ErrorCode::PermissionDenied,
                    format!("only root and members of the admin group may {what}"),
                ));
            }
            Ok(Some(uid))
        }
    }
}

/// The first `limit` tasks of two lists sorted by id, in id order.
fn merge<'a>(unfinished: &[&'a Task], finished: &'a [Task], limit: usize) -> Vec<&'a Task> {
    let mut page = Vec::with_capacity(limit.min(unfinished.len() + finished.len()));
    let mut a = unfinished.iter().copied().peekable();
    let mut b = finished.iter().peekable();
    while page.len() < limit {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.id < y.id => a.next(),
            (Some(_), None) => a.next(),
            _ => b.next(),
        };
        match next {
            Some(t) => page.push(t),
            None => break,
        }
    }
    page
}
