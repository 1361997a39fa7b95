//! `claudinectl`: the command-line client of claudined.
//!
//! - [`Cli`]/[`Command`]: the clap definitions (each subcommand's arguments
//!   live beside its code in [`cmd`]).
//! - [`client`]: HTTP/1.1 + JSON over the Unix socket ([`crate::proto`]).
//! - [`format`]: durations, quoting and other text helpers; [`spark`]:
//!   sparklines; [`term`]: the terminal of a full-screen view (`top`).
//! - [`conversation`]: a Claude Code task's stream-json log as a readable
//!   conversation (`logs`).
//! - [`error`] and [`exit`]: what can fail and the exit code it gives.
//! - [`mcp`]: `claudinectl mcp`, an MCP server on stdio whose tools call
//!   claudined through the same [`client`].
//!
//! [`main`] is the whole program; `src/bin/claudinectl.rs` only calls it.
//! [`run`] takes the parsed arguments and where to write, so tests drive a
//! command end to end against a fake daemon.

pub mod client;
pub mod cmd;
pub mod conversation;
pub mod error;
pub mod exit;
pub mod format;
#[cfg(test)]
mod list_roundtrip_tests;
pub mod mcp;
#[cfg(test)]
mod metrics_roundtrip_tests;
#[cfg(test)]
mod roundtrip_tests;
pub mod spark;
pub mod term;
#[cfg(test)]
mod testserver;

pub use client::Client;
pub use error::CliError;

use clap::{CommandFactory, Parser, Subcommand};
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  claudinectl submit -- cargo test
  claudinectl submit --priority P0 --cwd ~/src/app -- claude -p 'fix the flaky test'
  claudinectl list
  claudinectl logs -f 42
  claudinectl metrics 42
  claudinectl top
  claudinectl usage
  claudinectl wait 42 && echo 'task 42 succeeded'
  claude mcp add claudine -- claudinectl mcp";

/// Queue Claude Code prompts and commands for claudined, which runs each one in its own systemd scope.
#[derive(Debug, Parser)]
#[command(
    name = "claudinectl",
    version,
    after_help = format!("{EXAMPLES}\n\n{}", exit::HELP),
)]
pub struct Cli {
    /// Path of claudined's socket
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "CLAUDINE_SOCKET",
        hide_env_values = true,
        default_value = crate::proto::DEFAULT_SOCKET
    )]
    pub socket: PathBuf,

    /// Print JSON (one document per line) instead of text, for scripts
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Queue a Claude Code prompt, or a command after `--`; prints the new task's id
    Submit(Box<cmd::submit::SubmitArgs>),
    /// List tasks: queued and running ones, and why queued ones still wait
    List(cmd::list::ListArgs),
    /// Show everything about one task
    Status(cmd::status::StatusArgs),
    /// Print a task's output (stdout and stderr)
    Logs(cmd::logs::LogsArgs),
    /// Cancel a task: a queued one ends at once, a running one is stopped
    Cancel(cmd::cancel::CancelArgs),
    /// Freeze a running task's whole scope (resume thaws it)
    Suspend(cmd::suspend::SuspendArgs),
    /// Remove a finished task's git worktree (the branch claudine/<id> stays)
    Clean(cmd::clean::CleanArgs),
    /// A task's checkpoints: when, why, and what each holds (a git snapshot ref)
    Checkpoints(cmd::checkpoints::CheckpointsArgs),
    /// Thaw a suspended task, relaunch an interrupted command, or continue a Claude Code task that ended in its session
    Resume(cmd::resume::ResumeArgs),
    /// Wait until a task ends and exit with its exit code
    Wait(cmd::wait::WaitArgs),
    /// Your tasks' events (queued, started, stalled, high-memory, finished, ...); --follow streams
    Events(cmd::events::EventsArgs),
    /// A task's memory, CPU, pids and output over time, as sparklines
    Metrics(cmd::metrics::MetricsArgs),
    /// A live view of the host and the queue, redrawn every second (q quits)
    Top(cmd::top::TopArgs),
    /// Claude Code tasks' tokens and cost per hour and day, cooldowns in force, budgets
    Usage(cmd::usage::UsageArgs),
    /// Print the versions of claudinectl and claudined
    Version(cmd::version::VersionArgs),
    /// Serve claudine's tools to Claude Code over stdio (an MCP server):
    /// claude mcp add claudine -- claudinectl mcp
    Mcp(cmd::mcp::McpArgs),
}

/// Parse a command line, including the checks clap cannot express.
pub fn parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = Cli::try_parse_from(args)?;
    if let Command::Submit(submit) = &cli.command {
        if let Err((kind, msg)) = submit.check() {
            let mut app = Cli::command();
            app.build();
            let sub = app
                .find_subcommand_mut("submit")
                .expect("submit is a subcommand");
            return Err(sub.error(kind, msg));
        }
    }
    Ok(cli)
}

/// Where a command writes, and how.
pub struct Output<'a> {
    /// `--json`.
    pub json: bool,
    /// Cut table rows to this many columns (stdout is a terminal).
    pub width: Option<usize>,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

impl Output<'_> {
    /// One line on stdout.
    pub fn line(&mut self, text: &str) -> Result<(), CliError> {
        writeln!(self.out, "{text}").map_err(CliError::Output)
    }

    /// A JSON document on one line of stdout.
    pub fn json_value(&mut self, value: &serde_json::Value) -> Result<(), CliError> {
        self.line(&value.to_string())
    }

    /// One line on stderr; a failure to write it is ignored.
    pub fn note(&mut self, text: &str) {
        let _ = writeln!(self.err, "{text}");
    }
}

/// Run one parsed command line, writing to `stdout` and `stderr`, and
/// return the process exit status. `width` cuts table rows (give the
/// terminal's width when stdout is one).
pub async fn run(
    cli: Cli,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
    width: Option<usize>,
) -> i32 {
    let client = Client::new(&cli.socket);
    let out = &mut Output {
        json: cli.json,
        width,
        out: stdout,
        err: stderr,
    };
    let result = match cli.command {
        Command::Submit(args) => cmd::submit::run(&client, *args, out).await,
        Command::List(args) => cmd::list::run(&client, args, out).await,
        Command::Status(args) => cmd::status::run(&client, args, out).await,
        Command::Logs(args) => cmd::logs::run(&client, args, out).await,
        Command::Events(args) => cmd::events::run(&client, args, out).await,
        Command::Metrics(args) => cmd::metrics::run(&client, args, out).await,
        Command::Top(args) => cmd::top::run(&client, args, out).await,
        Command::Usage(args) => cmd::usage::run(&client, args, out).await,
        Command::Cancel(args) => cmd::cancel::run(&client, args, out).await,
        Command::Resume(args) => cmd::resume::run(&client, args, out).await,
        Command::Suspend(args) => cmd::suspend::run(&client, args, out).await,
        Command::Clean(args) => cmd::clean::run(&client, args, out).await,
        Command::Checkpoints(args) => cmd::checkpoints::run(&client, args, out).await,
        Command::Wait(args) => cmd::wait::run(&client, args, out).await,
        Command::Version(args) => cmd::version::run(&client, args, out).await,
        // The MCP server speaks on the process's own stdin and stdout.
        Command::Mcp(args) => cmd::mcp::run(&client, args).await,
    };
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            if let Some(msg) = e.report() {
                out.note(&msg);
            }
            e.exit_code()
        }
    };
    if let Err(e) = out.out.flush() {
        if e.kind() != io::ErrorKind::BrokenPipe && code == exit::OK {
            return exit::OUTPUT;
        }
    }
    code
}

/// The whole `claudinectl` program; returns the process exit status.
pub fn main() -> i32 {
    let cli = match parse_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and --version go to stdout with status 0, errors to
            // stderr with status 2.
            let _ = e.print();
            return e.exit_code();
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("claudinectl: cannot start the async runtime: {e}");
            return exit::PROTOCOL;
        }
    };
    let width = format::stdout_width();
    // stdout and stderr are not held locked: `claudinectl mcp` writes them
    // from tasks of its own.
    let code = runtime.block_on(run(cli, &mut io::stdout(), &mut io::stderr(), width));
    exit::clamp(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_and_defaults() {
        let cli = parse_args(["claudinectl", "list"]).unwrap();
        assert!(!cli.json);
        if std::env::var_os("CLAUDINE_SOCKET").is_none() {
            assert_eq!(cli.socket, PathBuf::from("/run/claudine/claudine.sock"));
        }
        let cli =
            parse_args(["claudinectl", "status", "7", "--json", "--socket", "/tmp/s"]).unwrap();
        assert!(cli.json);
        assert_eq!(cli.socket, PathBuf::from("/tmp/s"));
        assert!(matches!(cli.command, Command::Status(ref s) if s.id == 7));
    }

    #[test]
    fn ids_must_be_positive_numbers() {
        for bad in ["0", "-1", "abc", ""] {
            let err = parse_args(["claudinectl", "status", bad]).unwrap_err();
            assert_eq!(err.exit_code(), exit::USAGE, "{bad}");
        }
    }

    #[test]
    fn help_documents_exit_codes_and_examples() {
        let help = Cli::command().render_long_help().to_string();
        for needle in ["Exit status:", "69", "77", "Examples:", "CLAUDINE_SOCKET"] {
            assert!(help.contains(needle), "{needle} missing from\n{help}");
        }
        let mut app = Cli::command();
        for sub in [
            "submit", "list", "status", "logs", "cancel", "wait", "metrics", "top", "usage",
            "version", "mcp",
        ] {
            let help = app
                .find_subcommand_mut(sub)
                .unwrap()
                .render_long_help()
                .to_string();
            assert!(help.contains("Examples:"), "{sub} has no examples:\n{help}");
        }
    }
}
