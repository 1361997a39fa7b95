//! A Claude Code task at submit: the prompt and options checked, its
//! session minted, the task it continues checked.

use super::binary::Binary;
use crate::core::claude::{check_prompt, uuid_v4, ClaudeTask};
use crate::daemon::actor::Actor;
use crate::daemon::users::Caller;
use crate::proto::{ClaudeRequest, ErrorCode, ErrorInfo};

/// 16 bytes from the kernel's random source.
pub fn random_bytes() -> Result<[u8; 16], String> {
    let mut b = [0u8; 16];
    let mut got = 0;
    while got < b.len() {
        // SAFETY: getrandom writes at most len bytes into our buffer.
        let n = unsafe { libc::getrandom(b[got..].as_mut_ptr().cast(), b.len() - got, 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("getrandom: {e}"));
        }
        got += n as usize;
    }
    Ok(b)
}

impl Actor {
    /// The Claude part of a new task, or why it cannot be one.
    pub(in crate::daemon) fn claude_task(
        &self,
        caller: &Caller,
        req: ClaudeRequest,
        binary: Option<Binary>,
    ) -> Result<ClaudeTask, ErrorInfo> {
        let invalid = |m: String| ErrorInfo::new(ErrorCode::InvalidRequest, m);
        check_prompt(&req.prompt).map_err(invalid)?;
        req.options.validate().map_err(invalid)?;
        let Some(binary) = binary else {
            return Err(invalid("no claude binary was checked for this task".into()));
        };
        let continue_from = match req.continue_from {
            None => None,
            Some(id) => Some((id, self.session_to_continue(caller, id)?)),
        };
        let session_id = uuid_v4(random_bytes().map_err(crate::daemon::actor::internal)?);
        Ok(ClaudeTask {
            prompt: req.prompt,
            session_id,
            session_started: false,
            next_prompt: None,
            continue_from,
            binary: binary.path,
            version: Some(binary.version),
            options: req.options,
        })
    }

    /// The session of task `id` that a new task of `caller` may fork.
    fn session_to_continue(&self, caller: &Caller, id: i64) -> Result<String, ErrorInfo> {
        let conflict = |m: String| ErrorInfo::new(ErrorCode::Conflict, m);
        let task = self.visible(caller, id)?;
        let Some(c) = &task.claude else {
            return Err(conflict(format!(
                "task {id} is a command, not a Claude Code task: it has no session to continue"
            )));
        };
        if task.owner_uid != caller.uid {
            return Err(ErrorInfo::new(
                ErrorCode::PermissionDenied,
                format!(
                    "task {id} belongs to {}: its session is in their ~/.claude, \
                     which your task cannot read",
                    task.owner_name
                ),
            ));
        }
        if !c.session_started {
            return Err(conflict(format!(
                "task {id} has not started its session yet (no run of it got that far)"
            )));
        }
        Ok(c.session_id.clone())
    }
}
