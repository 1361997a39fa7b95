//! The socket server: HTTP/1.1 + JSON on a Unix socket (see [`crate::proto`]).
//!
//! Every connection is identified once by SO_PEERCRED; the uid and gid the
//! kernel reports are the only identity used. Requests become [`Event`]s for
//! the actor; this module holds no state of its own. Limits: a request body
//! over [`MAX_REQUEST_BYTES`] is refused before it is read, headers are capped
//! at 16 KiB and must arrive within 10 s, a body within 10 s more, and at most [`MAX_CONNECTIONS`]
//! connections are served at once.

use super::accounts::Accounts;
use super::actor::{Event, EventsPage, LogSource, Reply, EVENTS_PAGE};
use super::users::{Caller, UserError};
use crate::config::Config;
use crate::proto::{
    CancelRequest, ErrorBody, ErrorCode, ErrorInfo, ListFilter, LogStream, ResumeRequest,
    SubmitRequest, VersionResponse, MAX_REQUEST_BYTES, PROTOCOL_HEADER, PROTOCOL_VERSION,
};
use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::{combinators::BoxBody, BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::de::DeserializeOwned;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tracing::{debug, warn};

pub const MAX_CONNECTIONS: usize = 512;
/// Time allowed for a request body once its headers are in.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections one non-root uid may hold open at once.
pub const MAX_CONNECTIONS_PER_UID: usize = 64;

/// Open connections per uid. A plain mutex around a counter map: it guards
/// no task state, only this bookkeeping of the accept loop.
#[derive(Default)]
struct PerUid(std::sync::Mutex<std::collections::HashMap<u32, usize>>);

impl PerUid {
    fn enter(self: &Arc<Self>, uid: u32) -> Option<UidSlot> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(uid).or_default();
        if uid != 0 && *n >= MAX_CONNECTIONS_PER_UID {
            return None;
        }
        *n += 1;
        Some(UidSlot {
            map: self.clone(),
            uid,
        })
    }
}

struct UidSlot {
    map: Arc<PerUid>,
    uid: u32,
}

impl Drop for UidSlot {
    fn drop(&mut self) {
        let mut m = self.map.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.uid) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.uid);
            }
        }
    }
}
type Body = BoxBody<Bytes, std::io::Error>;

/// What request handlers share, off the actor.
pub struct Ctx {
    pub accounts: Arc<Accounts>,
    /// `claude --version` checks, cached.
    pub binaries: super::claude::binary::Binaries,
    pub claude_path: Option<String>,
}

pub async fn serve(
    listener: UnixListener,
    events: mpsc::Sender<Event>,
    cfg: Arc<Config>,
    accounts: Arc<Accounts>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let per_uid = Arc::new(PerUid::default());
    let ctx = Arc::new(Ctx {
        accounts: accounts.clone(),
        binaries: Default::default(),
        claude_path: cfg.claude_path.clone(),
    });
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                warn!("accept on {}: {e}", cfg.socket.display());
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let events = events.clone();
        let per_uid = per_uid.clone();
        let accounts = accounts.clone();
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let cred = match stream.peer_cred() {
                Ok(cred) => cred,
                Err(e) => {
                    warn!("cannot read peer credentials of a connection: {e}");
                    return;
                }
            };
            let Some(uid_slot) = per_uid.enter(cred.uid()) else {
                warn!(
                    "uid {} holds {MAX_CONNECTIONS_PER_UID} connections already; refusing a new one",
                    cred.uid()
                );
                // Answer the one request with a clear error, then close.
                let uid = cred.uid();
                let refuse = hyper::service::service_fn(move |_req| async move {
                    Ok::<_, Infallible>(error_response(ErrorInfo::new(
                        ErrorCode::QuotaExceeded,
                        format!(
                            "uid {uid} already holds {MAX_CONNECTIONS_PER_UID} connections to claudined \
                             (followers, waiters); close some and retry"
                        ),
                    )))
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .keep_alive(false)
                    .max_buf_size(16 * 1024)
                    .serve_connection(TokioIo::new(stream), refuse);
                let _ = conn.await;
                drop(permit);
                return;
            };
            // Off the async workers, bounded in time, cached (accounts.rs).
            let caller = accounts
                .caller(cred.uid(), cred.gid())
                .await
                .map_err(|e| e.to_string());
            let service = hyper::service::service_fn(move |req| {
                let events = events.clone();
                let caller = caller.clone();
                let ctx = ctx.clone();
                async move { Ok::<_, Infallible>(handle(req, caller, events, ctx).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .max_buf_size(16 * 1024)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                debug!("connection ended: {e}");
            }
            drop(uid_slot);
            drop(permit);
        });
    }
}

async fn handle(
    req: Request<Incoming>,
    caller: Result<Caller, String>,
    events: mpsc::Sender<Event>,
    ctx: Arc<Ctx>,
) -> Response<Body> {
    match route(req, caller, events, ctx).await {
        Ok(resp) => resp,
        Err(e) => error_response(e),
    }
}

async fn route(
    req: Request<Incoming>,
    caller: Result<Caller, String>,
    events: mpsc::Sender<Event>,
    ctx: Arc<Ctx>,
) -> Result<Response<Body>, ErrorInfo> {
    let accounts = &ctx.accounts;
    if let Some(v) = req.headers().get(PROTOCOL_HEADER) {
        if v.as_bytes() != PROTOCOL_VERSION.to_string().as_bytes() {
            return Err(ErrorInfo::new(
                ErrorCode::UnsupportedProtocol,
                format!(
                    "protocol version {:?} not supported; this claudined speaks {PROTOCOL_VERSION}",
                    v
                ),
            ));
        }
    }
    let caller = caller.map_err(|m| ErrorInfo::new(ErrorCode::PermissionDenied, m))?;
    let path = req.uri().path().to_string();
    let query = Query::parse(req.uri().query().unwrap_or(""))?;
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let method = req.method().clone();
    let ask = Asker {
        events: &events,
        caller,
    };
    match (&method, segs.as_slice()) {
        (&Method::GET, ["v1", "version"]) => json(
            StatusCode::OK,
            &VersionResponse {
                protocol: PROTOCOL_VERSION,
                version: env!("CARGO_PKG_VERSION").into(),
            },
        ),
        (&Method::POST, ["v1", "tasks"]) => {
            let body: SubmitRequest = read_json(req).await?;
            // The claude binary is checked here, off the actor: running it
            // takes time.
            let binary = match &body.claude {
                Some(c) => {
                    // What needs no binary is refused before it is looked for.
                    crate::core::claude::check_prompt(&c.prompt).map_err(invalid)?;
                    c.options.validate().map_err(invalid)?;
                    Some(claude_binary(&ctx, ask.caller.uid, c.binary.as_deref()).await?)
                }
                None => None,
            };
            // So is the repository of a task given its own worktree.
            let worktree = match body.worktree {
                true => Some(worktree_for(&ctx, ask.caller.uid, &body.cwd).await?),
                false => None,
            };
            let r = ask
                .ask(|caller, reply| Event::Submit {
                    caller,
                    req: Box::new(body),
                    binary,
                    worktree,
                    reply,
                })
                .await?;
            json(StatusCode::CREATED, &r)
        }
        (&Method::GET, ["v1", "tasks"]) => {
            let all = query.flag("all");
            let filter = ListFilter::parse(
                query.get("state"),
                query.get("priority"),
                query.get("limit"),
            )
            .map_err(invalid)?;
            let owner = user_query(accounts, &query).await?;
            json(
                StatusCode::OK,
                &ask.ask(|caller, reply| Event::List {
                    caller,
                    all,
                    owner,
                    filter,
                    reply,
                })
                .await?,
            )
        }
        (&Method::GET, ["v1", "events"]) => {
            let task = match query.get("task") {
                Some(t) => Some(task_id(t)?),
                None => None,
            };
            let after_seq = match query.get("after") {
                Some(n) => n
                    .parse::<i64>()
                    .map_err(|_| invalid(format!("after must be a number, got {n:?}")))?,
                None => 0,
            };
            let follow = query.flag("follow");
            // The first page is asked for here, so an unknown task is a 404.
            let first = ask
                .ask(|caller, reply| Event::Events {
                    caller,
                    task,
                    after_seq,
                    reply,
                })
                .await?;
            let stream = events_stream(first, events.clone(), ask.caller.clone(), task, follow);
            let body = StreamBody::new(stream.map_ok(Frame::data));
            Ok(Response::builder()
                .status(StatusCode::OK)
                .header(CONTENT_TYPE, "application/x-ndjson")
                .body(BodyExt::boxed(body))
                .expect("valid response"))
        }
        (&Method::GET, ["v1", "top"]) => json(
            StatusCode::OK,
            &ask.ask(|caller, reply| Event::Top { caller, reply })
                .await?,
        ),
        (&Method::GET, ["v1", "usage"]) => {
            let owner = user_query(accounts, &query).await?;
            json(
                StatusCode::OK,
                &ask.ask(|caller, reply| Event::Usage {
                    caller,
                    owner,
                    reply,
                })
                .await?,
            )
        }
        (&Method::GET, ["v1", "status"]) => json(
            StatusCode::OK,
            &ask.ask(|_, reply| Event::Status { reply }).await?,
        ),
        (&Method::GET, ["v1", "tasks", id]) => {
            let id = task_id(id)?;
            json(
                StatusCode::OK,
                &ask.ask(|caller, reply| Event::Get { caller, id, reply })
                    .await?,
            )
        }
        (&Method::POST, ["v1", "tasks", id, "suspend"]) => {
            let id = task_id(id)?;
            json(
                StatusCode::OK,
                &ask.ask(|caller, reply| Event::Suspend { caller, id, reply })
                    .await?,
            )
        }
        (&Method::POST, ["v1", "tasks", id, "clean"]) => {
            let id = task_id(id)?;
            let body: crate::proto::CleanRequest = read_json(req).await?;
            let removal = ask
                .ask(|caller, reply| Event::CleanCheck { caller, id, reply })
                .await?;
            remove_worktree(&ctx, removal, body.force).await?;
            json(
                StatusCode::OK,
                &ask.ask(|caller, reply| Event::WorktreeRemoved { caller, id, reply })
                    .await?,
            )
        }
        (&Method::POST, ["v1", "tasks", id, "resume"]) => {
            let id = task_id(id)?;
            let body: ResumeRequest = read_json(req).await?;
            json(
                StatusCode::OK,
                &ask.ask(|caller, reply| Event::Resume {
                    caller,
                    id,
                    req: body,
                    reply,
                })
                .await?,
            )
        }
        (&Method::POST, ["v1", "tasks", id, "cancel"]) => {
            let id = task_id(id)?;
            let body: CancelRequest = read_json(req).await?;
            let reason = body.reason;
            json(
                StatusCode::OK,
                &ask.ask(|caller, reply| Event::Cancel {
                    caller,
                    id,
                    reason,
                    reply,
                })
                .await?,
            )
        }
        (&Method::GET, ["v1", "tasks", id, "wait"]) => {
            let id = task_id(id)?;
            json(
                StatusCode::OK,
                &ask.ask(|caller, reply| Event::Wait { caller, id, reply })
                    .await?,
            )
        }
        (&Method::GET, ["v1", "tasks", id, "checkpoints"]) => {
            let id = task_id(id)?;
            json(
                StatusCode::OK,
                &ask.ask(|caller, reply| Event::Checkpoints { caller, id, reply })
                    .await?,
            )
        }
        (&Method::GET, ["v1", "tasks", id, "metrics"]) => {
            let id = task_id(id)?;
            json(
                StatusCode::OK,
                &ask.ask(|caller, reply| Event::Metrics { caller, id, reply })
                    .await?,
            )
        }
        (&Method::GET, ["v1", "tasks", id, "logs"]) => {
            let id = task_id(id)?;
            let tail = match query.get("tail") {
                Some(n) => Some(
                    n.parse::<usize>()
                        .map_err(|_| invalid(format!("tail must be a number, got {n:?}")))?,
                ),
                None => None,
            };
            let follow = query.flag("follow");
            let stream = match query.get("stream") {
                Some(s) => LogStream::parse(s).map_err(invalid)?,
                None => LogStream::Both,
            };
            let src: LogSource = ask
                .ask(|caller, reply| Event::Logs {
                    caller,
                    id,
                    stream,
                    follow,
                    reply,
                })
                .await?;
            let stream = super::logs::stream(src.path, tail, src.follow);
            let body = StreamBody::new(stream.map_ok(Frame::data));
            Ok(Response::builder()
                .status(StatusCode::OK)
                .header(CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(BodyExt::boxed(body))
                .expect("valid response"))
        }
        (_, ["v1", ..]) => Err(ErrorInfo::new(
            ErrorCode::NotFound,
            format!("no such endpoint: {method} {path}"),
        )),
        _ => Err(ErrorInfo::new(
            ErrorCode::NotFound,
            format!("no such endpoint: {method} {path} (this daemon speaks /v1)"),
        )),
    }
}

/// NDJSON: the events of `first`, further pages, and with `follow`, every
/// new event as it is stored (the watch channel cannot lag: it holds the
/// newest seq, and the next page is read from the store after the last one
/// sent, so nothing is skipped).
fn events_stream(
    first: EventsPage,
    events: mpsc::Sender<Event>,
    caller: Caller,
    task: Option<i64>,
    follow: bool,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send {
    async_stream::try_stream! {
        let mut newest = first.newest.clone();
        // The newest seq stored (anyone's) when the page was read: wait for
        // a newer one, not for one newer than the last *visible* event.
        let mut seen = *newest.borrow_and_update();
        let mut page = first;
        loop {
            let full = page.lines.len() == EVENTS_PAGE;
            if !page.lines.is_empty() {
                let mut out = page.lines.join("\n");
                out.push('\n');
                yield Bytes::from(out);
            }
            let after_seq = page.last_seq;
            if !full {
                if !follow {
                    break;
                }
                if newest.wait_for(|seq| *seq > seen).await.is_err() {
                    break;
                }
                seen = *newest.borrow_and_update();
            }
            let ask = Asker { events: &events, caller: caller.clone() };
            page = match ask
                .ask(|caller, reply| Event::Events { caller, task, after_seq, reply })
                .await
            {
                Ok(p) => p,
                Err(_) => break,
            };
        }
    }
}

struct Asker<'a> {
    events: &'a mpsc::Sender<Event>,
    caller: Caller,
}

impl Asker<'_> {
    async fn ask<T>(&self, make: impl FnOnce(Caller, Reply<T>) -> Event) -> Result<T, ErrorInfo> {
        let (tx, rx) = oneshot::channel();
        let gone = || {
            ErrorInfo::new(
                ErrorCode::Unavailable,
                "claudined is shutting down; retry shortly",
            )
        };
        self.events
            .send(make(self.caller.clone(), tx))
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}

/// The `claude` a Claude task of `uid` runs, checked by running it.
async fn claude_binary(
    ctx: &Ctx,
    uid: u32,
    hint: Option<&str>,
) -> Result<super::claude::binary::Binary, ErrorInfo> {
    let acct = ctx
        .accounts
        .account(uid)
        .await
        .map_err(|e| ErrorInfo::new(ErrorCode::Unavailable, e.to_string()))?;
    ctx.binaries
        .find(ctx.claude_path.as_deref(), hint, &acct)
        .await
        .map_err(invalid)
}

/// The worktree a `--worktree` task submitted from `cwd` gets: `cwd` must
/// be in a git repository with a commit, whose git directory the user can
/// write — all checked as the user.
async fn worktree_for(
    ctx: &Ctx,
    uid: u32,
    cwd: &str,
) -> Result<crate::core::worktree::Worktree, ErrorInfo> {
    use crate::gitops;
    let acct = ctx
        .accounts
        .account(uid)
        .await
        .map_err(|e| ErrorInfo::new(ErrorCode::Unavailable, e.to_string()))?;
    let cwd = cwd.to_owned();
    tokio::task::spawn_blocking(move || {
        let user = super::users::as_git_user(&acct);
        let dir = std::path::Path::new(&cwd);
        let info = gitops::repo_info(&user, dir)
            .map_err(|e| invalid(format!("--worktree: {e}")))?
            .ok_or_else(|| invalid(format!("--worktree: {cwd} is not in a git repository")))?;
        let top = info.toplevel.display().to_string();
        if info.head.is_none() {
            return Err(invalid(format!(
                "--worktree: the repository {top} has no commit yet: a worktree starts from one"
            )));
        }
        gitops::writable(&user, &info).map_err(|e| invalid(format!("--worktree: {e}")))?;
        let mut w = crate::core::worktree::Worktree::new(&top, &cwd, &acct.home);
        w.rel = info.rel.trim_matches('/').to_owned();
        Ok(w)
    })
    .await
    .map_err(|e| {
        ErrorInfo::new(
            ErrorCode::Internal,
            format!("the worktree check failed: {e}"),
        )
    })?
}

/// Remove a finished task's worktree as its owner.
async fn remove_worktree(
    ctx: &Ctx,
    r: super::worktree::Removal,
    force: bool,
) -> Result<(), ErrorInfo> {
    use crate::gitops;
    let acct = ctx
        .accounts
        .account(r.owner_uid)
        .await
        .map_err(|e| ErrorInfo::new(ErrorCode::Unavailable, e.to_string()))?;
    tokio::task::spawn_blocking(move || {
        let user = super::users::as_git_user(&acct);
        gitops::remove_worktree(&user, std::path::Path::new(&r.path), force).map_err(|e| match e {
            gitops::GitError::Dirty { .. } => ErrorInfo::new(ErrorCode::Conflict, e.to_string()),
            e => ErrorInfo::new(
                ErrorCode::Conflict,
                format!("cannot remove the worktree: {e}"),
            ),
        })
    })
    .await
    .map_err(|e| {
        ErrorInfo::new(
            ErrorCode::Internal,
            format!("the worktree removal failed: {e}"),
        )
    })?
}

fn invalid(m: String) -> ErrorInfo {
    ErrorInfo::new(ErrorCode::InvalidRequest, m)
}

fn task_id(s: &str) -> Result<i64, ErrorInfo> {
    match s.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        // Not a valid id at all: no such task, the same answer as any other.
        _ => Err(ErrorInfo::new(
            ErrorCode::NotFound,
            format!("task {s} not found"),
        )),
    }
}

async fn read_json<T: DeserializeOwned>(req: Request<Incoming>) -> Result<T, ErrorInfo> {
    let too_large = || {
        ErrorInfo::new(
            ErrorCode::PayloadTooLarge,
            format!("request body larger than the {MAX_REQUEST_BYTES} bytes allowed"),
        )
    };
    if let Some(len) = req.headers().get(CONTENT_LENGTH) {
        let len: u64 = len
            .to_str()
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ErrorInfo::new(ErrorCode::MalformedRequest, "invalid Content-Length"))?;
        if len > MAX_REQUEST_BYTES as u64 {
            return Err(too_large());
        }
    }
    let collect = Limited::new(req.into_body(), MAX_REQUEST_BYTES).collect();
    let bytes = tokio::time::timeout(BODY_TIMEOUT, collect)
        .await
        .map_err(|_| {
            ErrorInfo::new(
                ErrorCode::MalformedRequest,
                format!(
                    "request body not received within {} s",
                    BODY_TIMEOUT.as_secs()
                ),
            )
        })?
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                too_large()
            } else {
                ErrorInfo::new(
                    ErrorCode::MalformedRequest,
                    format!("cannot read request body: {e}"),
                )
            }
        })?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| {
        ErrorInfo::new(
            ErrorCode::MalformedRequest,
            format!("invalid request body: {e}"),
        )
    })
}

fn json<T: serde::Serialize>(status: StatusCode, v: &T) -> Result<Response<Body>, ErrorInfo> {
    let body =
        serde_json::to_vec(v).map_err(|e| ErrorInfo::new(ErrorCode::Internal, e.to_string()))?;
    Ok(Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(full(body))
        .expect("valid response"))
}

fn full(b: Vec<u8>) -> Body {
    Full::new(Bytes::from(b))
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn error_response(e: ErrorInfo) -> Response<Body> {
    let status =
        StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // After a request we could not parse, the stream may be out of step:
    // close the connection.
    let close = matches!(
        e.code,
        ErrorCode::MalformedRequest | ErrorCode::PayloadTooLarge
    );
    let body = serde_json::to_vec(&ErrorBody { error: e }).unwrap_or_default();
    let mut b = Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json");
    if close {
        b = b.header(CONNECTION, "close");
    }
    b.body(full(body)).expect("valid response")
}

/// The uid of user `name` (cached; looked up off the async workers,
/// bounded in time); `None` if there is no such user.
async fn uid_of(accounts: &Arc<Accounts>, name: &str) -> Result<Option<u32>, ErrorInfo> {
    accounts.uid_of(name).await.map_err(|e| match e {
        UserError::Timeout { .. } | UserError::Busy { .. } => {
            ErrorInfo::new(ErrorCode::Unavailable, e.to_string())
        }
        e => ErrorInfo::new(ErrorCode::Internal, e.to_string()),
    })
}

/// `user=NAME` and its uid (`None`: no such user), resolved here, off the
/// actor, bounded in time.
async fn user_query(
    accounts: &Arc<Accounts>,
    query: &Query,
) -> Result<Option<(String, Option<u32>)>, ErrorInfo> {
    match query.get("user") {
        Some(name) => Ok(Some((name.to_string(), uid_of(accounts, name).await?))),
        None => Ok(None),
    }
}

/// `a=1&b=x`, percent-decoded (`%XX`; `+` is a plain plus). A value that
/// does not decode to UTF-8 is refused.
struct Query(Vec<(String, String)>);

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Query {
    fn parse(q: &str) -> Result<Query, ErrorInfo> {
        let mut v = Vec::new();
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, val) = pair.split_once('=').unwrap_or((pair, "1"));
            let decode = |x: &str| {
                percent_decode(x).ok_or_else(|| {
                    invalid(format!(
                        "query parameter {k}: invalid percent-encoding in {x:?}"
                    ))
                })
            };
            v.push((decode(k)?, decode(val)?));
        }
        Ok(Query(v))
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }
    fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("1" | "true" | "yes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Defect 9: a user name with a character that must be encoded in a URL.
    #[test]
    fn query_values_are_percent_decoded() {
        let q = Query::parse("user=j%C3%BCrgen.o%27hara&all=1&x").unwrap();
        assert_eq!(q.get("user"), Some("jürgen.o'hara"));
        assert!(q.flag("all") && q.flag("x"));
        assert!(Query::parse("user=%zz").is_err());
        assert!(Query::parse("user=%ff").is_err());
        assert!(Query::parse("user=%4").is_err());
    }

    #[test]
    fn list_filters_are_read_from_decoded_values() {
        let filter = |q: &str| {
            let q = Query::parse(q).unwrap();
            ListFilter::parse(q.get("state"), q.get("priority"), q.get("limit"))
        };
        let f = filter("state=queued%2Crunning&priority=p0&limit=%35").unwrap();
        assert_eq!(
            f.query(),
            ["state=queued,running", "priority=P0", "limit=5"]
        );
        let e = filter("limit=0").unwrap_err();
        assert!(e.starts_with("query parameter limit:"), "{e}");
        let e = filter("state=queued%2Cdone").unwrap_err();
        assert!(
            e.contains("state") && e.contains("\"done\"; allowed: queued"),
            "{e}"
        );
    }
}
