//! `claudinectl mcp`: serve claudine's tools to an MCP client (Claude Code)
//! on stdin/stdout ([`crate::cli::mcp`]).

use crate::cli::client::Client;
use crate::cli::error::CliError;
use crate::cli::exit;
use crate::cli::mcp::ServeError;
use clap::Args;

const EXAMPLES: &str = "\
Examples:
  claude mcp add claudine -- claudinectl mcp
  claude mcp add --scope user claudine -- claudinectl mcp
  claude -p --mcp-config '{\"mcpServers\":{\"claudine\":{\"command\":\"claudinectl\",\"args\":[\"mcp\"]}}}' ...

An MCP server over stdio for Claude Code and other MCP clients: the model
gets the tools delegate_task, task_status, task_logs, list_tasks, wait_task,
cancel_task, suspend_task and resume_task, which call claudined as you.
Nothing but the protocol is written to stdout; logs go to stderr
(RUST_LOG=debug for more). It ends when its input ends.";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct McpArgs {}

pub async fn run(client: &Client, _args: McpArgs) -> Result<i32, CliError> {
    init_logging();
    tracing::info!(
        "claudine MCP server {} on stdio, claudined at {}",
        env!("CARGO_PKG_VERSION"),
        client.socket().display()
    );
    let (input, output) = rmcp::transport::io::stdio_pipes();
    match crate::cli::mcp::serve(client.clone(), input, output).await {
        Ok(()) => Ok(exit::OK),
        Err(e @ ServeError::Initialize(_)) => {
            tracing::error!("{e}");
            Ok(exit::PROTOCOL)
        }
        Err(ServeError::Io(e)) => Err(CliError::Output(e)),
    }
}

/// Log lines to stderr, never stdout: warnings and our own notes unless
/// `RUST_LOG` says otherwise.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,claudine=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .try_init();
}
