//! The systemd adapter: transient scopes over the system bus (zbus).
//!
//! [`Scopes`] is what the daemon needs from a service manager; [`Systemd`]
//! (in `dbus.rs`) is the real one, and the in-process tests give the daemon a
//! stand-in that can also fail on purpose. Limits are unit properties set
//! through systemd, at start or later; claudine never writes a cgroup file
//! that systemd owns (it only reads them: see [`crate::cgroup`]).

mod dbus;

pub use dbus::Systemd;
use std::time::Duration;

/// How long a stop may take before systemd sends SIGKILL to what is left.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the scope's start job.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`Scopes::stop_and_wait_gone`] waits for a unit to be unloaded.
pub const GONE_TIMEOUT: Duration = Duration::from_secs(60);
pub const SLICE: &str = "claudine.slice";
/// The daemon's own unit (task scopes are ordered before it: it stops first).
pub const DAEMON_UNIT: &str = "claudine.service";

#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    #[error("cannot connect to the system bus: {0}")]
    Connect(#[source] zbus::Error),
    #[error("{step} {unit}: {source}")]
    Call {
        step: &'static str,
        unit: String,
        source: zbus::Error,
    },
    #[error("start job of {unit} finished with result {result:?}")]
    JobFailed { unit: String, result: String },
    #[error("start job of {unit} did not finish within {secs} s")]
    JobTimeout { unit: String, secs: u64 },
    #[error("{unit} was still loaded {secs} s after it was asked to stop")]
    GoneTimeout { unit: String, secs: u64 },
    /// Only the test stand-in produces this.
    #[error("{step} {unit}: {message}")]
    Refused {
        step: &'static str,
        unit: String,
        message: String,
    },
}

impl SystemdError {
    fn method_error(&self) -> Option<&str> {
        match self {
            SystemdError::Call {
                source: zbus::Error::MethodError(name, _, _),
                ..
            } => Some(name.as_str()),
            SystemdError::Refused { message, .. } => Some(message.as_str()),
            _ => None,
        }
    }

    /// True if the error says the unit is not loaded (already gone).
    pub fn is_no_such_unit(&self) -> bool {
        self.method_error() == Some("org.freedesktop.systemd1.NoSuchUnit")
    }

    /// True if a unit of that name already exists (a previous attempt's).
    pub fn is_unit_exists(&self) -> bool {
        self.method_error() == Some("org.freedesktop.systemd1.UnitExists")
    }
}

/// One `claudine-task-*.scope` unit as systemd lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitStatus {
    pub name: String,
    pub active_state: String,
}

/// Resource-control properties of a scope; `None` leaves systemd's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeProperties {
    /// `MemoryHigh=`: reclaim pressure above this (bytes).
    pub memory_high: Option<u64>,
    /// `MemoryMax=`: the kernel's hard limit (bytes).
    pub memory_max: Option<u64>,
    /// `TasksMax=`.
    pub tasks_max: Option<u64>,
    /// `CPUWeight=` (1..=10000).
    pub cpu_weight: Option<u64>,
    /// `CPUQuotaPerSecUSec=`: CPU time per second of wall time (µs).
    pub cpu_quota_per_sec_usec: Option<u64>,
}

/// What a new scope is made of.
pub struct ScopeSpec<'a> {
    pub unit: &'a str,
    pub pid: u32,
    /// Names only the task (no owner, no command: every local user can read it).
    pub description: &'a str,
    pub properties: &'a ScopeProperties,
}

pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What the daemon needs from a service manager. Futures are boxed so the
/// trait can be a trait object.
pub trait Scopes: Send + Sync + 'static {
    /// Create `spec.unit` holding `spec.pid` and wait until it is started.
    fn start_scope<'a>(
        &'a self,
        spec: &'a ScopeSpec<'a>,
    ) -> BoxFuture<'a, Result<(), SystemdError>>;
    /// Ask to stop a unit: SIGTERM to everything in it, SIGKILL after a
    /// timeout. Does not wait.
    fn stop_unit<'a>(&'a self, unit: &'a str) -> BoxFuture<'a, Result<(), SystemdError>>;
    /// Stop a unit (if loaded) and resolve once systemd no longer has it
    /// loaded, so a unit of the same name can be created again.
    fn stop_and_wait_gone<'a>(&'a self, unit: &'a str) -> BoxFuture<'a, Result<(), SystemdError>>;
    /// Change resource-control properties of a running unit.
    fn set_properties<'a>(
        &'a self,
        unit: &'a str,
        props: &'a ScopeProperties,
    ) -> BoxFuture<'a, Result<(), SystemdError>>;
    /// Freeze every process of the unit; resolves once frozen.
    fn freeze<'a>(&'a self, unit: &'a str) -> BoxFuture<'a, Result<(), SystemdError>>;
    /// Thaw a frozen unit; resolves once thawed.
    fn thaw<'a>(&'a self, unit: &'a str) -> BoxFuture<'a, Result<(), SystemdError>>;
    /// The unit's cgroup path relative to the cgroup root (`/claudine.slice/…`),
    /// `None` if the unit is not loaded.
    fn unit_cgroup<'a>(
        &'a self,
        unit: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, SystemdError>>;
    /// Every loaded `claudine-task-*.scope`.
    fn list_task_scopes(&self) -> BoxFuture<'_, Result<Vec<UnitStatus>, SystemdError>>;
    /// Resolves when the connection to the manager is lost.
    fn disconnected(&self) -> BoxFuture<'_, ()>;
    /// True if process `pid` sits exactly in `unit`'s cgroup (used before
    /// re-adopting a supervisor, so a recycled pid — or a process in a user's
    /// own `claudine-task-N.scope` elsewhere in the tree — is never adopted).
    fn pid_in_unit<'a>(&'a self, pid: u32, unit: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let Ok(Some(cgroup)) = self.unit_cgroup(unit).await else {
                return false;
            };
            std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .is_ok_and(|text| in_cgroup(&text, &cgroup))
        })
    }
}

/// True if `/proc/<pid>/cgroup` text puts the process exactly in `cgroup`
/// (the unified hierarchy's `0::` line, whole path compared).
pub fn in_cgroup(proc_cgroup: &str, cgroup: &str) -> bool {
    proc_cgroup
        .lines()
        .filter_map(|l| l.strip_prefix("0::"))
        .any(|path| path == cgroup)
}

/// A task scope's Description: the task id and attempt, nothing a user typed.
pub fn describe(id: i64, attempt: u32) -> String {
    format!("claudine task {id} (attempt {attempt})")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Defect 6: the whole cgroup path is compared, not a suffix.
    #[test]
    fn pid_must_sit_exactly_in_the_scope() {
        let ours = "/claudine.slice/claudine-task-7.scope";
        assert!(in_cgroup(&format!("0::{ours}\n"), ours));
        for other in [
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/claudine-task-7.scope\n",
            "0::/claudine.slice/claudine-task-7.scope/sub\n",
            "0::/claudine.slice/claudine-task-77.scope\n",
            "1:name=systemd:/claudine.slice/claudine-task-7.scope\n",
            "",
        ] {
            assert!(!in_cgroup(other, ours), "{other}");
        }
    }

    #[test]
    fn description_names_only_the_task() {
        assert_eq!(describe(4, 1), "claudine task 4 (attempt 1)");
    }
}
