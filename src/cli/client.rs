//! The HTTP/1.1 client for claudined over its Unix socket.
//!
//! One connection per request: connect, handshake, send, read. A CLI makes
//! one or two requests per run, so pooling would only add code. Every
//! request carries `Host: localhost` and `Claudine-Protocol: 1`.

use crate::cli::error::CliError;
use crate::cli::format;
use crate::core::TaskId;
use crate::proto::{
    CancelRequest, CheckpointsView, ErrorBody, ListFilter, ListResponse, LogStream, MetricsView,
    SubmitRequest, SubmitResponse, TaskView, TopView, UsageView, VersionResponse,
    MAX_REQUEST_BYTES, PROTOCOL_HEADER, PROTOCOL_VERSION,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio::net::UnixStream;

/// A decoded JSON answer together with the document as it came, so `--json`
/// prints fields this client does not know about yet.
#[derive(Debug, Clone)]
pub struct Answer<T> {
    pub value: T,
    pub raw: serde_json::Value,
}

#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Client {
            socket: socket.into(),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `GET /v1/version`.
    pub async fn version(&self) -> Result<Answer<VersionResponse>, CliError> {
        self.json(Method::GET, "/v1/version", None).await
    }

    /// `POST /v1/tasks`.
    pub async fn submit(&self, req: &SubmitRequest) -> Result<Answer<SubmitResponse>, CliError> {
        let body = to_body(req)?;
        if body.len() > MAX_REQUEST_BYTES {
            return Err(CliError::Usage(format!(
                "the request is too large ({} bytes, claudined accepts at most {MAX_REQUEST_BYTES}); \
                 is the environment sent with --inherit-env that large?",
                body.len()
            )));
        }
        self.json(Method::POST, "/v1/tasks", Some(body)).await
    }

    /// `GET /v1/tasks?all=1&user=NAME&state=..&priority=..&limit=N`.
    pub async fn list(
        &self,
        all: bool,
        user: Option<&str>,
        filter: &ListFilter,
    ) -> Result<Answer<ListResponse>, CliError> {
        let mut query = Vec::new();
        if all {
            query.push("all=1".to_string());
        }
        if let Some(user) = user {
            query.push(format!("user={}", encode_query_value(user)));
        }
        query.extend(filter.query());
        let path = with_query("/v1/tasks", &query);
        self.json(Method::GET, &path, None).await
    }

    /// `GET /v1/tasks/{id}`.
    pub async fn task(&self, id: TaskId) -> Result<Answer<TaskView>, CliError> {
        self.json(Method::GET, &format!("/v1/tasks/{id}"), None)
            .await
    }

    /// `POST /v1/tasks/{id}/cancel`.
    pub async fn cancel(
        &self,
        id: TaskId,
        req: &CancelRequest,
    ) -> Result<Answer<TaskView>, CliError> {
        let body = to_body(req)?;
        self.json(Method::POST, &format!("/v1/tasks/{id}/cancel"), Some(body))
            .await
    }

    /// `POST /v1/tasks/{id}/suspend`: answers once the scope is frozen.
    pub async fn suspend(&self, id: TaskId) -> Result<Answer<TaskView>, CliError> {
        self.json(
            Method::POST,
            &format!("/v1/tasks/{id}/suspend"),
            Some(to_body(&serde_json::json!({}))?),
        )
        .await
    }

    /// `POST /v1/tasks/{id}/resume`.
    pub async fn resume(
        &self,
        id: TaskId,
        req: &crate::proto::ResumeRequest,
    ) -> Result<Answer<TaskView>, CliError> {
        let body = to_body(req)?;
        self.json(Method::POST, &format!("/v1/tasks/{id}/resume"), Some(body))
            .await
    }

    /// `GET /v1/tasks/{id}/wait`: answers once the task is terminal, however
    /// long that takes.
    pub async fn wait(&self, id: TaskId) -> Result<Answer<TaskView>, CliError> {
        self.json(Method::GET, &format!("/v1/tasks/{id}/wait"), None)
            .await
    }

    /// `GET /v1/tasks/{id}/metrics`.
    pub async fn metrics(&self, id: TaskId) -> Result<Answer<MetricsView>, CliError> {
        self.json(Method::GET, &format!("/v1/tasks/{id}/metrics"), None)
            .await
    }

    /// `POST /v1/tasks/{id}/clean`.
    pub async fn clean(&self, id: TaskId, force: bool) -> Result<Answer<TaskView>, CliError> {
        self.json(
            Method::POST,
            &format!("/v1/tasks/{id}/clean"),
            Some(to_body(&crate::proto::CleanRequest { force })?),
        )
        .await
    }

    /// `GET /v1/tasks/{id}/checkpoints`.
    pub async fn checkpoints(&self, id: TaskId) -> Result<Answer<CheckpointsView>, CliError> {
        self.json(Method::GET, &format!("/v1/tasks/{id}/checkpoints"), None)
            .await
    }

    /// `GET /v1/top`.
    pub async fn top(&self) -> Result<Answer<TopView>, CliError> {
        self.json(Method::GET, "/v1/top", None).await
    }

    /// `GET /v1/usage?user=NAME`.
    pub async fn usage(&self, user: Option<&str>) -> Result<Answer<UsageView>, CliError> {
        let query: Vec<String> = user
            .map(|u| format!("user={}", encode_query_value(u)))
            .into_iter()
            .collect();
        self.json(Method::GET, &with_query("/v1/usage", &query), None)
            .await
    }

    /// `GET /v1/tasks/{id}/logs?tail=N&follow=1&stream=stdout|stderr`
    /// (`stream` is left out for both): copies the log to `out` chunk by
    /// chunk as it arrives, flushing after each one.
    pub async fn logs<W: Write + ?Sized>(
        &self,
        id: TaskId,
        tail: Option<u64>,
        follow: bool,
        stream: LogStream,
        out: &mut W,
    ) -> Result<(), CliError> {
        let mut query = Vec::new();
        if let Some(n) = tail {
            query.push(format!("tail={n}"));
        }
        if follow {
            query.push("follow=1".to_string());
        }
        if stream != LogStream::Both {
            query.push(format!("stream={}", stream.as_str()));
        }
        let path = with_query(&format!("/v1/tasks/{id}/logs"), &query);
        let mut body = self.send(Method::GET, &path, None).await?.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| self.hyper_error(e))?;
            if let Some(data) = frame.data_ref() {
                out.write_all(data).map_err(CliError::Output)?;
                out.flush().map_err(CliError::Output)?;
            }
        }
        Ok(())
    }

    /// `GET /v1/events`: calls `line` with each event's JSON line as it
    /// arrives (with `follow`, until the connection ends).
    pub async fn events(
        &self,
        task: Option<TaskId>,
        follow: bool,
        line: &mut dyn FnMut(&str) -> Result<(), CliError>,
    ) -> Result<(), CliError> {
        let mut query = Vec::new();
        if let Some(id) = task {
            query.push(format!("task={id}"));
        }
        if follow {
            query.push("follow=1".to_string());
        }
        let path = with_query("/v1/events", &query);
        let mut body = self.send(Method::GET, &path, None).await?.into_body();
        let mut pending = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| self.hyper_error(e))?;
            if let Some(data) = frame.data_ref() {
                pending.extend_from_slice(data);
                while let Some(nl) = pending.iter().position(|b| *b == b'\n') {
                    let rest = pending.split_off(nl + 1);
                    let text = String::from_utf8_lossy(&pending[..nl]).into_owned();
                    pending = rest;
                    line(&text)?;
                }
            }
        }
        Ok(())
    }

    /// Send one request and return the answer if its status is 2xx; any
    /// other status becomes [`CliError::Daemon`].
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response<Incoming>, CliError> {
        let stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|source| CliError::Connect {
                    socket: self.socket.clone(),
                    source,
                })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.hyper_error(e))?;
        // The connection future does the actual I/O; it ends when the answer
        // has been read and `sender` is dropped.
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, "localhost")
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string());
        if body.is_some() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| CliError::Protocol(format!("cannot build request for {path}: {e}")))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| self.hyper_error(e))?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(self.daemon_error(resp).await)
        }
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer<T>, CliError> {
        let resp = self.send(method, path, body).await?;
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| self.hyper_error(e))?
            .to_bytes();
        let raw: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| CliError::Protocol(format!("{path}: answer is not JSON: {e}")))?;
        let value = T::deserialize(&raw)
            .map_err(|e| CliError::Protocol(format!("{path}: unexpected answer: {e}")))?;
        Ok(Answer { value, raw })
    }

    /// Turn a non-2xx answer into an error; a body that is not an
    /// [`ErrorBody`] still gives a readable message with the status.
    async fn daemon_error(&self, resp: Response<Incoming>) -> CliError {
        let status = resp.status();
        let bytes = match resp.into_body().collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => Bytes::new(),
        };
        if let Ok(body) = serde_json::from_slice::<ErrorBody>(&bytes) {
            return CliError::Daemon {
                status: status.as_u16(),
                code: Some(body.error.code),
                message: format::sanitize(&body.error.message).into_owned(),
            };
        }
        let text = String::from_utf8_lossy(&bytes);
        let text = format::sanitize(text.trim());
        let text = format::truncate(&text, 200);
        let message = if text.is_empty() {
            format!("claudined answered {status}")
        } else {
            format!("claudined answered {status}: {text}")
        };
        CliError::Daemon {
            status: status.as_u16(),
            code: None,
            message,
        }
    }

    fn hyper_error(&self, e: hyper::Error) -> CliError {
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            source = s.source();
        }
        if e.is_parse() || e.is_parse_status() {
            CliError::Protocol(detail)
        } else {
            CliError::Disconnected {
                socket: self.socket.clone(),
                detail,
            }
        }
    }
}

fn to_body(value: &impl Serialize) -> Result<Vec<u8>, CliError> {
    serde_json::to_vec(value).map_err(|e| CliError::Protocol(format!("cannot encode request: {e}")))
}

fn with_query(path: &str, query: &[String]) -> String {
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// Percent-encode everything but RFC 3986 unreserved characters.
fn encode_query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode_query_value("alice"), "alice");
        assert_eq!(encode_query_value("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(with_query("/v1/tasks", &[]), "/v1/tasks");
        assert_eq!(
            with_query("/v1/tasks", &["all=1".into(), "user=bob".into()]),
            "/v1/tasks?all=1&user=bob"
        );
    }
}
