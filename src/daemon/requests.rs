//! Requests from clients: submit and cancel (list is in [`super::list`]). Each runs inside the actor
//! (see [`super::actor`]) and follows its rule: validate, commit, then answer.
//!
//! Submit is where one user is kept from starving the others: a per-user
//! quota on unfinished tasks and on the bytes they hold in memory, and a
//! free-space reserve on the state filesystem below which nothing new is
//! accepted (so the database can still commit the ends of running tasks).

use super::actor::{command_line, internal, now_ms, Actor};
use super::users::{self, Caller};
use crate::core::{NewTask, TaskId, TaskState, Transition, DEFAULT_UMASK};
use crate::proto::{ErrorCode, ErrorInfo, SubmitRequest, SubmitResponse, TaskView};
use tracing::{error, info};

impl Actor {
    pub(super) fn submit(
        &mut self,
        caller: &Caller,
        mut req: SubmitRequest,
        binary: Option<super::claude::binary::Binary>,
        worktree: Option<crate::core::worktree::Worktree>,
    ) -> Result<SubmitResponse, ErrorInfo> {
        let invalid = |m: String| ErrorInfo::new(ErrorCode::InvalidRequest, m);
        let claude = match req.claude.take() {
            Some(_) if !req.argv.is_empty() => {
                return Err(invalid(
                    "give either a command (argv) or a Claude prompt, not both".into(),
                ))
            }
            Some(c) => {
                let c = self.claude_task(caller, c, binary)?;
                req.argv = vec![c.binary.clone()];
                Some(c)
            }
            None => None,
        };
        if req.argv.is_empty() || req.argv[0].is_empty() {
            return Err(invalid("empty command: give the program to run".into()));
        }
        if let Some(a) = req.argv.iter().find(|a| a.contains('\0')) {
            return Err(invalid(format!("argument {a:?} contains a NUL byte")));
        }
        if !req.cwd.starts_with('/') || req.cwd.contains('\0') {
            return Err(invalid(format!(
                "working directory {:?} is not an absolute path",
                req.cwd
            )));
        }
        for (k, v) in &req.env {
            if req.inherit_env && users::RESERVED_ENV.contains(&k.as_str()) {
                continue;
            }
            users::check_env_entry(k, v).map_err(invalid)?;
        }
        let umask = req.umask.unwrap_or(DEFAULT_UMASK);
        if umask > 0o777 {
            return Err(invalid(format!(
                "umask {umask:o} is out of range: give an octal value from 000 to 777"
            )));
        }
        req.limits.validate().map_err(invalid)?;
        self.check_fits(&req.limits).map_err(invalid)?;
        let pending = self.check_after(caller, &req.after, req.after_any)?;
        let new = NewTask {
            owner_uid: caller.uid,
            owner_name: caller.name.clone(),
            priority: req.priority,
            argv: req.argv,
            cwd: req.cwd,
            env: req
                .env
                .into_iter()
                .filter(|(k, _)| !users::RESERVED_ENV.contains(&k.as_str()))
                .collect(),
            inherit_env: req.inherit_env,
            umask,
            limits: req.limits,
            created_ms: now_ms(),
            claude,
            restartable: req.restartable,
            worktree,
            after: req.after,
            after_any: req.after_any,
        };
        self.check_quota(caller, &new)?;
        self.check_free_space()?;
        let task = self.store.insert(new).map_err(|e| {
            error!("submit failed: {e}");
            internal(format!("cannot store the task: {e}"))
        })?;
        info!(
            claudine_task_id = task.id,
            claudine_user = %task.owner_name,
            claudine_state = "queued",
            "task {} submitted by {} (uid {}), priority {}{}: {}",
            task.id,
            task.owner_name,
            task.owner_uid,
            task.priority,
            after_words(&task),
            match &task.claude {
                // The prompt is the user's: not in the journal.
                Some(c) => format!(
                    "Claude Code task, session {}, prompt of {} bytes",
                    c.session_id,
                    c.prompt.len()
                ),
                None => command_line(&task.argv),
            }
        );
        self.emit(&[crate::core::lifecycle::submitted(&task)]);
        self.queue_submitted(&task, &pending);
        let id = task.id;
        self.track(task);
        Ok(SubmitResponse { id })
    }

    pub(super) fn cancel(
        &mut self,
        caller: &Caller,
        id: TaskId,
        reason: Option<String>,
    ) -> Result<TaskView, ErrorInfo> {
        let task = self.visible(caller, id)?;
        if task.state().is_terminal() {
            return Err(ErrorInfo::new(
                ErrorCode::Conflict,
                format!("task {id} already ended ({})", task.state()),
            ));
        }
        let reason = reason
            .filter(|r| !r.trim().is_empty())
            .unwrap_or_else(|| format!("cancelled by {}", caller.name));
        let after = self.transition(
            &task,
            Transition::Cancel {
                reason,
                now_ms: now_ms(),
            },
        )?;
        info!(
            claudine_task_id = id,
            claudine_user = %caller.name,
            claudine_state = %after.state(),
            "task {id} cancel requested by {} (uid {})",
            caller.name,
            caller.uid
        );
        match after.state() {
            // The launch is aborted before `go` (the command never runs) and
            // ends Cancelled when it reports. Stopping the unit now would
            // cancel its start job and make the task look failed.
            TaskState::Starting => {
                if let Some(abort) = self.aborts.remove(&id) {
                    let _ = abort.send(());
                }
            }
            TaskState::Running | TaskState::Suspended => self.stop_scope(&after),
            _ => {}
        }
        Ok(self.view(&after))
    }

    /// Per-user limits on unfinished tasks and the bytes they hold. Root is
    /// exempt (it can edit the configuration anyway).
    fn check_quota(&self, caller: &Caller, new: &NewTask) -> Result<(), ErrorInfo> {
        self.quota_for(caller.uid, &caller.name, new.footprint())
    }

    /// The quota check for a finished task of `t`'s owner queued again.
    pub(super) fn check_resume_quota(
        &self,
        _caller: &Caller,
        t: &crate::core::Task,
    ) -> Result<(), ErrorInfo> {
        self.quota_for(t.owner_uid, &t.owner_name, t.footprint())
    }

    fn quota_for(&self, uid: u32, name: &str, footprint: usize) -> Result<(), ErrorInfo> {
        if uid == 0 {
            return Ok(());
        }
        let (count, bytes) = self.per_user.get(&uid).copied().unwrap_or_default();
        let quota = |m: String| ErrorInfo::new(ErrorCode::QuotaExceeded, m);
        if count >= self.cfg.max_queued_per_user {
            return Err(quota(format!(
                "user {} already has {count} unfinished tasks, the most max_queued_per_user allows; \
                 wait for some to finish or cancel some",
                name
            )));
        }
        let total = bytes as u64 + footprint as u64;
        if total > self.cfg.max_queued_bytes_per_user {
            return Err(quota(format!(
                "user {}'s unfinished tasks would hold {} KiB of command lines and environment, \
                 more than max_queued_mb_per_user ({} MiB) allows",
                name,
                total >> 10,
                self.cfg.max_queued_bytes_per_user >> 20
            )));
        }
        Ok(())
    }

    /// Refuse new work while the state filesystem is below its reserve.
    fn check_free_space(&self) -> Result<(), ErrorInfo> {
        let dir = &self.cfg.state_dir;
        let st = nix::sys::statvfs::statvfs(dir)
            .map_err(|e| internal(format!("statvfs {}: {e}", dir.display())))?;
        let free = st.blocks_available() as u64 * st.fragment_size() as u64;
        if free < self.cfg.min_free_disk_bytes {
            return Err(ErrorInfo::new(
                ErrorCode::InsufficientStorage,
                format!(
                    "only {} MiB free on {} (the reserve is {} MiB, min_free_disk_mb): \
                     new tasks are refused until space is freed",
                    free >> 20,
                    dir.display(),
                    self.cfg.min_free_disk_bytes >> 20
                ),
            ));
        }
        Ok(())
    }
}

/// ", after 41, 42" (with " (any outcome)" for `--after-any`) for the
/// journal's submit line; empty without dependencies.
fn after_words(t: &crate::core::Task) -> String {
    if t.after.is_empty() {
        return String::new();
    }
    let ids: Vec<String> = t.after.iter().map(TaskId::to_string).collect();
    format!(
        ", after {}{}",
        ids.join(", "),
        if t.after_any { " (any outcome)" } else { "" }
    )
}
