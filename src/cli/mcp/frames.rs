//! The stdio framing in front of the MCP SDK.
//!
//! MCP over stdio is one JSON-RPC message per line. The SDK reads lines
//! from one pipe and writes its answers to another; this module sits
//! between those pipes and the real input and output, for one reason: a
//! line that is not JSON at all gets an answer. JSON-RPC 2.0 asks for a
//! parse error (-32700, `id` null) there; the SDK itself skips such a line
//! silently (it cannot know which request it was). Well-formed JSON that is
//! not a message is left to the SDK, which answers it with an invalid
//! request error. Either way the server keeps serving the next line.
//!
//! Three tasks, none cancelled mid-line:
//!
//! - the reader copies each input line that parses as JSON to the SDK and
//!   turns each other one into a parse error for the writer; a line longer
//!   than [`MAX_LINE`] is skipped whole, answered with an invalid request
//!   error;
//! - the relay hands each line the SDK writes to the writer;
//! - the writer writes whole lines to the output, flushing after each, so
//!   an error answer never lands inside an answer of the SDK.
//!
//! When the input ends, the SDK's pipe ends, the SDK stops and closes its
//! output, and the writer finishes once everything was written.

use rmcp::model::ErrorCode;
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The longest request line read (the SDK's own default): larger ones are
/// refused without being held in memory.
pub const MAX_LINE: usize = 16 << 20;

/// Buffer of each pipe to and from the SDK.
const PIPE_BYTES: usize = 64 << 10;

/// The running framing; see [`Framing::finish`].
pub struct Framing {
    reader: JoinHandle<()>,
    writer: JoinHandle<std::io::Result<()>>,
}

impl Framing {
    /// Once the SDK has stopped: stop reading (the SDK takes no more
    /// requests) and wait until everything it wrote is out.
    pub async fn finish(self) -> std::io::Result<()> {
        self.reader.abort();
        match self.writer.await {
            Ok(written) => written,
            Err(e) => Err(std::io::Error::other(format!("the output task ended: {e}"))),
        }
    }
}

/// Start the framing between `input`/`output` and the SDK. Returns the
/// SDK's side: what it reads requests from, what it writes answers to.
pub fn spawn<R, W>(input: R, output: W) -> (DuplexStream, DuplexStream, Framing)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (to_sdk, sdk_input) = tokio::io::duplex(PIPE_BYTES);
    let (sdk_output, from_sdk) = tokio::io::duplex(PIPE_BYTES);
    let (lines, queue) = mpsc::channel::<Vec<u8>>(64);
    let reader = tokio::spawn(read_requests(input, to_sdk, lines.clone()));
    tokio::spawn(relay(from_sdk, lines));
    let writer = tokio::spawn(write_lines(queue, output));
    (sdk_input, sdk_output, Framing { reader, writer })
}

async fn read_requests<R: AsyncRead + Unpin>(
    input: R,
    mut to_sdk: DuplexStream,
    answers: mpsc::Sender<Vec<u8>>,
) {
    let mut input = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .await;
        match read {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                tracing::error!("cannot read the MCP input: {e}");
                return;
            }
        }
        if line.len() > MAX_LINE && !line.ends_with(b"\n") {
            skip_rest_of_line(&mut input).await;
            let msg = format!("request line longer than {} MiB", MAX_LINE >> 20);
            tracing::warn!("{msg}, skipped");
            let _ = answers
                .send(error_line(ErrorCode::INVALID_REQUEST, &msg))
                .await;
            continue;
        }
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(text) {
            tracing::warn!("input line that is not JSON ({e}), answered with a parse error");
            let msg = format!("parse error: {e}");
            let _ = answers.send(error_line(ErrorCode::PARSE_ERROR, &msg)).await;
            continue;
        }
        let mut framed = text.to_vec();
        framed.push(b'\n');
        if to_sdk.write_all(&framed).await.is_err() {
            return; // the SDK stopped
        }
    }
}

/// Drop input up to and including the next newline (or the end).
async fn skip_rest_of_line<R: AsyncRead + Unpin>(input: &mut BufReader<R>) {
    loop {
        let (used, done) = match input.fill_buf().await {
            Ok([]) | Err(_) => return,
            Ok(buf) => match buf.iter().position(|b| *b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            },
        };
        input.consume(used);
        if done {
            return;
        }
    }
}

async fn relay(from_sdk: DuplexStream, lines: mpsc::Sender<Vec<u8>>) {
    let mut from_sdk = BufReader::new(from_sdk);
    loop {
        let mut line = Vec::new();
        match from_sdk.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if !line.ends_with(b"\n") {
                    line.push(b'\n');
                }
                if lines.send(line).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn write_lines<W: AsyncWrite + Unpin>(
    mut queue: mpsc::Receiver<Vec<u8>>,
    mut output: W,
) -> std::io::Result<()> {
    while let Some(line) = queue.recv().await {
        output.write_all(&line).await?;
        output.flush().await?;
    }
    Ok(())
}

/// A JSON-RPC error answer to no request (`id` null), with its newline.
fn error_line(code: ErrorCode, message: &str) -> Vec<u8> {
    let mut line = serde_json::to_vec(&serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code.0, "message": message },
    }))
    .expect("a JSON value serializes");
    line.push(b'\n');
    line
}
