//! The server: one task per connection reads requests, `Server::handle`
//! decides each answer (the only state is the `@status-times` counts and the
//! request number) and records it in the log.

use crate::http::{read_request, respond, Answer, Request};
use crate::reply::{error_body, sse_events, status_headers};
use crate::script::{model_reply, Conversation};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub struct Server {
    log: Option<Mutex<std::fs::File>>,
    dump: Option<PathBuf>,
    /// `@status` answers given so far, per session id (for `@status-times`).
    status_given: Mutex<HashMap<String, u32>>,
    requests: AtomicU64,
}

impl Server {
    /// A server that appends its records to `log` and dumps requests into `dump`.
    pub fn new(log: Option<std::fs::File>, dump: Option<PathBuf>) -> Server {
        Server {
            log: log.map(Mutex::new),
            dump,
            status_given: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
        }
    }

    /// Decide the answer to one request and record it.
    fn handle(&self, req: &Request) -> Answer {
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let path = req.target.split('?').next().unwrap_or("");
        let session = req
            .header("x-claude-code-session-id")
            .unwrap_or("")
            .to_string();
        let mut rec = json!({
            "ts_ms": now_ms(), "method": req.method, "path": req.target, "session_id": session,
            "retry_count": req.header("x-stainless-retry-count").and_then(|v| v.parse::<u64>().ok()),
        });
        if let Some(dir) = &self.dump {
            let body: Value = serde_json::from_slice(&req.body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&req.body).into_owned()));
            let headers: serde_json::Map<String, Value> = req
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            let doc = json!({"method": req.method, "target": req.target, "headers": headers, "body": body});
            let _ = std::fs::write(dir.join(format!("{n:04}.json")), format!("{doc:#}\n"));
        }
        let answer = if req.method != "POST" || path != "/v1/messages" {
            rec["reply"] = json!("not_found");
            let msg = format!("no route for {} {}", req.method, path);
            Answer::Json {
                status: 404,
                headers: Vec::new(),
                body: error_body(404, &msg),
            }
        } else {
            match serde_json::from_slice::<Value>(&req.body) {
                Ok(body) => self.messages(&body, req.body.len(), &session, &mut rec),
                Err(e) => {
                    rec["reply"] = json!("bad_request");
                    let msg = format!("request body is not JSON: {e}");
                    Answer::Json {
                        status: 400,
                        headers: Vec::new(),
                        body: error_body(400, &msg),
                    }
                }
            }
        };
        rec["status"] = json!(match &answer {
            Answer::Json { status, .. } => *status,
            Answer::Sse { .. } => 200,
        });
        if let Some(log) = &self.log {
            let mut f = log.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(f, "{rec}");
        }
        answer
    }

    /// `POST /v1/messages`: the scripted reply to a conversation.
    fn messages(&self, body: &Value, body_len: usize, session: &str, rec: &mut Value) -> Answer {
        let msgs = body["messages"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let conv = Conversation::read(msgs);
        let script = conv.script();
        let model = body["model"].as_str().unwrap_or("claude-fake");
        rec["model"] = json!(model);
        rec["messages"] = json!(conv.messages);
        rec["prompts"] = json!(conv
            .prompts
            .iter()
            .map(|p| p.chars().take(80).collect::<String>())
            .collect::<Vec<_>>());
        rec["assistant_turns"] = json!(conv.assistant_turns);
        rec["tool_results"] = json!(conv.tool_results);
        rec["earlier_turns"] = json!(conv.assistant_turns > 0);
        if !model.starts_with("claude") {
            // As the API answers a model it does not know.
            rec["reply"] = json!("error");
            return Answer::Json {
                status: 404,
                headers: Vec::new(),
                body: error_body(404, &format!("model: {model}")),
            };
        }
        if let Some(d) = &script.status {
            let mut given = self.status_given.lock().unwrap_or_else(|e| e.into_inner());
            let count = given.entry(session.to_string()).or_insert(0);
            if script.status_times.is_none_or(|n| *count < n) {
                *count += 1;
                rec["reply"] = json!("error");
                let msg = format!("scripted error {} ({} of this session)", d.code, count);
                let headers = status_headers(d, now_ms() / 1000);
                return Answer::Json {
                    status: d.code,
                    headers,
                    body: error_body(d.code, &msg),
                };
            }
        }
        let (blocks, stop) = model_reply(&conv, &script);
        rec["reply"] = json!(if stop == "tool_use" {
            "tool_use"
        } else {
            "text"
        });
        Answer::Sse {
            events: sse_events(model, (body_len as u64 / 4).max(1), &blocks, stop),
            delay: Duration::from_millis(script.delay_ms),
        }
    }
}

async fn serve(stream: TcpStream, server: Arc<Server>) -> std::io::Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    while let Some(req) = read_request(&mut rd).await? {
        let answer = server.handle(&req);
        respond(&mut wr, answer, req.close).await?;
        if req.close {
            break;
        }
    }
    Ok(())
}

/// Accept connections on `listener` and serve each in its own task, forever.
pub async fn run(listener: TcpListener, server: Arc<Server>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let server = server.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve(stream, server).await {
                        eprintln!("fake_anthropic: connection: {e}");
                    }
                });
            }
            Err(e) => eprintln!("fake_anthropic: accept: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// POST `body` over a fresh connection (Connection: close); the whole response.
    async fn post(addr: std::net::SocketAddr, session: &str, body: &Value) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let body = body.to_string();
        let req = format!(
            "POST /v1/messages?beta=true HTTP/1.1\r\nhost: x\r\nx-claude-code-session-id: {session}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_sse_and_scripted_errors_and_records_them() {
        let dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(run(listener, Arc::new(Server::new(Some(log), None))));

        let prompt = |text: &str| json!({"model": "claude-fake", "stream": true, "messages": [{"role": "user", "content": text}]});
        let ok = post(addr, "s1", &prompt("@bash true")).await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.contains("transfer-encoding: chunked") && ok.ends_with("0\r\n\r\n"),
            "{ok}"
        );
        for ev in [
            "message_start",
            "content_block_start",
            "message_delta",
            "message_stop",
        ] {
            assert!(
                ok.contains(&format!("event: {ev}\n")),
                "{ev} missing in {ok}"
            );
        }
        assert!(ok.contains(r#""stop_reason":"tool_use""#), "{ok}");

        let flaky = prompt("@status 529\n@status-times 1");
        let first = post(addr, "s2", &flaky).await;
        assert!(
            first.starts_with("HTTP/1.1 529 ") && first.contains("overloaded_error"),
            "{first}"
        );
        let second = post(addr, "s2", &flaky).await;
        assert!(
            second.starts_with("HTTP/1.1 200 ") && second.contains("end_turn"),
            "{second}"
        );
        let other = post(addr, "s3", &flaky).await;
        assert!(
            other.starts_with("HTTP/1.1 529 "),
            "counted per session: {other}"
        );

        let text = std::fs::read_to_string(dir.path().join("log")).unwrap();
        let recs: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let summary: Vec<(&str, &str, u64)> = recs
            .iter()
            .map(|r| {
                (
                    r["session_id"].as_str().unwrap(),
                    r["reply"].as_str().unwrap(),
                    r["status"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("s1", "tool_use", 200),
                ("s2", "error", 529),
                ("s2", "text", 200),
                ("s3", "error", 529)
            ]
        );
        assert_eq!(
            (
                recs[0]["messages"].as_u64(),
                recs[0]["earlier_turns"].as_bool()
            ),
            (Some(1), Some(false))
        );
        let unknown = json!({"model": "no-such-model", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
        let answer = post(addr, "s9", &unknown).await;
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
        assert!(
            answer.contains("not_found_error") && answer.contains("model: no-such-model"),
            "{answer}"
        );
    }
}
