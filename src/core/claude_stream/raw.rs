//! The stream's JSON as serde reads it, in one pass.
//!
//! The top level is one flat struct holding the fields of every line type:
//! serde's internally tagged enums would buffer the whole line to find
//! `type` first, a copy of every byte. Each field is read by a lenient
//! reader of `lenient.rs`, so a line of megabytes costs one scan and leaves
//! a few hundred bytes behind; fields not named here (a tool's input, a tool
//! result's content, a file's text) are skipped without being stored.

use super::lenient::{
    boolean, bounded, count, float, list, name, object, path, preview, strings, uint, Entry, List,
    Objects, Text, MAX_BLOCKS, PREVIEW_CHARS,
};
use serde::de::Deserializer;
use serde::Deserialize;
use std::marker::PhantomData;

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawLine {
    #[serde(rename = "type", deserialize_with = "name")]
    pub kind: Option<String>,
    #[serde(deserialize_with = "name")]
    pub subtype: Option<String>,
    #[serde(deserialize_with = "name")]
    pub session_id: Option<String>,
    // system/init
    #[serde(deserialize_with = "path")]
    pub cwd: Option<String>,
    #[serde(deserialize_with = "name")]
    pub model: Option<String>,
    #[serde(deserialize_with = "count")]
    pub tools: Option<u32>,
    #[serde(deserialize_with = "name")]
    pub claude_code_version: Option<String>,
    #[serde(deserialize_with = "list")]
    pub mcp_servers: Option<List<RawMcpEntry>>,
    #[serde(deserialize_with = "list")]
    pub mcp_server_errors: Option<List<RawMcpEntry>>,
    // assistant, user
    #[serde(deserialize_with = "object")]
    pub message: Option<RawMessage>,
    #[serde(deserialize_with = "name")]
    pub parent_tool_use_id: Option<String>,
    // system/api_retry
    #[serde(deserialize_with = "uint")]
    pub attempt: Option<u64>,
    #[serde(deserialize_with = "uint")]
    pub max_retries: Option<u64>,
    #[serde(deserialize_with = "uint")]
    pub retry_delay_ms: Option<u64>,
    #[serde(deserialize_with = "uint")]
    pub error_status: Option<u64>,
    #[serde(deserialize_with = "preview")]
    pub error: Option<Text>,
    // result
    #[serde(deserialize_with = "boolean")]
    pub is_error: Option<bool>,
    #[serde(deserialize_with = "uint")]
    pub num_turns: Option<u64>,
    #[serde(deserialize_with = "preview")]
    pub result: Option<Text>,
    #[serde(deserialize_with = "float")]
    pub total_cost_usd: Option<f64>,
    #[serde(deserialize_with = "object")]
    pub usage: Option<RawUsage>,
    #[serde(deserialize_with = "uint")]
    pub duration_ms: Option<u64>,
    #[serde(deserialize_with = "uint")]
    pub duration_api_ms: Option<u64>,
    #[serde(deserialize_with = "name")]
    pub terminal_reason: Option<String>,
    #[serde(deserialize_with = "uint")]
    pub api_error_status: Option<u64>,
    #[serde(deserialize_with = "list")]
    pub permission_denials: Option<List<RawDenial>>,
    #[serde(deserialize_with = "strings")]
    pub errors: Option<List<Text>>,
    // rate_limit_event
    #[serde(deserialize_with = "object")]
    pub rate_limit_info: Option<RawRateLimit>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawMessage {
    #[serde(deserialize_with = "name")]
    pub id: Option<String>,
    #[serde(deserialize_with = "name")]
    pub model: Option<String>,
    #[serde(deserialize_with = "blocks")]
    pub content: Option<List<RawBlock>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawBlock {
    #[serde(rename = "type", deserialize_with = "name")]
    pub kind: Option<String>,
    #[serde(deserialize_with = "preview")]
    pub text: Option<Text>,
    #[serde(deserialize_with = "name")]
    pub id: Option<String>,
    #[serde(deserialize_with = "name")]
    pub name: Option<String>,
    #[serde(deserialize_with = "name")]
    pub tool_use_id: Option<String>,
    #[serde(deserialize_with = "boolean")]
    pub is_error: Option<bool>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawUsage {
    #[serde(deserialize_with = "uint")]
    pub input_tokens: Option<u64>,
    #[serde(deserialize_with = "uint")]
    pub output_tokens: Option<u64>,
    #[serde(deserialize_with = "uint")]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(deserialize_with = "uint")]
    pub cache_read_input_tokens: Option<u64>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawDenial {
    #[serde(deserialize_with = "name")]
    pub tool_name: Option<String>,
}

/// An entry of `mcp_servers` (`name`, `status`) or of `mcp_server_errors`
/// (`name`, `type`, `message`).
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawMcpEntry {
    #[serde(deserialize_with = "name")]
    pub name: Option<String>,
    #[serde(deserialize_with = "name")]
    pub status: Option<String>,
    #[serde(rename = "type", deserialize_with = "name")]
    pub kind: Option<String>,
    #[serde(deserialize_with = "preview")]
    pub message: Option<Text>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawRateLimit {
    #[serde(deserialize_with = "name")]
    pub status: Option<String>,
    #[serde(rename = "resetsAt", deserialize_with = "uint")]
    pub resets_at: Option<u64>,
    #[serde(rename = "rateLimitType", deserialize_with = "name")]
    pub limit_type: Option<String>,
    #[serde(rename = "overageStatus", deserialize_with = "name")]
    pub overage_status: Option<String>,
}

/// Content blocks; a message's `content` may also be a bare string, which
/// stands for one text block.
#[derive(Clone, Copy)]
struct Blocks;

impl<'de> Entry<'de> for Blocks {
    type Item = RawBlock;
    fn read<D: Deserializer<'de>>(self, d: D) -> Result<Option<RawBlock>, D::Error> {
        Objects(PhantomData).read(d)
    }
    fn bare_string(self, text: &str) -> Option<RawBlock> {
        Some(RawBlock {
            kind: Some("text".to_owned()),
            text: Some(Text::cut(text, PREVIEW_CHARS)),
            ..RawBlock::default()
        })
    }
}

fn blocks<'de, D: Deserializer<'de>>(d: D) -> Result<Option<List<RawBlock>>, D::Error> {
    bounded(d, Blocks, MAX_BLOCKS)
}
