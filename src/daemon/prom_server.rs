//! The metrics endpoint's HTTP server: hyper 1 over TCP, one request per
//! connection, reading only the rendered text it is handed.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ALLOW, CONTENT_TYPE as CONTENT_TYPE_HEADER};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tracing::{debug, warn};

/// Connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 16;
/// Time allowed for a request's headers once connected.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest life of a connection, slow readers included.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// The `Content-Type` of the text format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The smallest read buffer hyper allows, which also caps the headers.
const MAX_HEADER_BYTES: usize = 8192;

/// Why the endpoint could not listen. The daemon logs it and goes on
/// without the endpoint; its socket is unaffected.
#[derive(Debug, thiserror::Error)]
pub enum PromError {
    #[error("metrics address {addr:?} is not an IP address and port such as 127.0.0.1:9464 or [::1]:9464 (host names are not looked up): {source}")]
    InvalidAddress {
        addr: String,
        source: std::net::AddrParseError,
    },
    #[error("metrics address {addr} is already in use (another exporter, or a second claudined?)")]
    AddressInUse { addr: String },
    #[error("cannot listen on metrics address {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
}

/// A bound, not yet serving, metrics endpoint.
pub struct MetricsServer {
    listener: TcpListener,
    addr: SocketAddr,
}

impl MetricsServer {
    /// Parse `addr` (`"127.0.0.1:9464"`, `"[::1]:9464"`; no host names) and
    /// listen on it. Call it inside the tokio runtime.
    pub fn bind(addr: &str) -> Result<MetricsServer, PromError> {
        let parsed: SocketAddr = addr.parse().map_err(|source| PromError::InvalidAddress {
            addr: addr.to_string(),
            source,
        })?;
        let listen = |source: std::io::Error| match source.kind() {
            std::io::ErrorKind::AddrInUse => PromError::AddressInUse {
                addr: parsed.to_string(),
            },
            _ => PromError::Listen {
                addr: parsed.to_string(),
                source,
            },
        };
        // std sets SO_REUSEADDR: a restart is not refused for the old
        // connections in TIME_WAIT, while a live listener still is.
        let std_listener = std::net::TcpListener::bind(parsed).map_err(listen)?;
        std_listener.set_nonblocking(true).map_err(listen)?;
        let listener = TcpListener::from_std(std_listener).map_err(listen)?;
        let addr = listener.local_addr().map_err(listen)?;
        Ok(MetricsServer { listener, addr })
    }

    /// The address listened on (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answer scrapes with the latest text published on `snapshot` until
    /// `shutdown` resolves; then stop accepting and return (a connection
    /// in progress finishes on its own, within [`CONNECTION_TIMEOUT`]).
    pub async fn serve(
        self,
        snapshot: watch::Receiver<String>,
        shutdown: impl Future<Output = ()>,
    ) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                _ = &mut shutdown => return,
                p = slots.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let stream = tokio::select! {
                _ = &mut shutdown => return,
                r = self.listener.accept() => match r {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // EMFILE and the like: do not spin.
                        warn!("metrics endpoint {}: accept: {e}", self.addr);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let snapshot = snapshot.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<_>| {
                    let resp = respond(req.method(), req.uri().path(), &snapshot);
                    std::future::ready(Ok::<_, Infallible>(resp))
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .max_buf_size(MAX_HEADER_BYTES)
                    .keep_alive(false)
                    .serve_connection(TokioIo::new(stream), service);
                match tokio::time::timeout(CONNECTION_TIMEOUT, conn).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => debug!("metrics connection: {e}"),
                    Err(_) => debug!("metrics connection closed after {CONNECTION_TIMEOUT:?}"),
                }
                drop(permit);
            });
        }
    }
}

/// The answer to `method path`: the text at `/metrics` (GET, HEAD), 405
/// for another method there, 404 anywhere else.
fn respond(
    method: &Method,
    path: &str,
    snapshot: &watch::Receiver<String>,
) -> Response<Full<Bytes>> {
    let plain = |status, text: &'static str| {
        Response::builder()
            .status(status)
            .header(CONTENT_TYPE_HEADER, "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from_static(text.as_bytes())))
    };
    let resp = match (path, method) {
        ("/metrics", &Method::GET | &Method::HEAD) => {
            let text = snapshot.borrow().clone();
            Response::builder()
                .status(StatusCode::OK)
                .header(CONTENT_TYPE_HEADER, CONTENT_TYPE)
                .body(Full::new(Bytes::from(text)))
        }
        ("/metrics", _) => {
            plain(StatusCode::METHOD_NOT_ALLOWED, "use GET /metrics\n").map(|mut r| {
                r.headers_mut()
                    .insert(ALLOW, hyper::header::HeaderValue::from_static("GET, HEAD"));
                r
            })
        }
        _ => plain(
            StatusCode::NOT_FOUND,
            "not found; the metrics are at /metrics\n",
        ),
    };
    resp.expect("valid response")
}
