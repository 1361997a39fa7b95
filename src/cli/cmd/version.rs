//! `claudinectl version`: this client's version and the daemon's.

use crate::cli::client::Client;
use crate::cli::error::CliError;
use crate::cli::{exit, Output};
use crate::proto::PROTOCOL_VERSION;
use clap::Args;

const EXAMPLES: &str = "\
Examples:
  claudinectl version
  claudinectl version --json

`claudinectl --version` prints only the client's version, without asking
claudined.";

const CLIENT_VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct VersionArgs {}

pub async fn run(client: &Client, _args: VersionArgs, o: &mut Output<'_>) -> Result<i32, CliError> {
    if !o.json {
        o.line(&format!(
            "claudinectl {CLIENT_VERSION} (protocol {PROTOCOL_VERSION})"
        ))?;
    }
    let answer = client.version().await?;
    let daemon = &answer.value;
    if o.json {
        let doc = serde_json::json!({
            "client": { "version": CLIENT_VERSION, "protocol": PROTOCOL_VERSION },
            "daemon": answer.raw,
        });
        o.json_value(&doc)?;
    } else {
        o.line(&format!(
            "claudined   {} (protocol {})",
            crate::cli::format::sanitize(&daemon.version),
            daemon.protocol
        ))?;
    }
    if daemon.protocol != PROTOCOL_VERSION {
        o.note(&format!(
            "claudinectl: warning: claudined speaks protocol {}, this claudinectl speaks {PROTOCOL_VERSION}",
            daemon.protocol
        ));
    }
    Ok(exit::OK)
}
