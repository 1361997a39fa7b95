//! `claudinectl resume ID`: a Claude Code task that ended (succeeded,
//! failed, cancelled, interrupted) is queued again, and its next run
//! continues its session (`--resume`) in the same directory, with a new
//! prompt or a plain "continue". A command that was interrupted (its run
//! lost to a host reboot) runs again from the start: the user asks for it. Values given with `--env` at submit are
//! not kept once a task ends (they may be secrets): the request gives them
//! again, or the user keeps them in `~/.config/claudine/env`.

use crate::core::claude::check_prompt;
use crate::core::{TaskId, TaskState, Transition};
use crate::daemon::actor::{now_ms, Actor};
use crate::daemon::users::{self, Caller};
use crate::proto::{ErrorCode, ErrorInfo, ResumeRequest, TaskView};
use tracing::info;

impl Actor {
    pub(in crate::daemon) fn resume(
        &mut self,
        caller: &Caller,
        id: TaskId,
        req: ResumeRequest,
    ) -> Result<TaskView, ErrorInfo> {
        let invalid = |m: String| ErrorInfo::new(ErrorCode::InvalidRequest, m);
        let conflict = |m: String| ErrorInfo::new(ErrorCode::Conflict, m);
        let task = self.visible(caller, id)?;
        let interrupted = task.state() == TaskState::Interrupted;
        if !task.is_claude() && interrupted && req.prompt.is_some() {
            return Err(invalid(format!(
                "task {id} is a command: --prompt is for Claude Code tasks"
            )));
        }
        if !task.is_claude() && !interrupted {
            return Err(conflict(format!(
                "task {id} is {}, not suspended, and a command, not a Claude Code task: \
                 there is no session to resume (submit the command again)",
                task.state()
            )));
        }
        if !task.state().is_terminal() {
            return Err(conflict(format!(
                "task {id} is {}: only a task that ended can be resumed",
                task.state()
            )));
        }
        if let Some(p) = &req.prompt {
            check_prompt(p).map_err(invalid)?;
        }
        for (k, v) in &req.env {
            users::check_env_entry(k, v).map_err(invalid)?;
        }
        let mut env: Vec<(String, String)> = req.env.into_iter().collect();
        env.retain(|(k, _)| !users::RESERVED_ENV.contains(&k.as_str()));
        self.check_resume_quota(caller, &task)?;
        // A task that never ran waits for its dependencies again.
        self.hold_for_resume(&task)?;
        let after = self
            .transition(
                &task,
                Transition::Reopen {
                    prompt: req.prompt,
                    env,
                    reason: if task.is_claude() {
                        format!("resumed by {}", caller.name)
                    } else {
                        format!("relaunched by {} after an interruption", caller.name)
                    },
                    now_ms: now_ms(),
                },
            )
            .inspect_err(|_e| {
                self.unhold(id);
            })?;
        info!(
            claudine_task_id = id,
            claudine_user = %caller.name,
            "task {id} resumed by {} (uid {}): its session continues",
            caller.name,
            caller.uid
        );
        self.track(after.clone());
        self.enqueue(&after);
        Ok(self.view(&after))
    }
}
