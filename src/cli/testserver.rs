//! A fake claudined for the client tests: hyper's HTTP/1 server on a Unix
//! socket in a temp dir, answering with whatever a test's handler returns.

use crate::cli::{parse_args, run};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::HeaderMap;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::path::Path;
use std::sync::{Arc, Mutex};

pub(crate) type Body = UnsyncBoxBody<Bytes, Infallible>;
/// `None` closes the connection without an answer.
pub(crate) type Handler =
    Arc<dyn Fn(Seen) -> BoxFuture<'static, Option<Response<Body>>> + Send + Sync>;

/// A request as the fake daemon received it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub method: String,
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub(crate) struct FakeDaemon {
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeDaemon {
    pub fn start(socket: &Path, handler: Handler) -> FakeDaemon {
        let listener = tokio::net::UnixListener::bind(socket).expect("bind fake daemon socket");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (handler, log) = (handler.clone(), log.clone());
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (handler, log) = (handler.clone(), log.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        let seen = Seen {
                            method: parts.method.to_string(),
                            uri: parts.uri.to_string(),
                            headers: parts.headers,
                            body,
                        };
                        log.lock().unwrap().push(seen.clone());
                        handler(seen)
                            .await
                            .ok_or_else(|| std::io::Error::other("dropped"))
                    }
                });
                tokio::spawn(async move {
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    let _ = conn.await;
                });
            }
        });
        FakeDaemon { seen, task }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeDaemon {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) fn handler<F>(f: F) -> Handler
where
    F: Fn(Seen) -> Option<Response<Body>> + Send + Sync + 'static,
{
    Arc::new(move |seen| {
        let answer = f(seen);
        Box::pin(async move { answer })
    })
}

pub(crate) fn json(status: u16, value: serde_json::Value) -> Response<Body> {
    text(status, &value.to_string())
}

pub(crate) fn text(status: u16, body: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .body(Full::new(Bytes::from(body.to_string())).boxed_unsync())
        .unwrap()
}

/// A body whose chunks the test sends one by one.
pub(crate) fn streaming(rx: tokio::sync::mpsc::UnboundedReceiver<Bytes>) -> Response<Body> {
    let frames = futures_util::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((Ok::<_, Infallible>(Frame::data(chunk)), rx))
    });
    Response::new(StreamBody::new(frames).boxed_unsync())
}

/// Run a `claudinectl` command line; returns (exit status, stdout, stderr).
pub(crate) async fn run_cli(args: &[&str]) -> (i32, String, String) {
    let cli = parse_args(std::iter::once("claudinectl").chain(args.iter().copied()))
        .expect("valid command line");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run(cli, &mut out, &mut err, None).await;
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

/// A terminal or active task as the daemon would send it.
pub(crate) fn task_json(
    id: i64,
    state: &str,
    exit_code: Option<i32>,
    reason: Option<&str>,
) -> serde_json::Value {
    serde_json::json!({
        "id": id, "owner_uid": 1000, "owner": "alice", "priority": "P1",
        "state": state, "argv": ["make"], "cwd": "/tmp", "env_keys": [],
        "created_ms": 1, "started_ms": 2, "finished_ms": 3,
        "exit_code": exit_code, "signal": null, "reason": reason,
        "cancel_requested": null, "unit": null, "queue_position": null,
        "waiting_reason": null, "attempts": 1,
    })
}
