//! `/etc/claudine/claudine.toml`: every key optional, unknown keys refused.
//!
//! An invalid file stops the daemon before it touches anything, with a
//! message that names the file, the key and the problem.

use crate::core::scheduler::SchedPolicy;
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub mod claude;
pub mod protect;
pub mod sched;
pub use sched::{Profile, Sched};

pub const DEFAULT_CONFIG_PATH: &str = "/etc/claudine/claudine.toml";

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The profile, the concurrency caps, aging, fair share (`sched.rs`).
    pub sched: Sched,
    pub cpu_max_percent: f64,
    pub min_available_memory_mb: u64,
    pub max_starting: usize,
    /// After a start, the next admission waits for a host sample measured
    /// over at least this long after it.
    pub admission_settle_ms: u64,
    /// Most bytes kept per output stream (stdout, stderr) and attempt.
    pub log_max_bytes: u64,
    /// Submits are refused, and task output is dropped, while the state
    /// filesystem has less than this free; the database keeps the rest.
    pub min_free_disk_bytes: u64,
    /// Unfinished tasks one user (not root) may have at once.
    pub max_queued_per_user: usize,
    /// Bytes of command lines and environments one user's unfinished tasks
    /// may hold in the daemon's memory.
    pub max_queued_bytes_per_user: u64,
    /// What the monitor does with what it sees.
    pub level: crate::core::Level,
    /// How often running tasks are sampled, ms.
    pub sample_interval_ms: i64,
    /// Default stall threshold, ms (a task's `--stall-after` wins).
    pub stall_after_ms: i64,
    /// Default soft memory limit (a task's `--memory-warn` wins); the
    /// profile's unless `memory_warn` says.
    pub memory_warn_bytes: Option<u64>,
    /// Default critical memory level per task (`task:critical-memory`
    /// without a hard limit); the profile's unless `memory_critical` says.
    pub memory_critical_bytes: Option<u64>,
    /// Where the Prometheus endpoint listens; off when `None`.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Notification hooks (`[[hooks]]` tables), checked at start.
    pub hooks: Vec<crate::daemon::hooks::HookConfig>,
    pub admin_group: String,
    pub socket_group: String,
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    pub log_level: String,
    /// Where `claudine-supervise` is installed.
    pub supervisor: PathBuf,
    /// The `claude` CLI every Claude Code task runs; `None`: each user's
    /// own (their PATH, `~/.local/bin`).
    pub claude_path: Option<String>,
    /// The usage governor of Claude tasks (`claude_*` keys).
    pub claude: claude::ClaudeConfig,
    /// Protective mode and checkpoints (`protect_*`, `checkpoint_interval`).
    pub protect: protect::ProtectConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sched: Sched::default(),
            cpu_max_percent: 80.0,
            min_available_memory_mb: 1024,
            max_starting: 8,
            admission_settle_ms: 250,
            log_max_bytes: 128 << 20,
            min_free_disk_bytes: 256 << 20,
            max_queued_per_user: 1000,
            max_queued_bytes_per_user: 64 << 20,
            level: crate::core::Level::Active,
            sample_interval_ms: 1000,
            stall_after_ms: 5 * 60_000,
            memory_warn_bytes: Profile::default().memory_warn(),
            memory_critical_bytes: Profile::default().memory_critical(),
            metrics_listen: None,
            hooks: Vec::new(),
            admin_group: "claudine-admin".into(),
            socket_group: "claudine".into(),
            socket: PathBuf::from(crate::proto::DEFAULT_SOCKET),
            state_dir: PathBuf::from("/var/lib/claudine"),
            log_level: "info".into(),
            supervisor: PathBuf::from("/usr/libexec/claudine/claudine-supervise"),
            claude_path: None,
            claude: claude::ClaudeConfig::default(),
            protect: protect::ProtectConfig::default(),
        }
    }
}

/// The file as written; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    profile: Option<String>,
    max_running: Option<i64>,
    soft_max_concurrent: Option<i64>,
    hard_max_concurrent: Option<i64>,
    memory_pressure_max_percent: Option<f64>,
    aging: Option<String>,
    head_hold: Option<String>,
    max_running_per_user: Option<i64>,
    cpu_max_percent: Option<f64>,
    min_available_memory_mb: Option<i64>,
    max_starting: Option<i64>,
    admission_settle_ms: Option<i64>,
    log_max_mb: Option<i64>,
    min_free_disk_mb: Option<i64>,
    max_queued_per_user: Option<i64>,
    max_queued_mb_per_user: Option<i64>,
    level: Option<String>,
    sample_interval: Option<String>,
    stall_after: Option<String>,
    memory_warn: Option<String>,
    memory_critical: Option<String>,
    metrics_listen: Option<String>,
    hooks: Option<Vec<crate::daemon::hooks::HookConfig>>,
    admin_group: Option<String>,
    socket_group: Option<String>,
    socket: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    log_level: Option<String>,
    supervisor: Option<PathBuf>,
    claude_path: Option<PathBuf>,
    claude_backoff: Option<String>,
    claude_backoff_max: Option<String>,
    claude_starts_per_minute: Option<i64>,
    claude_burst: Option<i64>,
    claude_budget_usd_per_hour: Option<f64>,
    claude_budget_usd_per_day: Option<f64>,
    claude_budget_tokens_per_hour: Option<i64>,
    claude_budget_tokens_per_day: Option<i64>,
    protect_available_mb: Option<i64>,
    protect_pressure_percent: Option<f64>,
    protect_cold_after: Option<String>,
    checkpoint_interval: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration {path}: key `{key}`: {problem}")]
    Value {
        path: PathBuf,
        key: &'static str,
        problem: String,
    },
}

impl Config {
    /// Load from `path`. A missing file means "all defaults".
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(source) => Err(ConfigError::Read {
                path: path.into(),
                source,
            }),
        }
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        let bad = |key: &'static str, problem: String| ConfigError::Value {
            path: path.into(),
            key,
            problem,
        };
        let mut c = Config {
            sched: sched::resolve(sched::RawSched {
                profile: raw.profile,
                max_running: raw.max_running,
                soft_max_concurrent: raw.soft_max_concurrent,
                hard_max_concurrent: raw.hard_max_concurrent,
                memory_pressure_max_percent: raw.memory_pressure_max_percent,
                aging: raw.aging,
                head_hold: raw.head_hold,
                max_running_per_user: raw.max_running_per_user,
            })
            .map_err(|(key, problem)| bad(key, problem))?,
            ..Config::default()
        };
        c.memory_warn_bytes = c.sched.profile.memory_warn();
        c.memory_critical_bytes = c.sched.profile.memory_critical();
        if let Some(v) = raw.cpu_max_percent {
            if !(v > 0.0 && v <= 100.0) {
                return Err(bad(
                    "cpu_max_percent",
                    format!("must be in (0, 100], got {v}"),
                ));
            }
            c.cpu_max_percent = v;
        }
        if let Some(v) = raw.min_available_memory_mb {
            if v < 0 {
                return Err(bad(
                    "min_available_memory_mb",
                    format!("must not be negative, got {v}"),
                ));
            }
            c.min_available_memory_mb = v as u64;
        }
        if let Some(v) = raw.max_starting {
            if !(1..=1024).contains(&v) {
                return Err(bad("max_starting", format!("must be in 1..=1024, got {v}")));
            }
            c.max_starting = v as usize;
        }
        if let Some(v) = raw.admission_settle_ms {
            if !(0..=60_000).contains(&v) {
                return Err(bad(
                    "admission_settle_ms",
                    format!("must be in 0..=60000, got {v}"),
                ));
            }
            c.admission_settle_ms = v as u64;
        }
        let mib = |key: &'static str, v: Option<i64>, min: i64, max: i64| match v {
            Some(v) if !(min..=max).contains(&v) => {
                Err(bad(key, format!("must be in {min}..={max} (MiB), got {v}")))
            }
            Some(v) => Ok(Some((v as u64) << 20)),
            None => Ok(None),
        };
        if let Some(b) = mib("log_max_mb", raw.log_max_mb, 1, 1 << 20)? {
            c.log_max_bytes = b;
        }
        if let Some(b) = mib("min_free_disk_mb", raw.min_free_disk_mb, 0, 1 << 30)? {
            c.min_free_disk_bytes = b;
        }
        if let Some(b) = mib(
            "max_queued_mb_per_user",
            raw.max_queued_mb_per_user,
            1,
            1 << 20,
        )? {
            c.max_queued_bytes_per_user = b;
        }
        if let Some(v) = raw.max_queued_per_user {
            if !(1..=10_000_000).contains(&v) {
                return Err(bad(
                    "max_queued_per_user",
                    format!("must be in 1..=10000000, got {v}"),
                ));
            }
            c.max_queued_per_user = v as usize;
        }
        if let Some(v) = raw.level {
            c.level = v.parse().map_err(|e| bad("level", e))?;
        }
        if let Some(v) = raw.sample_interval {
            let ms = crate::core::units::parse_positive_duration(&v)
                .map_err(|e| bad("sample_interval", e))?;
            if !(100..=60_000).contains(&ms) {
                return Err(bad(
                    "sample_interval",
                    format!("must be from 100ms to 60s, got {v:?}"),
                ));
            }
            c.sample_interval_ms = ms;
        }
        if let Some(v) = raw.stall_after {
            c.stall_after_ms = crate::core::units::parse_positive_duration(&v)
                .map_err(|e| bad("stall_after", e))?;
        }
        if let Some(v) = raw.memory_warn {
            c.memory_warn_bytes = Some(
                crate::core::units::parse_positive_size(&v).map_err(|e| bad("memory_warn", e))?,
            );
        }
        if let Some(v) = raw.memory_critical {
            c.memory_critical_bytes = Some(
                crate::core::units::parse_positive_size(&v)
                    .map_err(|e| bad("memory_critical", e))?,
            );
        }
        if let (Some(w), Some(c)) = (c.memory_warn_bytes, c.memory_critical_bytes) {
            if w > c {
                return Err(bad(
                    "memory_warn",
                    format!(
                        "{} is above memory_critical {}",
                        crate::core::units::format_bytes(w),
                        crate::core::units::format_bytes(c)
                    ),
                ));
            }
        }
        if let Some(v) = raw.metrics_listen {
            c.metrics_listen = Some(v.parse().map_err(|e| {
                bad(
                    "metrics_listen",
                    format!("{v:?} is not an address:port such as \"127.0.0.1:9464\" ({e})"),
                )
            })?);
        }
        if let Some(h) = raw.hooks {
            c.hooks = h;
        }
        for (key, value, slot) in [
            ("admin_group", raw.admin_group, &mut c.admin_group),
            ("socket_group", raw.socket_group, &mut c.socket_group),
        ] {
            if let Some(v) = value {
                if v.is_empty() || v.contains(['\0', ':', '\n']) {
                    return Err(bad(key, format!("not a valid group name: {v:?}")));
                }
                *slot = v;
            }
        }
        for (key, value, slot) in [
            ("socket", raw.socket, &mut c.socket),
            ("state_dir", raw.state_dir, &mut c.state_dir),
            ("supervisor", raw.supervisor, &mut c.supervisor),
        ] {
            if let Some(v) = value {
                if !v.is_absolute() {
                    return Err(bad(
                        key,
                        format!("must be an absolute path, got {}", v.display()),
                    ));
                }
                *slot = v;
            }
        }
        if let Some(v) = raw.log_level {
            if !["error", "warn", "info", "debug", "trace"].contains(&v.as_str()) {
                return Err(bad(
                    "log_level",
                    format!("must be one of error, warn, info, debug, trace; got {v:?}"),
                ));
            }
            c.log_level = v;
        }
        c.claude = claude::resolve(claude::RawClaude {
            claude_backoff: raw.claude_backoff,
            claude_backoff_max: raw.claude_backoff_max,
            claude_starts_per_minute: raw.claude_starts_per_minute,
            claude_burst: raw.claude_burst,
            claude_budget_usd_per_hour: raw.claude_budget_usd_per_hour,
            claude_budget_usd_per_day: raw.claude_budget_usd_per_day,
            claude_budget_tokens_per_hour: raw.claude_budget_tokens_per_hour,
            claude_budget_tokens_per_day: raw.claude_budget_tokens_per_day,
        })
        .map_err(|(key, problem)| bad(key, problem))?;
        c.protect = protect::resolve(protect::RawProtect {
            protect_available_mb: raw.protect_available_mb,
            protect_pressure_percent: raw.protect_pressure_percent,
            protect_cold_after: raw.protect_cold_after,
            checkpoint_interval: raw.checkpoint_interval,
        })
        .map_err(|(key, problem)| bad(key, problem))?;
        if let Some(v) = raw.claude_path {
            match v.to_str() {
                Some(p) if v.is_absolute() && !p.contains('\0') => {
                    c.claude_path = Some(p.to_owned())
                }
                _ => {
                    return Err(bad(
                        "claude_path",
                        format!("must be an absolute path, got {}", v.display()),
                    ))
                }
            }
        }
        Ok(c)
    }

    /// What the scheduler decides with.
    pub fn sched_policy(&self) -> SchedPolicy {
        SchedPolicy {
            cpu_max_percent: self.cpu_max_percent,
            reserve_bytes: self.reserve_bytes(),
            memory_pressure_max: self.sched.memory_pressure_max_percent,
            hard_max: self.sched.hard_max,
            soft_max: self.sched.soft_max,
            max_starting: self.max_starting,
            settle_ms: self.admission_settle_ms as i64,
            max_running_per_user: self.sched.max_running_per_user,
            aging_ms: self.sched.aging_ms,
            head_hold_ms: self.sched.head_hold_ms,
        }
    }

    /// MemAvailable kept for the host (`min_available_memory_mb`).
    pub fn reserve_bytes(&self) -> u64 {
        self.min_available_memory_mb << 20
    }

    pub fn db_path(&self) -> PathBuf {
        self.state_dir.join("claudine.db")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.state_dir.join("logs")
    }
    pub fn exit_dir(&self) -> PathBuf {
        self.state_dir.join("exit")
    }
}

/// Every key the file may hold (the shipped example lists them all).
pub const KEYS: &[&str] = &[
    "profile",
    "max_running",
    "soft_max_concurrent",
    "hard_max_concurrent",
    "cpu_max_percent",
    "min_available_memory_mb",
    "memory_pressure_max_percent",
    "aging",
    "head_hold",
    "max_running_per_user",
    "max_starting",
    "admission_settle_ms",
    "log_max_mb",
    "min_free_disk_mb",
    "max_queued_per_user",
    "max_queued_mb_per_user",
    "level",
    "sample_interval",
    "stall_after",
    "memory_warn",
    "memory_critical",
    "metrics_listen",
    "admin_group",
    "socket_group",
    "socket",
    "state_dir",
    "supervisor",
    "log_level",
    "claude_path",
    "claude_backoff",
    "claude_backoff_max",
    "claude_starts_per_minute",
    "claude_burst",
    "claude_budget_usd_per_hour",
    "claude_budget_usd_per_day",
    "claude_budget_tokens_per_hour",
    "claude_budget_tokens_per_day",
    "protect_available_mb",
    "protect_pressure_percent",
    "protect_cold_after",
    "checkpoint_interval",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The installed example lists every key, each accepted with the value
    /// shown (its default).
    #[test]
    fn shipped_example_lists_every_key_with_its_default() {
        let text = include_str!("../packaging/claudine.toml");
        let uncommented: String = text
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.contains(" = ") && !l.starts_with(' '))
            .map(|l| format!("{}\n", l.split("  #").next().unwrap()))
            .collect();
        let keys: Vec<&str> = uncommented
            .lines()
            .map(|l| l.split(" = ").next().unwrap().trim())
            .collect();
        assert_eq!(keys, KEYS, "the example and KEYS differ");
        let c = parse(&uncommented).unwrap();
        // Every value shown is the default, except the examples of what is off.
        assert_eq!(
            Config {
                metrics_listen: None,
                memory_critical_bytes: None,
                claude_path: None,
                claude: claude::ClaudeConfig::default(),
                protect: protect::ProtectConfig {
                    available_bytes: None,
                    ..c.protect.clone()
                },
                sched: Sched {
                    max_running_per_user: None,
                    ..c.sched.clone()
                },
                ..c
            },
            Config::default()
        );
    }

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::parse(s, Path::new("/etc/claudine/claudine.toml"))
    }

    #[test]
    fn empty_file_is_all_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
        assert_eq!(parse("# only comments\n").unwrap(), Config::default());
    }

    #[test]
    fn values_are_read() {
        let c = parse("max_running = 3\ncpu_max_percent = 50\nmin_available_memory_mb = 2048\n")
            .unwrap();
        assert_eq!(c.sched.hard_max, 3);
        let p = c.sched_policy();
        assert_eq!((p.hard_max, p.soft_max), (3, 3));
        assert_eq!(p.reserve_bytes, 2048 << 20);
        assert_eq!(p.cpu_max_percent, 50.0);
        let c = parse("profile = \"production\"\n").unwrap();
        assert_eq!(
            (
                c.sched.soft_max,
                c.sched.hard_max,
                c.memory_warn_bytes,
                c.memory_critical_bytes
            ),
            (5, 20, Some(1 << 30), Some(3 << 30))
        );
        let e = parse("memory_warn = \"4G\"\nmemory_critical = \"3G\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("key `memory_warn`: 4 GiB is above memory_critical 3 GiB"),
            "{e}"
        );
        let c = parse("profile = \"production\"\nmemory_warn = \"3G\"\n").unwrap();
        assert_eq!(
            c.memory_warn_bytes,
            Some(3 << 30),
            "a key beats its profile"
        );
    }

    #[test]
    fn errors_name_the_key() {
        let e = parse("max_running = \"x\"").unwrap_err().to_string();
        assert!(
            e.contains("max_running") && e.contains("/etc/claudine/claudine.toml"),
            "{e}"
        );
        let e = parse("max_runing = 3").unwrap_err().to_string();
        assert!(e.contains("max_runing"), "{e}");
        let e = parse("max_running = 0").unwrap_err().to_string();
        assert!(
            e.contains("key `max_running`: must be in 1..=100000"),
            "{e}"
        );
        let e = parse("profile = \"fast\"").unwrap_err().to_string();
        assert!(e.contains("key `profile`: unknown profile \"fast\""), "{e}");
        let e = parse("soft_max_concurrent = 60").unwrap_err().to_string();
        assert!(e.contains("key `soft_max_concurrent`: 60 is above"), "{e}");
        let e = parse("cpu_max_percent = 150").unwrap_err().to_string();
        assert!(e.contains("cpu_max_percent"), "{e}");
        let e = parse("state_dir = \"relative\"").unwrap_err().to_string();
        assert!(e.contains("state_dir") && e.contains("absolute"), "{e}");
        for (text, key) in [
            ("log_max_mb = 0", "log_max_mb"),
            ("min_free_disk_mb = -1", "min_free_disk_mb"),
            ("max_queued_per_user = 0", "max_queued_per_user"),
            ("max_queued_mb_per_user = 0", "max_queued_mb_per_user"),
            ("admission_settle_ms = 99999999", "admission_settle_ms"),
            ("level = \"loud\"", "level"),
            ("sample_interval = \"10ms\"", "sample_interval"),
            ("sample_interval = \"1 fortnight\"", "sample_interval"),
            ("stall_after = \"-1\"", "stall_after"),
            ("stall_after = \"10 parsecs\"", "stall_after"),
            ("memory_warn = \"4Gb\"", "memory_warn"),
            ("memory_warn = \"0\"", "memory_warn"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(&format!("key `{key}`")), "{e}");
        }
        let e = parse("metrics_listen = \"localhost:x\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("key `metrics_listen`"), "{e}");
        let c = parse(
            "metrics_listen = \"127.0.0.1:9464\"\n[[hooks]]\nevents = [\"task:*\"]\ncommand = [\"/bin/true\"]\n",
        )
        .unwrap();
        assert_eq!(c.metrics_listen.unwrap().port(), 9464);
        assert_eq!(c.hooks[0].command, ["/bin/true"]);
        let e = parse("[[hooks]]\nevents = [\"*\"]\ncommand = [\"x\"]\nshell = true\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("shell"), "{e}");
        let c = parse("log_max_mb = 2\nmin_free_disk_mb = 0\nmax_queued_per_user = 5\n").unwrap();
        assert_eq!(
            (
                c.log_max_bytes,
                c.min_free_disk_bytes,
                c.max_queued_per_user
            ),
            (2 << 20, 0, 5)
        );
        let c = parse(
            "level = \"passive\"\nsample_interval = \"250ms\"\nstall_after = \"90s\"\nmemory_warn = \"2G\"\n",
        )
        .unwrap();
        assert_eq!(
            (
                c.level,
                c.sample_interval_ms,
                c.stall_after_ms,
                c.memory_warn_bytes
            ),
            (crate::core::Level::Passive, 250, 90_000, Some(2 << 30))
        );
        let e = parse("log_level = \"loud\"").unwrap_err().to_string();
        assert!(e.contains("log_level"), "{e}");
        let e = parse("max_running = [").unwrap_err().to_string();
        assert!(e.contains("invalid configuration"), "{e}");
    }

    #[test]
    fn missing_file_is_defaults() {
        let c = Config::load(Path::new("/nonexistent/claudine.toml")).unwrap();
        assert_eq!(c, Config::default());
    }
}
