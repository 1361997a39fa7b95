//! `claudinectl logs`: copy a task's log to stdout as it arrives.

use crate::cli::client::Client;
use crate::cli::error::CliError;
use crate::cli::{exit, Output};
use crate::core::TaskId;
use crate::proto::LogStream;
use clap::Args;

const EXAMPLES: &str = "\
Examples:
  claudinectl logs 42              the whole log so far (stdout and stderr)
  claudinectl logs 42 --tail 20    the last 20 lines
  claudinectl logs -f 42           follow it until the task ends (Ctrl-C stops)
  claudinectl logs 42 --stderr     only what the command wrote to stderr

Without --stdout or --stderr, both streams are printed interleaved in the
order they arrived. The log is printed as claudined sends it, with no
change; --json has no effect here.";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct LogsArgs {
    /// The task's id
    #[arg(value_parser = super::parse_id)]
    pub id: TaskId,

    /// Only the last N lines
    #[arg(long, short = 'n', value_name = "N")]
    pub tail: Option<u64>,

    /// Keep printing new output until the task ends
    #[arg(long, short = 'f')]
    pub follow: bool,

    /// Only what the command wrote to its standard output
    #[arg(long, conflicts_with = "stderr")]
    pub stdout: bool,

    /// Only what the command wrote to its standard error
    #[arg(long)]
    pub stderr: bool,
}

impl LogsArgs {
    /// Which log to read: `--stdout`, `--stderr`, or both.
    pub fn stream(&self) -> LogStream {
        match (self.stdout, self.stderr) {
            (true, _) => LogStream::Stdout,
            (_, true) => LogStream::Stderr,
            _ => LogStream::Both,
        }
    }
}

pub async fn run(client: &Client, args: LogsArgs, o: &mut Output<'_>) -> Result<i32, CliError> {
    let stream = args.stream();
    client
        .logs(args.id, args.tail, args.follow, stream, o.out)
        .await?;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{parse_args, Command};

    fn parse(args: &[&str]) -> Result<LogsArgs, clap::Error> {
        let argv = ["claudinectl", "logs"].iter().chain(args);
        match parse_args(argv)?.command {
            Command::Logs(a) => Ok(a),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stream_flags_pick_one_log() {
        let a = parse(&["4"]).unwrap();
        assert_eq!((a.id, a.tail, a.follow), (4, None, false));
        assert_eq!(a.stream(), LogStream::Both);
        assert_eq!(
            parse(&["4", "--stdout"]).unwrap().stream(),
            LogStream::Stdout
        );
        let a = parse(&["-f", "--stderr", "4", "-n", "3"]).unwrap();
        assert_eq!(
            (a.stream(), a.tail, a.follow),
            (LogStream::Stderr, Some(3), true)
        );
    }

    #[test]
    fn stdout_and_stderr_exclude_each_other() {
        let err = parse(&["4", "--stdout", "--stderr"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        assert_eq!(err.exit_code(), exit::USAGE);
    }
}
