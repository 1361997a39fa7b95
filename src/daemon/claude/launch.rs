//! What a Claude Code task's launch adds to a command's: the command line
//! of this run (`core::claude::ClaudeTask::argv`), the prompt in a
//! root-only file for the command's stdin, the progress file the
//! supervisor keeps, and the user's environment file.

use crate::core::Task;
use crate::daemon::users::Account;
use crate::supervise::ClaudeRun;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the user's environment file is, under their home.
pub const ENV_FILE: &str = ".config/claudine/env";

/// The prompt file of task `id` (in the root-only exit directory).
pub fn prompt_path(exit_dir: &Path, id: i64) -> PathBuf {
    exit_dir.join(format!("{id}.prompt"))
}

/// The progress file of task `id`'s running attempt.
pub fn progress_path(exit_dir: &Path, id: i64) -> PathBuf {
    exit_dir.join(format!("{id}.progress.json"))
}

/// The command line and the supervisor's part of a Claude run of `task`;
/// writes the prompt file. `None` for a command task.
pub fn prepare(
    exit_dir: &Path,
    task: &Task,
    acct: &Account,
) -> Result<Option<(Vec<String>, ClaudeRun)>, String> {
    let Some(c) = &task.claude else {
        return Ok(None);
    };
    let prompt = prompt_path(exit_dir, task.id);
    write_private(&prompt, c.next_run_prompt().as_bytes())
        .map_err(|e| format!("cannot write the prompt file {}: {e}", prompt.display()))?;
    let progress = progress_path(exit_dir, task.id);
    match std::fs::remove_file(&progress) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot remove {}: {e}", progress.display())),
    }
    let env_file = (!acct.home.is_empty() && acct.home.starts_with('/'))
        .then(|| format!("{}/{ENV_FILE}", acct.home.trim_end_matches('/')));
    Ok(Some((
        c.argv(),
        ClaudeRun {
            prompt_path: prompt,
            progress_path: progress,
            env_file,
            keep_env: task.env.iter().map(|(k, _)| k.clone()).collect(),
        },
    )))
}

/// Creates `path` anew (never through a symlink), mode 0600, with `data`.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    crate::supervise::exitfile::create_private(path)?.write_all(data)
}

/// Removes what a Claude task's runs left in the exit directory.
pub fn clean(exit_dir: &Path, id: i64) {
    let progress = progress_path(exit_dir, id);
    let mut tmp = progress.clone().into_os_string();
    tmp.push(".tmp");
    for p in [prompt_path(exit_dir, id), progress, PathBuf::from(tmp)] {
        let _ = std::fs::remove_file(p);
    }
}
