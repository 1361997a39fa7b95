//! `claudinectl logs`: copy a task's log to stdout as it arrives; a Claude
//! Code task's stream-json as a conversation ([`crate::cli::conversation`])
//! unless `--raw`.

use crate::cli::client::Client;
use crate::cli::conversation::{LineRenderWriter, Renderer};
use crate::cli::error::CliError;
use crate::cli::{exit, Output};
use crate::core::TaskId;
use crate::proto::LogStream;
use clap::Args;
use std::io::Write;

const EXAMPLES: &str = "\
Examples:
  claudinectl logs 42              the whole log so far (stdout and stderr)
  claudinectl logs 42 --tail 20    the last 20 lines
  claudinectl logs -f 42           follow it until the task ends (Ctrl-C stops)
  claudinectl logs 42 --stderr     only what the command wrote to stderr
  claudinectl logs 42 --raw        a Claude Code task's stream-json lines as they are

Without --stdout or --stderr, both streams are printed interleaved in the
order they arrived. A Claude Code task's output is shown as a conversation:
the session, what the model said, each tool call with its command or file
and the first 20 lines of its result, API retries, and the result with its
turns, cost, time and tokens; lines that are not the CLI's JSON are printed
as they are. With --raw (or --json), and for every other task, the log is
printed as claudined sends it, with no change.";

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

    /// Print a Claude Code task's stream-json lines as they are, not as a conversation
    #[arg(long)]
    pub raw: bool,
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

/// Whether to show the log as a conversation: only a Claude Code task's,
/// not with `--raw`, and not its stderr alone (which is no stream-json).
pub fn wants_rendering(args: &LogsArgs, is_claude: bool) -> bool {
    is_claude && !args.raw && args.stream() != LogStream::Stderr
}

pub async fn run(client: &Client, args: LogsArgs, o: &mut Output<'_>) -> Result<i32, CliError> {
    // Whether the task runs Claude Code: its view says (asked only when the
    // answer matters; an unknown id is reported by the logs request itself).
    let is_claude = if args.raw || o.json || args.stream() == LogStream::Stderr {
        false
    } else {
        match client.task(args.id).await {
            Ok(t) => t.value.claude.is_some(),
            Err(_) => false,
        }
    };
    let render = wants_rendering(&args, is_claude) && !o.json;
    print(client, &args, render, o.out).await?;
    Ok(exit::OK)
}

/// Copy the log to `out` as it arrives, each complete line rendered when
/// `render` (a last line without its newline is rendered at the end, also
/// when the copy failed).
async fn print(
    client: &Client,
    args: &LogsArgs,
    render: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (id, tail, follow, stream) = (args.id, args.tail, args.follow, args.stream());
    if !render {
        return client.logs(id, tail, follow, stream, out).await;
    }
    let renderer = Renderer::with_offset(*chrono::Local::now().offset());
    let mut lines = LineRenderWriter::new(out, renderer);
    let copied = client.logs(id, tail, follow, stream, &mut lines).await;
    let finished = lines.finish().map(drop).map_err(CliError::Output);
    copied.and(finished)
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
    fn only_a_claude_tasks_stdout_is_rendered_and_raw_turns_it_off() {
        assert!(!wants_rendering(&parse(&["4"]).unwrap(), false));
        assert!(wants_rendering(&parse(&["4"]).unwrap(), true));
        assert!(wants_rendering(
            &parse(&["4", "--stdout", "-f"]).unwrap(),
            true
        ));
        assert!(!wants_rendering(&parse(&["4", "--raw"]).unwrap(), true));
        assert!(!wants_rendering(&parse(&["4", "--stderr"]).unwrap(), true));
    }

    #[tokio::test]
    async fn a_rendered_log_is_printed_line_by_line_as_it_arrives() {
        use crate::cli::testserver::{handler, streaming, FakeDaemon};
        use crate::core::claude_stream::fixtures;
        use bytes::Bytes;
        use std::sync::Mutex;

        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("claudine.sock");
        let (feed, body) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
        let body = Mutex::new(Some(body));
        let _daemon = FakeDaemon::start(
            &socket,
            handler(move |_| body.lock().unwrap().take().map(streaming)),
        );
        let mut stream = fixtures::bash_session().join("\n").into_bytes();
        stream.extend_from_slice("\nnot json: caf\u{e9}".as_bytes());
        // Cut everywhere, mid-line and inside the two bytes of "é".
        for chunk in stream.chunks(7) {
            feed.send(Bytes::copy_from_slice(chunk)).unwrap();
        }
        drop(feed);
        let args = parse(&["4"]).unwrap();
        let mut out = Vec::new();
        print(&Client::new(&socket), &args, true, &mut out)
            .await
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("── session "), "{text}");
        assert!(
            text.contains("\n▶ Bash: echo hello\n◀ Bash: hello\n"),
            "{text}"
        );
        assert!(text.ends_with("tokens\nnot json: café\n"), "{text}");
    }

    #[test]
    fn stdout_and_stderr_exclude_each_other() {
        let err = parse(&["4", "--stdout", "--stderr"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        assert_eq!(err.exit_code(), exit::USAGE);
    }
}
