//! [`Systemd`]: the [`Scopes`] of the real service manager, over the system
//! bus with zbus.
//!
//! Waits are race-free by ordering: subscribe to the signal first
//! (`JobRemoved`, `UnitRemoved`), then make the call, then wait for the
//! signal that names the returned job or the unit.

use super::{
    BoxFuture, ScopeProperties, ScopeSpec, Scopes, SystemdError, UnitStatus, DAEMON_UNIT,
    GONE_TIMEOUT, JOB_TIMEOUT, SLICE, STOP_TIMEOUT,
};
use futures_util::StreamExt;
use zbus::zvariant::{OwnedObjectPath, Value};

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

    fn get_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;

    fn set_unit_properties(
        &self,
        name: &str,
        runtime: bool,
        properties: &[(&str, Value<'_>)],
    ) -> zbus::Result<()>;

    fn freeze_unit(&self, name: &str) -> zbus::Result<()>;

    fn thaw_unit(&self, name: &str) -> zbus::Result<()>;

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

    #[zbus(signal)]
    fn unit_removed(&self, id: &str, unit: zbus::zvariant::ObjectPath<'_>) -> zbus::Result<()>;
}

#[derive(Clone)]
pub struct Systemd {
    conn: zbus::Connection,
    manager: ManagerProxy<'static>,
}

fn call(step: &'static str, unit: &str) -> impl FnOnce(zbus::Error) -> SystemdError {
    let unit = unit.to_string();
    move |source| SystemdError::Call { step, unit, source }
}

/// The unit properties for `p`, in systemd's names and types.
fn properties(p: &ScopeProperties) -> Vec<(&'static str, Value<'static>)> {
    let mut v = Vec::new();
    for (name, value) in [
        ("MemoryHigh", p.memory_high),
        ("MemoryMax", p.memory_max),
        ("TasksMax", p.tasks_max),
        ("CPUWeight", p.cpu_weight),
        ("CPUQuotaPerSecUSec", p.cpu_quota_per_sec_usec),
    ] {
        if let Some(x) = value {
            v.push((name, Value::from(x)));
        }
    }
    v
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
        Ok(Systemd { conn, manager })
    }

    /// Create `spec.unit` in claudine.slice holding `spec.pid`, and wait
    /// until systemd reports the start job done.
    pub async fn start_scope(&self, spec: &ScopeSpec<'_>) -> Result<(), SystemdError> {
        let unit = spec.unit.to_string();
        // Subscribe before the call: the job may finish before the reply.
        let mut jobs = self
            .manager
            .receive_job_removed()
            .await
            .map_err(call("StartTransientUnit", &unit))?;
        let mut props: Vec<(&str, Value<'_>)> = vec![
            ("Description", Value::from(spec.description)),
            ("PIDs", Value::from(vec![spec.pid])),
            ("Slice", Value::from(SLICE)),
            ("MemoryAccounting", Value::from(true)),
            ("CPUAccounting", Value::from(true)),
            ("TasksAccounting", Value::from(true)),
            ("CollectMode", Value::from("inactive-or-failed")),
            // At a shutdown claudined stops before the task scopes: it does
            // not see them stopped, and its next start tells a run lost to
            // the shutdown (the supervisor's record says its scope was
            // stopped) from a command's own end.
            ("Before", Value::from(vec![DAEMON_UNIT])),
            (
                "TimeoutStopUSec",
                Value::from(STOP_TIMEOUT.as_micros() as u64),
            ),
        ];
        props.extend(properties(spec.properties));
        let job = self
            .manager
            .start_transient_unit(spec.unit, "fail", &props, &[])
            .await
            .map_err(call("StartTransientUnit", &unit))?;
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

    /// Ask systemd to stop a unit: SIGTERM to every process in it, SIGKILL
    /// after [`STOP_TIMEOUT`]. Does not wait for the stop to finish.
    pub async fn stop_unit(&self, unit: &str) -> Result<(), SystemdError> {
        self.manager
            .stop_unit(unit, "replace")
            .await
            .map(|_| ())
            .map_err(call("StopUnit", unit))
    }

    /// True while systemd has `unit` loaded.
    async fn loaded(&self, unit: &str) -> Result<bool, SystemdError> {
        match self
            .manager
            .get_unit(unit)
            .await
            .map_err(call("GetUnit", unit))
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_no_such_unit() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Stop `unit` and wait until it is unloaded. With CollectMode
    /// `inactive-or-failed` systemd unloads a scope as soon as it is inactive;
    /// `UnitRemoved` says so.
    pub async fn stop_and_wait_gone(&self, unit: &str) -> Result<(), SystemdError> {
        let mut removed = self
            .manager
            .receive_unit_removed()
            .await
            .map_err(call("subscribe UnitRemoved", unit))?;
        match self.stop_unit(unit).await {
            Ok(()) => {}
            Err(e) if e.is_no_such_unit() => return Ok(()),
            Err(e) => return Err(e),
        }
        let wait = async {
            loop {
                if !self.loaded(unit).await? {
                    return Ok(());
                }
                // Re-check at least every second: a signal is only a hint.
                let next = tokio::time::timeout(std::time::Duration::from_secs(1), async {
                    while let Some(sig) = removed.next().await {
                        if sig.args().is_ok_and(|a| a.id == unit) {
                            return;
                        }
                    }
                })
                .await;
                drop(next);
            }
        };
        tokio::time::timeout(GONE_TIMEOUT, wait)
            .await
            .unwrap_or(Err(SystemdError::GoneTimeout {
                unit: unit.into(),
                secs: GONE_TIMEOUT.as_secs(),
            }))
    }

    pub async fn set_properties(
        &self,
        unit: &str,
        props: &ScopeProperties,
    ) -> Result<(), SystemdError> {
        self.manager
            .set_unit_properties(unit, true, &properties(props))
            .await
            .map_err(call("SetUnitProperties", unit))
    }

    /// FreezeUnit: systemd answers once the cgroup is frozen.
    pub async fn freeze(&self, unit: &str) -> Result<(), SystemdError> {
        self.manager
            .freeze_unit(unit)
            .await
            .map_err(call("FreezeUnit", unit))
    }

    pub async fn thaw(&self, unit: &str) -> Result<(), SystemdError> {
        self.manager
            .thaw_unit(unit)
            .await
            .map_err(call("ThawUnit", unit))
    }

    /// The unit's `ControlGroup` property, `None` if the unit is not loaded.
    pub async fn unit_cgroup(&self, unit: &str) -> Result<Option<String>, SystemdError> {
        let path = match self
            .manager
            .get_unit(unit)
            .await
            .map_err(call("GetUnit", unit))
        {
            Ok(p) => p,
            Err(e) if e.is_no_such_unit() => return Ok(None),
            Err(e) => return Err(e),
        };
        let proxy = zbus::Proxy::new(
            &self.conn,
            "org.freedesktop.systemd1",
            path,
            "org.freedesktop.systemd1.Scope",
        )
        .await
        .map_err(call("get ControlGroup of", unit))?;
        let cgroup: String = proxy
            .get_property("ControlGroup")
            .await
            .map_err(call("get ControlGroup of", unit))?;
        Ok((!cgroup.is_empty()).then_some(cgroup))
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
            .map_err(call("ListUnitsByPatterns", "claudine-task-*.scope"))?;
        Ok(units
            .into_iter()
            .map(|u| UnitStatus {
                name: u.0,
                active_state: u.3,
            })
            .collect())
    }
}

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
    fn stop_and_wait_gone<'a>(&'a self, unit: &'a str) -> BoxFuture<'a, Result<(), SystemdError>> {
        Box::pin(Systemd::stop_and_wait_gone(self, unit))
    }
    fn set_properties<'a>(
        &'a self,
        unit: &'a str,
        props: &'a ScopeProperties,
    ) -> BoxFuture<'a, Result<(), SystemdError>> {
        Box::pin(Systemd::set_properties(self, unit, props))
    }
    fn freeze<'a>(&'a self, unit: &'a str) -> BoxFuture<'a, Result<(), SystemdError>> {
        Box::pin(Systemd::freeze(self, unit))
    }
    fn thaw<'a>(&'a self, unit: &'a str) -> BoxFuture<'a, Result<(), SystemdError>> {
        Box::pin(Systemd::thaw(self, unit))
    }
    fn unit_cgroup<'a>(
        &'a self,
        unit: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, SystemdError>> {
        Box::pin(Systemd::unit_cgroup(self, unit))
    }
    fn list_task_scopes(&self) -> BoxFuture<'_, Result<Vec<UnitStatus>, SystemdError>> {
        Box::pin(Systemd::list_task_scopes(self))
    }
    fn disconnected(&self) -> BoxFuture<'_, ()> {
        Box::pin(Systemd::disconnected(self))
    }
}
