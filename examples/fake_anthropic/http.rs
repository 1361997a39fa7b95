//! Just enough HTTP/1.1 for the CLI: requests with a `Content-Length` or a
//! chunked body on a keep-alive connection; answers as JSON with a length or
//! as SSE events, one chunk each, flushed one by one.

use crate::reply::{fresh_id, reason};
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest request body accepted (the CLI's requests are tens of KiB).
const MAX_BODY: usize = 64 << 20;

/// One parsed HTTP request.
pub struct Request {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub close: bool,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The answer to one request, written by `respond`.
pub enum Answer {
    Json {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    Sse {
        events: Vec<(&'static str, Value)>,
        delay: Duration,
    },
}

/// Read one request; None at a clean end of the connection.
pub async fn read_request<R: AsyncBufReadExt + Unpin>(
    rd: &mut R,
) -> std::io::Result<Option<Request>> {
    let bad = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    let mut line = String::new();
    loop {
        line.clear();
        if rd.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), version) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad(format!("bad request line {line:?}")));
    };
    let mut req = Request {
        method: method.to_string(),
        target: target.to_string(),
        headers: Vec::new(),
        body: Vec::new(),
        close: version == Some("HTTP/1.0"),
    };
    loop {
        line.clear();
        if rd.read_line(&mut line).await? == 0 {
            return Err(bad("connection closed in the headers".into()));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            req.headers
                .push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    if let Some(c) = req.header("connection") {
        req.close = c.eq_ignore_ascii_case("close");
    }
    if req
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        loop {
            line.clear();
            rd.read_line(&mut line).await?;
            let size_hex = line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size_hex, 16)
                .map_err(|_| bad(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    line.clear();
                    if rd.read_line(&mut line).await? == 0 || line.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            if req.body.len() + size > MAX_BODY {
                return Err(bad("request body too large".into()));
            }
            let at = req.body.len();
            req.body.resize(at + size, 0);
            rd.read_exact(&mut req.body[at..]).await?;
            line.clear();
            rd.read_line(&mut line).await?;
        }
    } else if let Some(len) = req.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| bad(format!("bad content-length {len:?}")))?;
        if len > MAX_BODY {
            return Err(bad("request body too large".into()));
        }
        req.body.resize(len, 0);
        rd.read_exact(&mut req.body).await?;
    }
    Ok(Some(req))
}

/// Write one answer: JSON with a length, or SSE events as HTTP chunks.
pub async fn respond<W: AsyncWrite + Unpin>(
    wr: &mut W,
    answer: Answer,
    close: bool,
) -> std::io::Result<()> {
    let conn = if close { "close" } else { "keep-alive" };
    let request_id = fresh_id("req");
    match answer {
        Answer::Json {
            status,
            headers,
            body,
        } => {
            let mut head = format!(
                "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 request-id: {request_id}\r\nconnection: {conn}\r\n",
                reason(status),
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            head.push_str(&body);
            wr.write_all(head.as_bytes()).await?;
        }
        Answer::Sse { events, delay } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n\
                 cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\
                 request-id: {request_id}\r\nconnection: {conn}\r\n\r\n"
            );
            wr.write_all(head.as_bytes()).await?;
            for (i, (name, data)) in events.into_iter().enumerate() {
                if i > 0 && !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let ev = format!("event: {name}\ndata: {data}\n\n");
                wr.write_all(format!("{:x}\r\n{ev}\r\n", ev.len()).as_bytes())
                    .await?;
                wr.flush().await?;
            }
            wr.write_all(b"0\r\n\r\n").await?;
        }
    }
    wr.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    #[tokio::test]
    async fn parses_length_and_chunked_bodies() {
        let raw = b"POST /v1/messages?beta=true HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}\
                    POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let mut rd = BufReader::new(&raw[..]);
        let a = read_request(&mut rd).await.unwrap().unwrap();
        assert_eq!(
            (a.target.as_str(), a.body.as_slice(), a.close),
            ("/v1/messages?beta=true", &b"{}"[..], false)
        );
        let b = read_request(&mut rd).await.unwrap().unwrap();
        assert_eq!((b.body.as_slice(), b.close), (&b"abc"[..], true));
        assert!(read_request(&mut rd).await.unwrap().is_none());
    }
}
