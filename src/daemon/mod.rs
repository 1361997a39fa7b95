//! claudined: set-up, the actor loop, and shutdown.
//!
//! Start-up order matters and is what `READY=1` promises: configuration
//! checked, state directory secured, store opened (refusing a corrupt or
//! newer one), systemd reachable, scopes reconciled, socket listening. Only
//! then does systemd consider the service started.
//!
//! Shutdown (SIGTERM from `systemctl stop/restart`) stops accepting, tells
//! systemd `STOPPING=1` and returns. Tasks keep running in their scopes; the
//! next start adopts them.

pub mod accounts;
pub mod actor;
mod checkpoint;
pub mod claude;
mod deps;
mod endings;
#[cfg(feature = "fault-injection")]
mod fault;
mod history_requests;
pub mod hooks;
mod launch;
mod list;
pub mod logs;
mod metrics;
pub mod monitor;
mod pidfd;
pub mod prom;
mod protect;
mod reconcile;
mod requests;
mod resources;
pub mod rlimits;
mod schedule;
mod server;
mod suspend;
mod top;
pub mod users;
mod worktree;

use crate::config::Config;
use actor::Actor;
use anyhow::Context;
use sd_notify::NotifyState;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tracing::info;

/// Run claudined against the system's systemd until SIGTERM or SIGINT.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate()).context("install SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("install SIGINT handler")?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    // Checked before connecting to the bus: a bad state directory or store
    // is reported as such even where the bus is down.
    prepare_state(&cfg)?;
    let systemd = crate::systemd::Systemd::connect().await?;
    run_with(cfg, Arc::new(systemd), shutdown).await
}

fn prepare_state(cfg: &Config) -> anyhow::Result<()> {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    secure_dir(&cfg.state_dir)?;
    secure_dir(&cfg.logs_dir())?;
    secure_dir(&cfg.exit_dir())?;
    Ok(())
}

/// Run claudined with the given service manager until `shutdown` resolves.
/// Tests call this with a stand-in for systemd and their own shutdown.
pub async fn run_with(
    cfg: Config,
    systemd: Arc<dyn crate::systemd::Scopes>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    prepare_state(&cfg)?;
    let cfg = Arc::new(cfg);
    let store = crate::store::Store::open(&cfg.db_path())?;
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let log_hub = logs::LogHub::start(&cfg.logs_dir())?;
    let accounts = accounts::Accounts::new(
        cfg.admin_group.clone(),
        accounts::DEFAULT_POSITIVE_TTL,
        accounts::DEFAULT_NEGATIVE_TTL,
        accounts::DEFAULT_LOOKUP_TIMEOUT,
    );
    // Hooks are part of the configuration: one that cannot run refuses the
    // start (claudined exits 78 for it, like any invalid configuration).
    let hooks = hooks::Hooks::start(&cfg.hooks)?;
    let mut actor = Actor::new(
        cfg.clone(),
        store,
        systemd,
        tx.clone(),
        log_hub,
        accounts.clone(),
    );
    actor.hooks = hooks;
    actor.learn_from_store();
    actor.claude_usage_from_store(actor::now_ms());
    // The sampler keeps about ten files open per running task; the base
    // limits a task starts from were taken above, before this.
    raise_open_files_limit();
    // The metrics endpoint is optional: an address in use is reported and
    // the daemon serves its socket all the same.
    if let Some(addr) = cfg.metrics_listen {
        match prom::MetricsServer::bind(&addr.to_string()) {
            Ok(server) => {
                let (mtx, mrx) = tokio::sync::watch::channel(prom::render(&Default::default()));
                actor.metrics = Some(mtx);
                info!("metrics endpoint on http://{}/metrics", server.local_addr());
                tokio::spawn(server.serve(mrx, std::future::pending::<()>()));
            }
            Err(e) => tracing::error!("metrics endpoint disabled: {e}"),
        }
    }
    actor
        .reconcile()
        .await
        .context("reconcile tasks with systemd")?;
    // A task suspended before the restart stays frozen.
    actor.refreeze_suspended();
    let listener = bind_socket(&cfg)?;
    let server = tokio::spawn(server::serve(listener, tx.clone(), cfg.clone(), accounts));
    start_sampler(&mut actor, &cfg, &tx)?;
    actor.sample_host();
    actor.apply_slice_budget().await;
    actor.schedule();
    let _ = sd_notify::notify(
        false,
        &[
            NotifyState::Ready,
            NotifyState::Status(&actor.status_line()),
        ],
    );
    info!(
        "claudined {} ready on {}: {}",
        env!("CARGO_PKG_VERSION"),
        cfg.socket.display(),
        actor.status_line()
    );

    let mut watchdog_usec = 0;
    let watchdog = sd_notify::watchdog_enabled(false, &mut watchdog_usec);
    let period = if watchdog {
        Duration::from_micros(watchdog_usec / 3)
    } else {
        Duration::from_secs(1)
    };
    let mut tick = tokio::time::interval(period.min(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    let mut last_status = String::new();
    let bus = actor.systemd.clone();
    let bus_lost = bus.disconnected();
    tokio::pin!(bus_lost);
    let mut result = Ok(());
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => actor.handle(ev),
                None => break,
            },
            _ = wakeup(actor.next_wakeup_ms()) => actor.wake(),
            _ = tick.tick() => {
                actor.tick();
                // The watchdog is fed from the loop that owns the state, so a
                // stuck loop is caught.
                if watchdog {
                    let _ = sd_notify::notify(false, &[NotifyState::Watchdog]);
                }
            }
            _ = &mut bus_lost => {
                result = Err(anyhow::anyhow!("lost the connection to the system bus"));
                break;
            }
            _ = &mut shutdown => break,
        }
        actor.schedule();
        actor.sync_monitor();
        actor.publish_events();
        let status = actor.status_line();
        if status != last_status {
            let _ = sd_notify::notify(false, &[NotifyState::Status(&status)]);
            last_status = status;
        }
    }
    let _ = sd_notify::notify(false, &[NotifyState::Stopping]);
    info!(
        "claudined stopping: {}; running tasks keep running in their scopes",
        actor.status_line()
    );
    server.abort();
    result
}

/// The monitor's sampler thread, and the log watcher's wake-up for output
/// of stalled tasks. Both only send events to the actor; both stop when the
/// actor's channel closes.
fn start_sampler(
    actor: &mut Actor,
    cfg: &Config,
    tx: &tokio::sync::mpsc::Sender<actor::Event>,
) -> anyhow::Result<()> {
    let output_tx = tx.clone();
    actor.logs.activity().set_notify(move |id, at_ms| {
        // A full channel only delays this to the next sample.
        let _ = output_tx.try_send(actor::Event::Output { id, at_ms });
    });
    actor.sync_monitor();
    let sampler = monitor::Sampler::new(
        crate::cgroup::CgroupReader::new(crate::cgroup::DEFAULT_ROOT.into()),
        "/proc".into(),
        Duration::from_millis(cfg.sample_interval_ms as u64),
        actor.monitor.targets.clone(),
        actor.logs.activity().clone(),
    );
    let tx = tx.clone();
    std::thread::Builder::new()
        .name("claudine-sampler".into())
        .spawn(move || sampler.run(|r| tx.blocking_send(actor::Event::Sampled(r)).is_ok()))
        .context("start the sampler thread")?;
    Ok(())
}

/// Soft RLIMIT_NOFILE up to the hard one (systemd's default soft limit of
/// 1024 is for select(2) users; claudined uses none).
fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid resource and struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                tracing::warn!(
                    "cannot raise the open files limit: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
    }
}

/// Sleeps until `at_ms` (wall clock), or forever when there is nothing to
/// wake for.
async fn wakeup(at_ms: Option<i64>) {
    match at_ms {
        Some(at) => {
            let ms = (at - actor::now_ms()).max(0) as u64;
            tokio::time::sleep(Duration::from_millis(ms)).await
        }
        None => std::future::pending().await,
    }
}

/// Create `dir` 0700 root if missing; refuse a symlink or a directory that
/// someone other than root could write to.
fn secure_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(e).with_context(|| format!("create state directory {}", dir.display()))
        }
    }
    let meta = std::fs::symlink_metadata(dir).with_context(|| format!("stat {}", dir.display()))?;
    if !meta.file_type().is_dir() {
        anyhow::bail!(
            "{} is not a directory (a symlink?); refusing to use it",
            dir.display()
        );
    }
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        anyhow::bail!(
            "{} is owned by uid {}, not by claudined's user; refusing to use it",
            dir.display(),
            meta.uid()
        );
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("chmod 0700 {}", dir.display()))?;
    }
    Ok(())
}

/// Bind the socket 0660 root:`socket_group` with no window of a wider mode.
fn bind_socket(cfg: &Config) -> anyhow::Result<tokio::net::UnixListener> {
    let path = &cfg.socket;
    let group = nix::unistd::Group::from_name(&cfg.socket_group)
        .with_context(|| format!("look up group {}", cfg.socket_group))?
        .with_context(|| format!("group {:?} (socket_group) does not exist", cfg.socket_group))?;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            anyhow::bail!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("remove stale socket {}", path.display()))?;
    }
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o117));
    let listener = tokio::net::UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = listener.with_context(|| format!("bind {}", path.display()))?;
    nix::unistd::chown(path, None, Some(group.gid))
        .with_context(|| format!("chown {} to group {}", path.display(), cfg.socket_group))?;
    Ok(listener)
}
