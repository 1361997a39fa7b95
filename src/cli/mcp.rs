//! `claudinectl mcp`: an MCP server on stdin/stdout, so that a Claude Code
//! session can hand work to claudine (`claude mcp add claudine --
//! claudinectl mcp`).
//!
//! The server is a client of claudined like any other `claudinectl`
//! command: it calls the daemon's socket as the user who started it
//! (SO_PEERCRED), so that user's own rights apply and there is nothing new
//! to authenticate. The protocol is the official SDK's (`rmcp`); this
//! module only says what the tools do.
//!
//! Layout:
//!
//! - this file: [`ClaudineMcp`], the server (the [`Client`] and the tools'
//!   router), its `initialize` answer, and [`serve`], which runs it over a
//!   reader and a writer;
//! - [`frames`]: the stdio framing in front of the SDK: a line that is not
//!   JSON is answered with a JSON-RPC parse error and the server keeps
//!   serving;
//! - one file per group of tools, each with its own `#[tool_router]` block
//!   merged in [`ClaudineMcp::new`] and the input types beside it:
//!   [`delegate`] (`delegate_task`), [`tasks`] (`task_status`,
//!   `list_tasks`, `task_logs`), [`wait`] (`wait_task`), [`control`]
//!   (`cancel_task`, `suspend_task`, `resume_task`); the broker's message
//!   tools come as one more such file;
//! - [`reply`]: what a tool answers — a task in brief as one line of JSON,
//!   and every failure (a bad argument, an error of claudined, claudined
//!   unreachable) as a tool error the model reads (`isError: true`), never
//!   as a JSON-RPC error.
//!
//! Protocol versions: the SDK's, 2024-11-05 to 2026-07-28. Claude Code
//! 2.1.330 speaks 2026-07-28, which has no `initialize`: it sends
//! `server/discover`, then requests that carry the version and the
//! client's identity in `_meta` (recorded; tested in `tests.rs`); older
//! clients open with `initialize`. Nothing is asked of claudined at start,
//! so either is answered at once. The client connects once per request: a restart of claudined under
//! a running server fails the call in flight with a tool error saying so,
//! and the next call reaches the new daemon. Logs go to stderr only; stdout
//! carries the protocol and nothing else.

pub mod control;
pub mod delegate;
pub mod frames;
pub mod reply;
pub mod tasks;
pub mod wait;

#[cfg(test)]
mod tests;

use crate::cli::client::Client;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::{tool_handler, ServerHandler, ServiceExt};
use tokio::io::{AsyncRead, AsyncWrite};

/// What the model is told about the server as a whole.
const INSTRUCTIONS: &str = "\
claudine is a task queue on this machine: it runs commands and headless \
Claude Code sessions in their own systemd scopes, as you, when memory and CPU \
allow, in priority order. Use delegate_task for work that is long, heavy or \
parallel (test suites, builds, independent subtasks for another Claude \
session); it answers at once with the task's id. Then wait_task (with a \
timeout), task_status, task_logs; list_tasks shows what is queued and \
running. Tasks outlive this session.";

/// The MCP server: claudine's tools over the claudinectl client.
pub struct ClaudineMcp {
    pub(crate) client: Client,
    tool_router: ToolRouter<Self>,
}

impl ClaudineMcp {
    pub fn new(client: Client) -> Self {
        ClaudineMcp {
            client,
            tool_router: Self::delegate_router()
                + Self::tasks_router()
                + Self::wait_router()
                + Self::control_router(),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for ClaudineMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("claudine", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }
}

/// Why [`serve`] ended early.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The peer went away, or sent no `initialize`, before the session began.
    #[error("no MCP session: {0}")]
    Initialize(String),
    /// Reading the requests or writing the answers failed.
    #[error("stdio: {0}")]
    Io(#[from] std::io::Error),
}

/// Serve one MCP session: requests are read from `input` (one JSON-RPC
/// message per line), answers written to `output`, until `input` ends.
pub async fn serve<R, W>(client: Client, input: R, output: W) -> Result<(), ServeError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (sdk_input, sdk_output, framing) = frames::spawn(input, output);
    let session = ClaudineMcp::new(client)
        .serve((sdk_input, sdk_output))
        .await
        .map_err(|e| ServeError::Initialize(e.to_string()));
    // Whatever happened, let the framing flush what the SDK wrote (an
    // error answer to a bad `initialize`, say) before returning.
    let served = match session {
        Ok(running) => running
            .waiting()
            .await
            .map(drop)
            .map_err(|e| ServeError::Initialize(e.to_string())),
        Err(e) => Err(e),
    };
    framing.finish().await?;
    served
}
