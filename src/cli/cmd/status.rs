//! `claudinectl status`: everything about one task.

use crate::cli::client::Client;
use crate::cli::error::CliError;
use crate::cli::format;
use crate::cli::{exit, Output};
use crate::core::TaskId;
use crate::proto::TaskView;
use chrono::TimeZone;
use clap::Args;

const EXAMPLES: &str = "\
Examples:
  claudinectl status 42
  claudinectl status 42 --json | jq -r .state";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct StatusArgs {
    /// The task's id
    #[arg(value_parser = super::parse_id)]
    pub id: TaskId,
}

pub async fn run(client: &Client, args: StatusArgs, o: &mut Output<'_>) -> Result<i32, CliError> {
    let answer = client.task(args.id).await?;
    if o.json {
        o.json_value(&answer.raw)?;
    } else {
        let text = block(&answer.value, format::now_ms(), &chrono::Local);
        o.out.write_all(text.as_bytes()).map_err(CliError::Output)?;
    }
    Ok(exit::OK)
}

/// `key: value` lines, times in `tz`; fields that do not apply are left out.
pub fn block<Tz: TimeZone>(t: &TaskView, now_ms: i64, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let ago = |ms: i64| format::duration(now_ms - ms);
    let clean = |s: &str| format::sanitize(s).into_owned();
    let mut fields: Vec<(&str, String)> = vec![
        ("id", t.id.to_string()),
        ("state", t.state.to_string()),
        (
            "owner",
            format!("{} (uid {})", clean(&t.owner), t.owner_uid),
        ),
        ("priority", t.priority.to_string()),
    ];
    match &t.claude {
        Some(c) => super::status_claude::lines(c, &mut fields),
        None => fields.push(("command", format::shell_join(&t.argv))),
    }
    fields.push(("cwd", clean(&t.cwd)));
    if let Some(w) = &t.worktree {
        fields.push((
            "worktree",
            format!(
                "{} (branch {}{})",
                clean(&w.path),
                w.branch,
                if w.removed { "; removed by clean" } else { "" }
            ),
        ));
    }
    if let Some(after) = after_line(t) {
        fields.push(("after", after));
    }
    if !t.env_keys.is_empty() {
        let keys: Vec<String> = t.env_keys.iter().map(|k| clean(k)).collect();
        fields.push(("env", keys.join(" ")));
    }
    fields.push((
        "created",
        format!(
            "{} ({} ago)",
            format::time(t.created_ms, tz),
            ago(t.created_ms)
        ),
    ));
    if let Some(started) = t.started_ms {
        fields.push((
            "started",
            format!(
                "{} ({} ago, after {} in queue)",
                format::time(started, tz),
                ago(started),
                format::duration(started - t.created_ms)
            ),
        ));
    }
    if let Some(finished) = t.finished_ms {
        let ran = t
            .started_ms
            .map(|s| format!(", ran {}", format::duration(finished - s)))
            .unwrap_or_default();
        fields.push((
            "finished",
            format!(
                "{} ({} ago{ran})",
                format::time(finished, tz),
                ago(finished)
            ),
        ));
    }
    if let Some(code) = t.exit_code {
        fields.push(("exit code", code.to_string()));
    }
    if let Some(sig) = t.signal {
        let name = format::signal_name(sig)
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        fields.push(("signal", format!("{sig}{name}")));
    }
    if let Some(reason) = &t.reason {
        fields.push(("reason", clean(reason)));
    }
    if let Some(why) = &t.cancel_requested {
        let why = if why.is_empty() {
            "yes".into()
        } else {
            clean(why)
        };
        fields.push(("cancel requested", why));
    }
    if let Some(unit) = &t.unit {
        fields.push(("unit", clean(unit)));
    }
    if let Some(pos) = t.queue_position {
        fields.push(("queue position", pos.to_string()));
    }
    if let Some(why) = &t.waiting_reason {
        fields.push(("waiting", clean(why)));
    }
    if let (Some(b), Some(why)) = (t.expected_memory_bytes, &t.expected_memory_source) {
        let why = match why.as_str() {
            "request" => "its --memory",
            "learned" => "learned from past runs of the same command, user and directory",
            "running" => "a running task of the same command, user and directory needs that much",
            "default" => "the default for a command never seen",
            "memory-max" => "its --memory-max",
            other => other,
        };
        fields.push((
            "expected memory",
            format!("{} ({why})", crate::core::units::format_bytes(b)),
        ));
    }
    if let Some(at) = t.estimated_start_ms {
        fields.push((
            "estimated start",
            format!(
                "in ~{} (from recent run times)",
                format::duration((at - now_ms).max(1000))
            ),
        ));
    }
    if t.attempts > 1 {
        fields.push(("attempts", t.attempts.to_string()));
    }
    if let Some(r) = &t.resources {
        resource_lines(r, t, now_ms, &mut fields);
    }
    if let Some(limits) = limits_line(&t.limits) {
        fields.push(("limits", limits));
    }
    if let (Some(n), Some(c)) = (t.checkpoints, &t.last_checkpoint) {
        let git = match (&c.git, &c.git_note) {
            (Some(g), _) => format!(", {}", g.ref_name),
            (None, Some(note)) => format!(", no git snapshot: {}", format::sanitize(note)),
            (None, None) => String::new(),
        };
        fields.push((
            "checkpoints",
            format!(
                "{n}; the last #{} {} ago ({}{git})",
                c.n,
                format::duration((now_ms - c.at_ms).max(0)),
                c.why.name()
            ),
        ));
    }
    if let Some(last) = t.attempt_history.as_ref().and_then(|h| h.last()) {
        if let Some(peak) = last.usage.as_ref().and_then(|u| u.memory_peak) {
            fields.push(("memory peak", crate::core::units::format_bytes(peak)));
        }
        if let Some(out) = &last.output {
            let dropped = out.stdout_dropped + out.stderr_dropped;
            if dropped > 0 {
                fields.push((
                    "output cut",
                    format!(
                        "{} dropped (log_max_mb or disk reserve)",
                        crate::core::units::format_bytes(dropped)
                    ),
                ));
            }
        }
    }
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    let mut out = String::new();
    for (key, value) in fields {
        out.push_str(&format!("{:width$} {value}\n", format!("{key}:")));
    }
    out
}

/// "41 (succeeded), 42 (running)", with "; any outcome" for
/// `--after-any`; `None` without dependencies.
fn after_line(t: &TaskView) -> Option<String> {
    if t.after.is_empty() {
        return None;
    }
    let deps: Vec<String> = match &t.dependencies {
        Some(d) => d
            .iter()
            .map(|d| match d.state {
                Some(s) => format!("{} ({s})", d.id),
                None => d.id.to_string(),
            })
            .collect(),
        None => t.after.iter().map(|id| id.to_string()).collect(),
    };
    let any = if t.after_any {
        "; runs whatever their outcome"
    } else {
        ""
    };
    Some(format!("{}{any}", deps.join(", ")))
}

/// What a running task uses now, and its activity.
fn resource_lines(
    r: &crate::proto::Resources,
    t: &TaskView,
    now_ms: i64,
    fields: &mut Vec<(&str, String)>,
) {
    use crate::core::units::format_bytes;
    if let Some(now) = r.memory_bytes {
        let split = match (r.memory_anon_bytes, r.memory_file_bytes) {
            (Some(a), Some(f)) => format!(" (anon {}, file {})", format_bytes(a), format_bytes(f)),
            _ => String::new(),
        };
        let peak = r
            .memory_peak_bytes
            .map(|p| format!(", peak {}", format_bytes(p)))
            .unwrap_or_default();
        let max = t
            .limits
            .memory_max
            .map(|m| format!(", limit {}", format_bytes(m)))
            .unwrap_or_default();
        fields.push(("memory", format!("{}{split}{peak}{max}", format_bytes(now))));
    }
    if let Some(m) = r
        .memory_events
        .filter(|m| m.high + m.max + m.oom + m.oom_kill > 0)
    {
        fields.push((
            "memory events",
            format!(
                "over high {}, at max {}, oom {}, oom kills {}",
                m.high, m.max, m.oom, m.oom_kill
            ),
        ));
    }
    if let Some(usec) = r.cpu_usage_usec {
        let share = r
            .cpu_percent
            .map(|p| format!(", now {p:.0}% of a core"))
            .unwrap_or_default();
        let throttled = r
            .cpu_throttled_usec
            .filter(|u| *u > 0)
            .map(|u| format!(", throttled {}", format::duration((u / 1000) as i64)))
            .unwrap_or_default();
        fields.push((
            "cpu",
            format!(
                "{} used{share}{throttled}",
                format::duration((usec / 1000) as i64)
            ),
        ));
    }
    if let (Some(m), Some(c)) = (r.memory_pressure, r.cpu_pressure) {
        fields.push((
            "pressure",
            format!("memory {m:.1}%, cpu {c:.1}% (some, 10 s)"),
        ));
    }
    if let Some(pids) = r.pids {
        fields.push(("pids", pids.to_string()));
    }
    if let Some(n) = r.open_files {
        fields.push(("open files", n.to_string()));
    }
    if let Some(bytes) = r.output_bytes {
        let lines = r
            .output_lines
            .map(|l| format!(", {l} lines"))
            .unwrap_or_default();
        let last = r
            .last_output_ms
            .map(|at| format!(", last {} ago", format::duration(now_ms - at)))
            .unwrap_or_else(|| ", nothing yet".into());
        fields.push(("output", format!("{}{lines}{last}", format_bytes(bytes))));
    }
    if let Some(a) = &r.activity {
        fields.push(("activity", format::sanitize(a).into_owned()));
    }
}

/// The task's limits in one line, `None` if it has none.
fn limits_line(l: &crate::core::Limits) -> Option<String> {
    use crate::core::units::{format_bytes, format_duration_ms};
    let mut parts = Vec::new();
    if let Some(b) = l.memory_warn {
        parts.push(format!("memory warn {}", format_bytes(b)));
    }
    if let Some(b) = l.memory_max {
        parts.push(format!("memory max {}", format_bytes(b)));
    }
    if let Some(n) = l.max_pids {
        parts.push(format!("pids max {n}"));
    }
    if let Some(w) = l.cpu_weight {
        parts.push(format!("cpu weight {w}"));
    }
    if let Some(q) = l.cpu_quota_percent {
        parts.push(format!("cpu quota {q}%"));
    }
    if let Some(ms) = l.stall_after_ms {
        parts.push(format!("stall after {}", format_duration_ms(ms)));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::cmd::list::tests::{view, NOW};
    use crate::core::TaskState;

    #[test]
    fn finished_task() {
        let mut t = view(42, TaskState::Cancelled, &["sleep", "100"]);
        t.env_keys = vec!["A".into(), "B".into()];
        t.started_ms = Some(t.created_ms + 2_000);
        t.finished_ms = Some(NOW - 3_000);
        t.signal = Some(15);
        t.reason = Some("no longer needed".into());
        t.cancel_requested = Some("no longer needed".into());
        t.attempts = 2;
        let want = "\
id:               42
state:            cancelled
owner:            alice (uid 1000)
priority:         P1
command:          sleep 100
cwd:              /home/alice/src/app
env:              A B
created:          2023-11-14 22:12:15 (1m05s ago)
started:          2023-11-14 22:12:17 (1m03s ago, after 2s in queue)
finished:         2023-11-14 22:13:17 (3s ago, ran 1m00s)
signal:           15 (SIGTERM)
reason:           no longer needed
cancel requested: no longer needed
attempts:         2
";
        assert_eq!(block(&t, NOW, &chrono::Utc), want);
    }

    #[test]
    fn a_task_with_dependencies_shows_them_with_their_states() {
        use crate::proto::DependencyView;
        let mut t = view(43, TaskState::Queued, &["make"]);
        t.after = vec![41, 42];
        t.waiting_reason = Some("waiting for task 42 (running)".into());
        t.dependencies = Some(vec![
            DependencyView {
                id: 41,
                state: Some(TaskState::Succeeded),
            },
            DependencyView {
                id: 42,
                state: Some(TaskState::Running),
            },
        ]);
        let text = block(&t, NOW, &chrono::Utc);
        assert!(
            text.contains("after:    41 (succeeded), 42 (running)\n"),
            "{text}"
        );
        assert!(
            text.contains("waiting:  waiting for task 42 (running)\n"),
            "{text}"
        );
        t.after_any = true;
        t.dependencies = None;
        let text = block(&t, NOW, &chrono::Utc);
        assert!(
            text.contains("after:    41, 42; runs whatever their outcome\n"),
            "{text}"
        );
    }

    #[test]
    fn queued_task() {
        let mut t = view(43, TaskState::Queued, &["make"]);
        t.queue_position = Some(2);
        t.waiting_reason = Some("at the hard maximum: 3 of 3 running".into());
        let want = "\
id:             43
state:          queued
owner:          alice (uid 1000)
priority:       P1
command:        make
cwd:            /home/alice/src/app
created:        2023-11-14 22:12:15 (1m05s ago)
queue position: 2
waiting:        at the hard maximum: 3 of 3 running
";
        assert_eq!(block(&t, NOW, &chrono::Utc), want);
    }
}
