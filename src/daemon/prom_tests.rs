//! The renderer line by line and through a real parser (Python's
//! prometheus_client), and the server over a raw TCP connection.

use super::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{oneshot, watch};

/// Untrusted text in both label-carrying places: quotes, backslashes, a
/// newline, braces, commas and equals signs, non-ASCII.
const TRICKY_USER: &str = "a\"b\\c\nd";
const ODD_USER: &str = "jürgen o'hara {x=\"y\"}, z=1";

fn snapshot() -> MetricsSnapshot {
    MetricsSnapshot {
        queued_by_priority: [1, 20, 300],
        running: 2,
        tasks: vec![
            TaskMetrics {
                id: 7,
                user: TRICKY_USER.into(),
                memory_bytes: 1 << 20,
                memory_peak_bytes: 3 << 20,
                cpu_usage_seconds: 12.5,
                pids: 4,
                output_bytes: 12_345,
            },
            TaskMetrics {
                id: 12,
                user: ODD_USER.into(),
                memory_bytes: 4096,
                memory_peak_bytes: 8192,
                cpu_usage_seconds: 0.000001,
                pids: 1,
                output_bytes: 0,
            },
        ],
        events_total: vec![("task:stalled".into(), 3), ("task:finished".into(), 10)],
        admissions: vec![
            ("start".into(), 5),
            ("wait".into(), 2),
            ("measure".into(), 1),
        ],
        host: Some(HostMetrics {
            cpu_busy_ratio: 0.25,
            mem_available_bytes: 6 << 30,
            mem_total_bytes: 8 << 30,
            pressure_some_avg10: vec![("memory", 12.5), ("io", 0.0)],
        }),
        hooks: vec![HookStats {
            index: 0,
            program: "/usr/local/bin/notify \"x\"".into(),
            fired: 4,
            failed: 1,
            timed_out: 1,
            dropped: 2,
        }],
        scheduler: Some(SchedMetrics {
            reserved_bytes: 3 << 30,
            slice_ceiling_bytes: 7 << 30,
            slice_memory_bytes: None,
            soft_max: 10,
            hard_max: 50,
        }),
    }
}

#[test]
fn the_text_line_by_line() {
    let text = render(&snapshot());
    assert!(text.ends_with('\n'));
    let mut family: Option<(String, String)> = None; // (name, type)
    let mut seen = std::collections::HashSet::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(name.starts_with("claudine_"), "{line}");
            assert!(seen.insert(name.to_string()), "family {name} twice");
            let ty = lines[i + 1]
                .strip_prefix(&format!("# TYPE {name} "))
                .unwrap_or_else(|| panic!("no TYPE after {line}"));
            assert!(matches!(ty, "gauge" | "counter"), "{ty}");
            assert_eq!(
                ty == "counter",
                name.ends_with("_total"),
                "{name} is a {ty}"
            );
            family = Some((name.to_string(), ty.to_string()));
        } else if !line.starts_with("# TYPE ") {
            let (name, _) = family
                .as_ref()
                .unwrap_or_else(|| panic!("sample before any family: {line}"));
            let sample = line.split(['{', ' ']).next().unwrap();
            assert_eq!(sample, name, "a sample outside its family: {line}");
        }
    }
    for want in [
        "# HELP claudine_tasks_queued Tasks waiting to start, by priority",
        "# TYPE claudine_tasks_queued gauge",
        "claudine_tasks_queued{priority=\"P0\"} 1",
        "claudine_tasks_queued{priority=\"P2\"} 300",
        "claudine_tasks_running 2",
        r#"claudine_task_memory_bytes{task="7",user="a\"b\\c\nd"} 1048576"#,
        r#"claudine_task_memory_peak_bytes{task="7",user="a\"b\\c\nd"} 3145728"#,
        r#"claudine_task_cpu_seconds_total{task="7",user="a\"b\\c\nd"} 12.5"#,
        r#"claudine_task_cpu_seconds_total{task="12",user="jürgen o'hara {x=\"y\"}, z=1"} 0.000001"#,
        r#"claudine_task_pids{task="7",user="a\"b\\c\nd"} 4"#,
        r#"claudine_task_output_bytes_total{task="7",user="a\"b\\c\nd"} 12345"#,
        "# TYPE claudine_events_total counter",
        "claudine_events_total{event=\"task:stalled\"} 3",
        "claudine_admission_decisions_total{decision=\"measure\"} 1",
        "claudine_host_cpu_busy_ratio 0.25",
        "claudine_host_memory_available_bytes 6442450944",
        "claudine_host_memory_total_bytes 8589934592",
        r#"claudine_host_pressure_some_ratio{resource="memory"} 0.125"#,
        r#"claudine_host_pressure_some_ratio{resource="io"} 0"#,
        "claudine_memory_reserved_bytes 3221225472",
        "claudine_slice_memory_max_bytes 7516192768",
        "claudine_tasks_soft_max 10",
        "claudine_tasks_hard_max 50",
        r#"claudine_hook_runs_total{hook="0",program="/usr/local/bin/notify \"x\""} 4"#,
        r#"claudine_hook_failures_total{hook="0",program="/usr/local/bin/notify \"x\""} 1"#,
        r#"claudine_hook_timeouts_total{hook="0",program="/usr/local/bin/notify \"x\""} 1"#,
        r#"claudine_hook_dropped_events_total{hook="0",program="/usr/local/bin/notify \"x\""} 2"#,
    ] {
        assert!(lines.contains(&want), "missing line {want}\n{text}");
    }
    // No raw newline escaped a label: every line is a comment or a sample.
    assert!(
        lines.iter().all(|l| l.starts_with("# HELP claudine_")
            || l.starts_with("# TYPE claudine_")
            || l.starts_with("claudine_")),
        "{text}"
    );
}

#[test]
fn special_values_and_an_empty_snapshot() {
    let with_busy = |ratio: f64| MetricsSnapshot {
        host: Some(HostMetrics {
            cpu_busy_ratio: ratio,
            ..Default::default()
        }),
        ..Default::default()
    };
    for (ratio, shown) in [
        (f64::NAN, "NaN"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
        (1e-9, "0.000000001"),
    ] {
        let text = render(&with_busy(ratio));
        let want = format!("claudine_host_cpu_busy_ratio {shown}");
        assert!(text.lines().any(|l| l == want), "{want} not in {text}");
    }
    let empty = render(&MetricsSnapshot::default());
    assert!(
        !empty.contains("claudine_host_"),
        "no host figures before a sample: {empty}"
    );
    assert!(empty.contains("# TYPE claudine_task_memory_bytes gauge\n# HELP"));
}

const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    for s in f.samples:
        out.append([f.type, s.name, s.labels, s.value])
print(json.dumps(out))
"#;

const INSTALL: &str = "install python3 and its prometheus_client module \
     (pip install prometheus-client, or apt-get install python3-prometheus-client; \
     scripts/setup-host.sh does it)";

/// The samples of `text` as Python's prometheus_client parses them:
/// (type, sample name, labels, value). Fails the test when the parser, or
/// Python, is missing.
fn python_parse(text: &str) -> Vec<(String, String, BTreeMap<String, String>, f64)> {
    let mut child = Command::new("python3")
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}) to validate the metrics: {INSTALL}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("No module named") {
        panic!("python3 has no prometheus_client: {INSTALL}\n{stderr}");
    }
    assert!(
        out.status.success(),
        "the Prometheus parser refused the text: {stderr}\n{text}"
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_real_parser_reads_it_back_label_values_intact() {
    let samples = python_parse(&render(&snapshot()));
    let find = |name: &str, task: &str| {
        samples
            .iter()
            .find(|s| s.1 == name && s.2.get("task").map(String::as_str) == Some(task))
            .unwrap_or_else(|| panic!("no {name} for task {task} in {samples:?}"))
    };
    let t7 = find("claudine_task_memory_bytes", "7");
    assert_eq!(
        (t7.0.as_str(), t7.2["user"].as_str(), t7.3),
        ("gauge", TRICKY_USER, 1048576.0)
    );
    let t12 = find("claudine_task_cpu_seconds_total", "12");
    assert_eq!(
        (t12.0.as_str(), t12.2["user"].as_str(), t12.3),
        ("counter", ODD_USER, 0.000001)
    );
    let hook = samples
        .iter()
        .find(|s| s.1 == "claudine_hook_dropped_events_total")
        .unwrap();
    assert_eq!(
        (hook.2["program"].as_str(), hook.3),
        ("/usr/local/bin/notify \"x\"", 2.0)
    );
    let queued: f64 = samples
        .iter()
        .filter(|s| s.1 == "claudine_tasks_queued")
        .map(|s| s.3)
        .sum();
    assert_eq!(queued, 321.0);
    // 1 + 3 + 1 + 2 tasks × 5 + 2 events + 3 decisions + 3 host + 2 pressure
    // + 4 scheduler gauges (the slice's usage unknown) + 4 hook counters.
    assert_eq!(
        samples.len(),
        1 + 3 + 1 + 10 + 2 + 3 + 3 + 2 + 4 + 4,
        "{samples:?}"
    );
    assert!(python_parse(&render(&MetricsSnapshot::default())).len() == 5);
}

/// One request on a fresh connection; the whole answer (the server closes).
async fn http(addr: std::net::SocketAddr, request: &str) -> String {
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut got))
        .await
        .expect("answer in time")
        .unwrap();
    String::from_utf8(got).unwrap()
}

fn head_and_body(answer: &str) -> (String, &str) {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    (head.to_ascii_lowercase(), body)
}

#[tokio::test]
async fn serves_the_latest_text_and_nothing_else() {
    let server = MetricsServer::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let (tx, rx) = watch::channel(render(&snapshot()));
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(rx, async {
        _ = stopped.await;
    }));

    let answer = http(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let (head, body) = head_and_body(&answer);
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert!(
        head.contains("\r\ncontent-type: text/plain; version=0.0.4; charset=utf-8\r\n"),
        "{head}"
    );
    assert_eq!(body, render(&snapshot()));

    tx.send("claudine_tasks_running 9\n".into()).unwrap();
    let answer = http(addr, "GET /metrics HTTP/1.0\r\n\r\n").await;
    assert_eq!(head_and_body(&answer).1, "claudine_tasks_running 9\n");

    let answer = http(addr, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let (head, body) = head_and_body(&answer);
    assert!(
        head.starts_with("http/1.1 200 ok\r\n") && body.is_empty(),
        "{answer}"
    );

    let answer = http(
        addr,
        "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
    )
    .await;
    let (head, _) = head_and_body(&answer);
    assert!(
        head.starts_with("http/1.1 405 ") && head.contains("\r\nallow: get, head"),
        "{head}"
    );
    for path in ["/", "/metrics/", "/v1/tasks", "/metricsx"] {
        let answer = http(addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")).await;
        assert!(answer.starts_with("HTTP/1.1 404 "), "{path}: {answer}");
    }
    // Headers beyond the limit are refused, not buffered.
    let big = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let answer = http(addr, &big).await;
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), serving)
        .await
        .expect("serve returns on shutdown")
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still listening after shutdown"
    );
}

#[tokio::test]
async fn bad_or_busy_addresses_are_clear_errors() {
    for bad in [
        "localhost:9464",
        "127.0.0.1",
        "9464",
        "127.0.0.1:99999",
        "::1:9464",
        "",
    ] {
        let err = MetricsServer::bind(bad)
            .err()
            .unwrap_or_else(|| panic!("{bad:?} accepted"));
        let msg = err.to_string();
        assert!(
            matches!(err, PromError::InvalidAddress { .. }),
            "{bad:?}: {msg}"
        );
        assert!(
            msg.contains(&format!("{bad:?}")) && msg.contains("127.0.0.1:9464 or [::1]:9464"),
            "{msg}"
        );
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = MetricsServer::bind(&addr)
        .err()
        .expect("a second listener on a taken port");
    assert_eq!(
        err.to_string(),
        format!(
            "metrics address {addr} is already in use (another exporter, or a second claudined?)"
        )
    );
    // An IPv6 address parses; whether it binds depends on the host.
    if let Err(e) = MetricsServer::bind("[::1]:0") {
        assert!(!matches!(e, PromError::InvalidAddress { .. }), "{e}");
    }
}
