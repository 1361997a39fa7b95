//! `claudinectl submit`: queue a Claude Code prompt, or a command after
//! `--`.

use crate::cli::client::Client;
use crate::cli::error::CliError;
use crate::cli::{exit, Output};
use crate::core::{Limits, Priority};
use crate::proto::SubmitRequest;
use clap::error::ErrorKind;
use clap::Args;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

const EXAMPLES: &str = "\
Examples:
  claudinectl submit \"Fix the flaky test in tests/net.rs\" --cwd ~/src/app --priority P0
  claudinectl submit --model opus --permission-mode acceptEdits \\
      --allowed-tools \"Bash(cargo test:*)\" --max-turns 40 \"Make the tests pass\"
  claudinectl submit --prompt-file task.md --cwd ~/src/app
  claudinectl submit --continue-from 42 \"Now add a regression test\"
  claudinectl submit --after 41,42 \"Merge the two refactors and run the tests\"
  claudinectl submit --after 43 --after-any -- ./collect-reports.sh
  claudinectl submit -- cargo test --release
  claudinectl submit -e RUST_LOG=debug -e CI=1 -- ./run-benchmarks.sh
  claudinectl submit --inherit-env -- make deploy
  id=$(claudinectl submit -- make) && claudinectl wait \"$id\"

Without `--`, the words are a prompt for Claude Code, which runs headless
(claude -p, stream-json) in its own session, as you, in --cwd; the prompt
may be up to 1 MiB (--prompt-file for long ones) and reaches claude on its
stdin, never on a command line. Claude reads your credentials as it would
in your shell (~/.claude), plus ~/.config/claudine/env if you keep
KEY=VALUE lines there (mode 0600). Follow it with `claudinectl logs -f ID`,
see turns, tools, tokens and cost with `claudinectl status ID`, continue it
with `claudinectl resume ID`.

After `--`, the command runs as you, without a shell (use `-- sh -c '...'` for pipes and
redirections), in its own systemd scope, with a login-like environment plus
the --env variables; --inherit-env sends your whole current environment
instead, except your session bus (DBUS_SESSION_BUS_ADDRESS, XDG_RUNTIME_DIR:
pass them with --env if a task really needs them).";

#[derive(Debug, Args)]
#[command(
    after_help = EXAMPLES,
    override_usage = "claudinectl submit [OPTIONS] PROMPT...\n       claudinectl submit [OPTIONS] -- CMD [ARGS]..."
)]
pub struct SubmitArgs {
    /// Priority: P0 runs before P1, P1 before P2; first come first served
    /// within one priority
    #[arg(long, value_name = "P0|P1|P2", default_value_t = Priority::default(), value_parser = parse_priority)]
    pub priority: Priority,

    /// Working directory of the command [default: the current directory]
    #[arg(long, value_name = "DIR", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub cwd: Option<String>,

    /// Set an environment variable for the command (repeatable)
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,

    /// Run the command with your whole current environment (plus --env)
    /// instead of a fresh login-like one; your session bus address is left out
    #[arg(long)]
    pub inherit_env: bool,

    /// The command's umask, in octal [default: your current umask]
    #[arg(long, value_name = "OCTAL", value_parser = parse_umask)]
    pub umask: Option<u32>,

    /// Soft memory level, e.g. 2G, at most --memory-max: above it the task
    /// raises task:high-memory (event, journal, hooks); nothing is touched
    /// [default: memory_warn of the configuration]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_warn: Option<u64>,

    /// The memory the task is expected to need, e.g. 3G: held for it when
    /// it starts, until its real use is seen and settles (admission never
    /// promises that memory to another task meanwhile)
    /// [default: what tasks of the same command, user and directory peaked
    /// at, else min(1 GiB, a fifth of the tasks' memory ceiling)]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory: Option<u64>,

    /// Never start the task with less memory free than this, e.g. 8G
    /// (beyond the host's reserve); refused if the host can never give it
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub min_memory: Option<u64>,

    /// Hard memory limit, e.g. 4G: the kernel kills the task there, and
    /// nothing else on the host is touched
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_max: Option<u64>,

    /// Most processes and threads the task may have at once
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pids: Option<u64>,

    /// Relative CPU weight, 1..10000 (default 100)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10000))]
    pub cpu_weight: Option<u64>,

    /// CPU time limit in percent of one core, e.g. 150% (one and a half cores)
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent)]
    pub cpu_quota: Option<u64>,

    /// The command may run again from the start if its run is interrupted
    /// (a host reboot); otherwise such a task ends `interrupted`
    /// (Claude Code tasks resume their session either way)
    #[arg(long)]
    pub restartable: bool,

    /// Run in a git worktree of its own, on a new branch claudine/<id>,
    /// made from the repository of the working directory (kept until
    /// `claudinectl clean <id>`)
    #[arg(long)]
    pub worktree: bool,

    /// Start only after these tasks have succeeded (ids, comma-separated or
    /// repeated; at most 64, your own); if one fails, is cancelled or is
    /// interrupted, this task is cancelled with that reason
    #[arg(long, value_name = "ID[,ID...]", value_delimiter = ',', value_parser = super::parse_id)]
    pub after: Vec<crate::core::TaskId>,

    /// With --after: start once all of them have ended, whatever their
    /// outcome
    #[arg(long, requires = "after")]
    pub after_any: bool,

    /// Stall threshold, e.g. 10m: no output for this long raises
    /// task:stalled (busy or idle), and task:active when output resumes
    /// [default: stall_after of the configuration, 5m]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub stall_after: Option<i64>,

    /// The prompt for Claude Code (several words are joined by spaces)
    #[arg(value_name = "PROMPT", num_args = 0..)]
    pub prompt: Vec<String>,

    /// The command and its arguments, after `--`
    #[arg(value_name = "CMD", last = true)]
    pub command: Vec<String>,

    #[command(flatten)]
    pub claude: super::submit_claude::ClaudeArgs,
}

impl SubmitArgs {
    /// What clap cannot check by itself: a command is given (clap's own
    /// "required" message would not say what is missing as clearly) and
    /// its name is not empty.
    pub(crate) fn check(&self) -> Result<(), (ErrorKind, &'static str)> {
        let prompt = !self.prompt.is_empty() || self.claude.prompt_file.is_some();
        if prompt && !self.command.is_empty() {
            return Err((
                ErrorKind::ArgumentConflict,
                "give either a prompt or a command after `--`, not both",
            ));
        }
        if !self.prompt.is_empty() && self.claude.prompt_file.is_some() {
            return Err((
                ErrorKind::ArgumentConflict,
                "give the prompt either as words or with --prompt-file, not both",
            ));
        }
        if prompt {
            return match self.prompt.iter().all(|w| w.trim().is_empty())
                && self.claude.prompt_file.is_none()
            {
                true => Err((
                    ErrorKind::InvalidValue,
                    "the prompt is empty: say what Claude should do",
                )),
                false => Ok(()),
            };
        }
        if self.claude.any() {
            return Err((
                ErrorKind::ArgumentConflict,
                "Claude options (--model, --permission-mode, ...) go with a prompt, not with a command after `--`",
            ));
        }
        match self.command.first() {
            None => Err((
                ErrorKind::MissingRequiredArgument,
                "nothing to run: give a prompt for Claude Code (claudinectl submit \"fix the test\") \
                 or a command after `--` (claudinectl submit -- make test)",
            )),
            Some(program) if program.is_empty() => Err((
                ErrorKind::InvalidValue,
                "the command name is empty: put the command after `--`, as in: claudinectl submit -- make test",
            )),
            Some(_) => Ok(()),
        }
    }
}

fn parse_size(s: &str) -> Result<u64, String> {
    crate::core::units::parse_positive_size(s)
}

fn parse_duration(s: &str) -> Result<i64, String> {
    crate::core::units::parse_positive_duration(s)
}

/// `150%` or `150`: percent of one CPU.
fn parse_percent(s: &str) -> Result<u64, String> {
    let digits = s.strip_suffix('%').unwrap_or(s);
    match digits.parse::<u64>() {
        Ok(p) if p >= 1 => Ok(p),
        _ => Err(format!(
            "invalid CPU quota {s:?}: expected a whole percentage of one core, like 50% or 200%"
        )),
    }
}

/// An octal umask from 0 to 777 (`022`, `0027`, `0o077`).
fn parse_umask(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o777 && !digits.is_empty() => Ok(m),
        _ => Err(format!(
            "invalid --umask {s:?}: expected an octal value from 000 to 777, like 022"
        )),
    }
}

/// The calling process's umask: from /proc/self/status (umask(2) has no
/// read-only form), else by setting and restoring it.
pub(crate) fn own_umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find_map(|l| l.strip_prefix("Umask:"));
    if let Some(m) = line.and_then(|v| u32::from_str_radix(v.trim(), 8).ok()) {
        return m;
    }
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    nix::sys::stat::umask(old);
    old.bits() as u32
}

fn parse_priority(s: &str) -> Result<Priority, String> {
    s.parse()
}

/// `KEY=VALUE` with a non-empty KEY; VALUE may be empty or contain `=`.
pub(crate) fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        Some(_) => Err(format!("invalid --env {s:?}: the variable name is empty")),
        None => Err(format!("invalid --env {s:?}: expected KEY=VALUE")),
    }
}

pub async fn run(client: &Client, args: SubmitArgs, o: &mut Output<'_>) -> Result<i32, CliError> {
    let cwd = resolve_cwd(args.cwd.as_deref())?;
    let (env, skipped) = environment(args.env, args.inherit_env, std::env::vars_os());
    for key in skipped {
        o.note(&format!(
            "claudinectl: not sending environment variable {key}: not valid UTF-8"
        ));
    }
    let claude = match args.command.is_empty() {
        true => Some(args.claude.request(args.prompt)?),
        false => None,
    };
    let req = SubmitRequest {
        claude,
        restartable: args.restartable,
        worktree: args.worktree,
        after: args.after,
        after_any: args.after_any,
        argv: args.command,
        cwd,
        priority: args.priority,
        env,
        inherit_env: args.inherit_env,
        umask: Some(args.umask.unwrap_or_else(own_umask)),
        limits: Limits {
            memory_warn: args.memory_warn,
            memory_max: args.memory_max,
            max_pids: args.max_pids,
            cpu_weight: args.cpu_weight,
            cpu_quota_percent: args.cpu_quota,
            stall_after_ms: args.stall_after,
            memory_request: args.memory,
            min_memory: args.min_memory,
        },
    };
    let answer = client.submit(&req).await?;
    if o.json {
        o.json_value(&answer.raw)?;
    } else {
        o.line(&answer.value.id.to_string())?;
    }
    Ok(exit::OK)
}

/// The absolute working directory to send. It is resolved here, as the
/// caller; a path that cannot be resolved is sent as is (made absolute) so
/// the daemon reports the problem.
pub(crate) fn resolve_cwd(given: Option<&str>) -> Result<String, CliError> {
    let path = match given {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_dir().map_err(|e| {
            CliError::Usage(format!(
                "cannot find the current directory ({e}); pass --cwd DIR"
            ))
        })?,
    };
    let resolved = match std::fs::canonicalize(&path) {
        Ok(p) => p,
        Err(_) if path.is_absolute() => path,
        Err(e) => std::env::current_dir()
            .map(|dir| dir.join(&path))
            .map_err(|_| {
                CliError::Usage(format!(
                    "cannot resolve working directory {}: {e}",
                    path.display()
                ))
            })?,
    };
    resolved.into_os_string().into_string().map_err(|p| {
        CliError::Usage(format!(
            "working directory {} is not valid UTF-8",
            Path::new(&p).display()
        ))
    })
}

/// The variables to send: the caller's whole environment with
/// `--inherit-env`, then the `--env` ones (the last of a repeated KEY wins).
/// Also returns the names of variables skipped because they are not UTF-8.
/// Variables `--inherit-env` leaves out: the user's session bus (and the
/// runtime directory that leads to it). A task runs outside the user's
/// session; handing it the bus would let it ask the user's systemd for
/// scopes outside claudine's. `--env` still passes them on purpose.
const NOT_INHERITED: &[&str] = &["DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR"];

fn environment(
    explicit: Vec<(String, String)>,
    inherit: bool,
    current: impl IntoIterator<Item = (OsString, OsString)>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let mut env = BTreeMap::new();
    let mut skipped = Vec::new();
    if inherit {
        for (key, value) in current {
            match (key.into_string(), value.into_string()) {
                (Ok(k), Ok(_)) if NOT_INHERITED.contains(&k.as_str()) => {}
                (Ok(k), Ok(v)) => {
                    env.insert(k, v);
                }
                (k, _) => skipped.push(match k {
                    Ok(k) => k,
                    Err(k) => k.to_string_lossy().into_owned(),
                }),
            }
        }
    }
    env.extend(explicit);
    (env, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{parse_args, Command};
    use std::os::unix::ffi::OsStringExt;

    fn submit(args: &[&str]) -> Result<SubmitArgs, clap::Error> {
        let argv = ["claudinectl", "submit"].iter().chain(args).copied();
        match parse_args(argv)?.command {
            Command::Submit(s) => Ok(*s),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn command_after_double_dash_keeps_its_own_flags() {
        let s = submit(&["--priority", "p0", "--", "claude", "-p", "fix it", "--json"]).unwrap();
        assert_eq!(s.priority, Priority::P0);
        assert_eq!(s.command, ["claude", "-p", "fix it", "--json"]);
        // Without `--`, the words are a prompt, and options may follow it.
        let s = submit(&[
            "-e", "A=1", "Fix", "the test", "--cwd", "/", "--model", "opus",
        ])
        .unwrap();
        assert_eq!(s.prompt, ["Fix", "the test"]);
        assert!(s.command.is_empty());
        assert_eq!(s.cwd.as_deref(), Some("/"));
        assert_eq!(s.claude.model.as_deref(), Some("opus"));
        assert_eq!(s.umask, None);
        // Claude's options go with a prompt only; a prompt and a command
        // do not mix.
        for bad in [
            &["--model", "opus", "--", "ls"][..],
            &["fix it", "--", "ls"],
            &["fix it", "--prompt-file", "p.md"],
            &["   "],
        ] {
            let err = submit(bad).unwrap_err();
            assert_eq!(err.exit_code(), exit::USAGE, "{bad:?}");
        }
        let s = submit(&["--prompt-file", "-", "--continue-from", "41"]).unwrap();
        assert_eq!(s.claude.continue_from, Some(41));
        let s = submit(&["--", "ls", "-l", "--cwd", "/"]).unwrap();
        assert_eq!(
            submit(&["--umask", "027", "--", "ls"]).unwrap().umask,
            Some(0o027)
        );
        assert_eq!(
            submit(&["--umask", "0o7", "--", "ls"]).unwrap().umask,
            Some(0o7)
        );
        for bad in ["888", "1000", "", "x", "-1"] {
            assert!(submit(&["--umask", bad, "--", "ls"]).is_err(), "{bad}");
        }
        let l = submit(&[
            "--memory-warn",
            "2G",
            "--memory-max",
            "4G",
            "--max-pids",
            "64",
            "--cpu-weight",
            "50",
            "--cpu-quota",
            "150%",
            "--stall-after",
            "10m",
            "--",
            "ls",
        ])
        .unwrap();
        assert_eq!(
            (
                l.memory_warn,
                l.memory_max,
                l.max_pids,
                l.cpu_weight,
                l.cpu_quota,
                l.stall_after
            ),
            (
                Some(2 << 30),
                Some(4 << 30),
                Some(64),
                Some(50),
                Some(150),
                Some(600_000)
            )
        );
        for (flag, bad) in [
            ("--memory-max", "4Gb"),
            ("--memory-max", "-1"),
            ("--memory-warn", "10 parsecs"),
            ("--stall-after", "10 parsecs"),
            ("--cpu-weight", "0"),
            ("--cpu-quota", "0%"),
            ("--max-pids", "0"),
        ] {
            assert!(submit(&[flag, bad, "--", "ls"]).is_err(), "{flag} {bad}");
        }
        assert_eq!(s.command, ["ls", "-l", "--cwd", "/"]);
        assert_eq!(s.cwd, None);
        assert_eq!(s.priority, Priority::P1);
    }

    #[test]
    fn after_takes_comma_lists_and_repeats() {
        let s = submit(&["--after", "41,42", "--after", "7", "Merge them"]).unwrap();
        assert_eq!((s.after, s.after_any), (vec![41, 42, 7], false));
        assert_eq!(s.prompt, ["Merge them"]);
        let s = submit(&["--after", "3", "--after-any", "--", "make"]).unwrap();
        assert_eq!((s.after, s.after_any), (vec![3], true));
        for bad in [
            &["--after", "0", "--", "x"][..],
            &["--after", "41,x", "--", "x"],
            &["--after", "", "--", "x"],
            &["--after-any", "--", "x"],
        ] {
            let err = submit(bad).unwrap_err();
            assert_eq!(err.exit_code(), exit::USAGE, "{bad:?}");
        }
    }

    #[test]
    fn empty_command_is_a_usage_error() {
        for args in [&[][..], &["--"], &["--priority", "P2", "--"], &["--", ""]] {
            let err = submit(args).unwrap_err();
            assert_eq!(err.exit_code(), exit::USAGE, "{args:?}");
        }
        let msg = submit(&["--", ""]).unwrap_err().to_string();
        assert!(msg.contains("command name is empty"), "{msg}");
        let msg = submit(&["--"]).unwrap_err().to_string();
        assert!(msg.contains("nothing to run"), "{msg}");
        assert!(msg.contains("Usage: claudinectl submit"), "{msg}");
    }

    #[test]
    fn priorities() {
        for (arg, want) in [
            ("P0", Priority::P0),
            ("p1", Priority::P1),
            ("2", Priority::P2),
        ] {
            assert_eq!(
                submit(&["--priority", arg, "--", "x"]).unwrap().priority,
                want
            );
        }
        let err = submit(&["--priority", "P3", "--", "x"]).unwrap_err();
        assert_eq!(err.exit_code(), exit::USAGE);
        assert!(err.to_string().contains("expected P0, P1 or P2"), "{err}");
    }

    #[test]
    fn env_needs_key_equals_value() {
        let s = submit(&["-e", "A=1", "--env", "B=x=y", "--env", "C=", "--", "x"]).unwrap();
        assert_eq!(
            s.env,
            [
                ("A".into(), "1".into()),
                ("B".into(), "x=y".into()),
                ("C".into(), String::new())
            ]
        );
        for bad in ["NOVALUE", "=value", ""] {
            let err = submit(&["--env", bad, "--", "x"]).unwrap_err();
            assert_eq!(err.exit_code(), exit::USAGE, "{bad:?}");
        }
        assert_eq!(
            submit(&["--cwd", "", "--", "x"]).unwrap_err().exit_code(),
            exit::USAGE
        );
    }

    #[test]
    fn environment_merges_inherited_and_explicit() {
        let current = vec![
            (OsString::from("HOME"), OsString::from("/home/a")),
            (OsString::from("A"), OsString::from("old")),
            (OsString::from("BAD"), OsString::from_vec(vec![0xff])),
            (
                OsString::from("DBUS_SESSION_BUS_ADDRESS"),
                OsString::from("unix:path=/run/user/1000/bus"),
            ),
            (
                OsString::from("XDG_RUNTIME_DIR"),
                OsString::from("/run/user/1000"),
            ),
        ];
        let explicit = vec![("A".to_string(), "new".to_string())];
        let (env, skipped) = environment(explicit.clone(), true, current.clone());
        assert_eq!(env.len(), 2, "the session bus is not inherited: {env:?}");
        assert_eq!(env["A"], "new");
        assert_eq!(env["HOME"], "/home/a");
        assert_eq!(skipped, ["BAD"]);
        let (env, skipped) = environment(explicit, false, current);
        assert_eq!(
            env.into_iter().collect::<Vec<_>>(),
            [("A".into(), "new".into())]
        );
        assert!(skipped.is_empty());
    }

    #[test]
    fn cwd_is_made_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        let link = real.join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(
            resolve_cwd(Some(link.to_str().unwrap())).unwrap(),
            real.to_str().unwrap()
        );
        // Unresolvable: sent as given when absolute, made absolute otherwise.
        assert_eq!(resolve_cwd(Some("/no/such/dir")).unwrap(), "/no/such/dir");
        let rel = resolve_cwd(Some("no-such-subdir")).unwrap();
        assert!(
            rel.starts_with('/') && rel.ends_with("/no-such-subdir"),
            "{rel}"
        );
        assert!(resolve_cwd(None).unwrap().starts_with('/'));
    }
}
