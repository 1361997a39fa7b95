//! claudined: the claudine daemon. See `claudine::daemon`.

use anyhow::Context;
use claudine::config::{Config, DEFAULT_CONFIG_PATH};
use std::path::PathBuf;
use tracing_subscriber::prelude::*;

/// sysexits.h EX_CONFIG: claudine.service does not restart on it.
const EX_CONFIG: i32 = 78;

fn usage() -> ! {
    eprintln!("usage: claudined [--config PATH]\n\nRuns the claudine daemon (normally started by systemd as claudine.service).");
    std::process::exit(2)
}

fn main() {
    let mut config_path = PathBuf::from(DEFAULT_CONFIG_PATH);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" => config_path = args.next().map(PathBuf::from).unwrap_or_else(|| usage()),
            "--version" => {
                println!("claudined {}", env!("CARGO_PKG_VERSION"));
                return;
            }
            _ => usage(),
        }
    }
    // A bad configuration stops the daemon before it touches anything.
    let cfg = match Config::load(&config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("claudined: {e}");
            std::process::exit(EX_CONFIG);
        }
    };
    init_logging(&cfg.log_level);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build tokio runtime");
    if let Err(e) = rt
        .block_on(claudine::daemon::run(cfg))
        .context("claudined failed")
    {
        tracing::error!("{e:#}");
        eprintln!("claudined: {e:#}");
        // A store we refuse to open will not get better by restarting.
        let refused = matches!(
            e.downcast_ref::<claudine::store::StoreError>(),
            Some(
                claudine::store::StoreError::Corrupt { .. }
                    | claudine::store::StoreError::TooNew { .. }
            )
        ) || e
            .downcast_ref::<claudine::daemon::hooks::HookError>()
            .is_some();
        std::process::exit(if refused { EX_CONFIG } else { 1 });
    }
}

/// journald with structured fields (CLAUDINE_TASK_ID, CLAUDINE_USER,
/// CLAUDINE_STATE) when started by systemd, stderr otherwise.
fn init_logging(level: &str) {
    let filter = tracing_subscriber::filter::LevelFilter::from_level(
        level.parse().unwrap_or(tracing::Level::INFO),
    );
    let under_journal =
        std::env::var_os("JOURNAL_STREAM").is_some() || std::env::var_os("INVOCATION_ID").is_some();
    if under_journal {
        if let Ok(layer) = tracing_journald::layer() {
            let layer = layer
                .with_field_prefix(None)
                .with_syslog_identifier("claudined".into());
            tracing_subscriber::registry()
                .with(layer.with_filter(filter))
                .init();
            return;
        }
    }
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter),
        )
        .init();
}
