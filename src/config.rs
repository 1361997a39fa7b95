//! `/etc/claudine/claudine.toml`: every key optional, unknown keys refused.
//!
//! An invalid file stops the daemon before it touches anything, with a
//! message that names the file, the key and the problem.

use crate::core::AdmissionPolicy;
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG_PATH: &str = "/etc/claudine/claudine.toml";

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub max_running: Option<usize>,
    pub cpu_max_percent: f64,
    pub min_available_memory_mb: u64,
    pub max_starting: usize,
    pub admin_group: String,
    pub socket_group: String,
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    pub log_level: String,
    /// Where `claudine-supervise` is installed.
    pub supervisor: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_running: None,
            cpu_max_percent: 80.0,
            min_available_memory_mb: 1024,
            max_starting: 8,
            admin_group: "claudine-admin".into(),
            socket_group: "claudine".into(),
            socket: PathBuf::from(crate::proto::DEFAULT_SOCKET),
            state_dir: PathBuf::from("/var/lib/claudine"),
            log_level: "info".into(),
            supervisor: PathBuf::from("/usr/libexec/claudine/claudine-supervise"),
        }
    }
}

/// The file as written; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    max_running: Option<i64>,
    cpu_max_percent: Option<f64>,
    min_available_memory_mb: Option<i64>,
    max_starting: Option<i64>,
    admin_group: Option<String>,
    socket_group: Option<String>,
    socket: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    log_level: Option<String>,
    supervisor: Option<PathBuf>,
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
        let mut c = Config::default();
        if let Some(v) = raw.max_running {
            if v < 1 {
                return Err(bad("max_running", format!("must be at least 1, got {v}")));
            }
            c.max_running = Some(v as usize);
        }
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
        Ok(c)
    }

    pub fn admission_policy(&self) -> AdmissionPolicy {
        AdmissionPolicy {
            cpu_max_percent: self.cpu_max_percent,
            min_available_bytes: self.min_available_memory_mb << 20,
            max_running: self.max_running,
            max_starting: self.max_starting,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(c.max_running, Some(3));
        let p = c.admission_policy();
        assert_eq!(p.max_running, Some(3));
        assert_eq!(p.min_available_bytes, 2048 << 20);
        assert_eq!(p.cpu_max_percent, 50.0);
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
        assert!(e.contains("key `max_running`: must be at least 1"), "{e}");
        let e = parse("cpu_max_percent = 150").unwrap_err().to_string();
        assert!(e.contains("cpu_max_percent"), "{e}");
        let e = parse("state_dir = \"relative\"").unwrap_err().to_string();
        assert!(e.contains("state_dir") && e.contains("absolute"), "{e}");
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
