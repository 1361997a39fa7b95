//! The systemd adapter: transient scopes over the system bus (zbus).
//!
//! Scope creation follows the order systemd requires for a race-free wait:
//! subscribe to `JobRemoved` first, then call `StartTransientUnit`, then wait
//! for the signal that carries the returned job path. Limits and accounting
//! are set as unit properties; claudine never writes a cgroup file that
//! systemd owns.

use futures_util::StreamExt;
use std::time::Duration;
use zbus::zvariant::{OwnedObjectPath, Value};

/// How long a stop may take before systemd sends SIGKILL to what is left.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the scope's start job.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(60);
pub const SLICE: &str = "claudine.slice";

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
trait Manager {
    fn subscribe(&self) -> zbus::Result<()>;

    fn start_transient_unit(
        &self,
        name: &str,
        mode: &str,
        properties: &[(&str, Value<'_>)],
        aux: &[(&str, &[(&str, Value<'_>)])],
    ) -> zbus::Result<OwnedObjectPath>;

    fn stop_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;

    #[allow(clippy::type_complexity)]
    fn list_units_by_patterns(
        &self,
        states: &[&str],
        patterns: &[&str],
    ) -> zbus::Result<
        Vec<(
            String,
            String,
            String,
            String,
            String,
            String,
            OwnedObjectPath,
            u32,
            String,
            OwnedObjectPath,
        )>,
    >;

    #[zbus(signal)]
    fn job_removed(
        &self,
        id: u32,
        job: zbus::zvariant::ObjectPath<'_>,
        unit: &str,
        result: &str,
    ) -> zbus::Result<()>;
}

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
}

impl SystemdError {
    /// True if the error says the unit is not loaded (already gone).
    pub fn is_no_such_unit(&self) -> bool {
        match self {
            SystemdError::Call {
                source: zbus::Error::MethodError(name, _, _),
                ..
            } => name.as_str() == "org.freedesktop.systemd1.NoSuchUnit",
            _ => false,
        }
    }
}

/// One `claudine-task-*.scope` unit as systemd lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitStatus {
    pub name: String,
    pub active_state: String,
}

/// What the daemon needs from a service manager. [`Systemd`] is the real
/// one; tests that run the daemon in-process on a machine without systemd
/// give it a stand-in. Futures are boxed so the trait can be a trait object.
pub trait Scopes: Send + Sync + 'static {
    /// Create `spec.unit` holding `spec.pid` and wait until it is started.
    fn start_scope<'a>(
        &'a self,
        spec: &'a ScopeSpec<'a>,
    ) -> BoxFuture<'a, Result<(), SystemdError>>;
    /// Stop a unit: SIGTERM to everything in it, SIGKILL after a timeout.
    fn stop_unit<'a>(&'a self, unit: &'a str) -> BoxFuture<'a, Result<(), SystemdError>>;
    /// Every loaded `claudine-task-*.scope`.
    fn list_task_scopes(&self) -> BoxFuture<'_, Result<Vec<UnitStatus>, SystemdError>>;
    /// Resolves when the connection to the manager is lost.
    fn disconnected(&self) -> BoxFuture<'_, ()>;
    /// True if process `pid` is inside `unit` (used before re-adopting a
    /// supervisor after a restart, so a recycled pid is never adopted).
    fn pid_in_unit(&self, pid: u32, unit: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .map(|s| {
                s.lines()
                    .any(|l| l.starts_with("0::") && l.trim_end().ends_with(&format!("/{unit}")))
            })
            .unwrap_or(false)
    }
}

pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

impl Scopes for Systemd {
    fn start_scope<'a>(
        &'a self,
        spec: &'a ScopeSpec<'a>,
    ) -> BoxFuture<'a, Result<(), SystemdError>> {
        Box::pin(Systemd::start_scope(self, spec))
    }
    fn stop_unit<'a>(&'a self, unit: &'a str) -> BoxFuture<'a, Result<(), SystemdError>> {
        Box::pin(Systemd::stop_unit(self, unit))
    }
    fn list_task_scopes(&self) -> BoxFuture<'_, Result<Vec<UnitStatus>, SystemdError>> {
        Box::pin(Systemd::list_task_scopes(self))
    }
    fn disconnected(&self) -> BoxFuture<'_, ()> {
        Box::pin(Systemd::disconnected(self))
    }
}

#[derive(Clone)]
pub struct Systemd {
    manager: ManagerProxy<'static>,
}

/// What a new scope is made of.
pub struct ScopeSpec<'a> {
    pub unit: &'a str,
    pub pid: u32,
    pub description: &'a str,
}

impl Systemd {
    pub async fn connect() -> Result<Systemd, SystemdError> {
        let conn = zbus::Connection::system()
            .await
            .map_err(SystemdError::Connect)?;
        let manager = ManagerProxy::new(&conn)
            .await
            .map_err(SystemdError::Connect)?;
        // Ask systemd to send us job and unit signals. An error here only
        // means we are already subscribed.
        let _ = manager.subscribe().await;
        Ok(Systemd { manager })
    }

    /// Create `spec.unit` in claudine.slice holding `spec.pid`, and wait
    /// until systemd reports the start job done.
    pub async fn start_scope(&self, spec: &ScopeSpec<'_>) -> Result<(), SystemdError> {
        let unit = spec.unit.to_string();
        let call = |source| SystemdError::Call {
            step: "StartTransientUnit",
            unit: unit.clone(),
            source,
        };
        // Subscribe before the call: the job may finish before the reply.
        let mut jobs = self.manager.receive_job_removed().await.map_err(call)?;
        let props: Vec<(&str, Value<'_>)> = vec![
            ("Description", Value::from(spec.description)),
            ("PIDs", Value::from(vec![spec.pid])),
            ("Slice", Value::from(SLICE)),
            ("MemoryAccounting", Value::from(true)),
            ("CPUAccounting", Value::from(true)),
            ("TasksAccounting", Value::from(true)),
            ("CollectMode", Value::from("inactive-or-failed")),
            (
                "TimeoutStopUSec",
                Value::from(STOP_TIMEOUT.as_micros() as u64),
            ),
        ];
        let job = self
            .manager
            .start_transient_unit(spec.unit, "fail", &props, &[])
            .await
            .map_err(call)?;
        let wait = async {
            while let Some(signal) = jobs.next().await {
                let Ok(args) = signal.args() else { continue };
                if args.job.as_str() == job.as_str() {
                    return Some(args.result.to_string());
                }
            }
            None
        };
        match tokio::time::timeout(JOB_TIMEOUT, wait).await {
            Ok(Some(result)) if result == "done" => Ok(()),
            Ok(Some(result)) => Err(SystemdError::JobFailed { unit, result }),
            Ok(None) => Err(SystemdError::JobFailed {
                unit,
                result: "signal stream ended".into(),
            }),
            Err(_) => Err(SystemdError::JobTimeout {
                unit,
                secs: JOB_TIMEOUT.as_secs(),
            }),
        }
    }

    /// Ask systemd to stop a scope: SIGTERM to every process in it, SIGKILL
    /// after [`STOP_TIMEOUT`]. Does not wait for the stop to finish.
    pub async fn stop_unit(&self, unit: &str) -> Result<(), SystemdError> {
        self.manager
            .stop_unit(unit, "replace")
            .await
            .map(|_| ())
            .map_err(|source| SystemdError::Call {
                step: "StopUnit",
                unit: unit.into(),
                source,
            })
    }

    /// Resolves when the bus connection is lost (the system bus restarted):
    /// the signal stream ends then. claudined exits and systemd restarts it;
    /// tasks are not affected and are adopted again.
    pub async fn disconnected(&self) {
        match self.manager.receive_job_removed().await {
            Ok(mut jobs) => while jobs.next().await.is_some() {},
            Err(e) => tracing::warn!("cannot watch the system bus connection: {e}"),
        }
    }

    /// Every loaded `claudine-task-*.scope`.
    pub async fn list_task_scopes(&self) -> Result<Vec<UnitStatus>, SystemdError> {
        let units = self
            .manager
            .list_units_by_patterns(&[], &["claudine-task-*.scope"])
            .await
            .map_err(|source| SystemdError::Call {
                step: "ListUnitsByPatterns",
                unit: "claudine-task-*.scope".into(),
                source,
            })?;
        Ok(units
            .into_iter()
            .map(|u| UnitStatus {
                name: u.0,
                active_state: u.3,
            })
            .collect())
    }
}
