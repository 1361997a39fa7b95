//! The keys of protective mode (`core::protect`, at monitoring level
//! `protective`) and of periodic checkpoints.

use crate::core::protect::ProtectPolicy;

/// The keys as written (top level of the file).
#[derive(Debug, Default, Clone)]
pub struct RawProtect {
    pub protect_available_mb: Option<i64>,
    pub protect_pressure_percent: Option<f64>,
    pub protect_cold_after: Option<String>,
    pub checkpoint_interval: Option<String>,
}

/// Resolved settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtectConfig {
    /// Critical below this much MemAvailable; `None`: half the host's
    /// reserve (`min_available_memory_mb`).
    pub available_bytes: Option<u64>,
    pub pressure_percent: f64,
    pub cold_after_ms: i64,
    /// A running task is checkpointed this often (and at every suspend).
    pub checkpoint_interval_ms: i64,
}

impl Default for ProtectConfig {
    fn default() -> Self {
        let p = ProtectPolicy::default();
        ProtectConfig {
            available_bytes: None,
            pressure_percent: p.critical_pressure,
            cold_after_ms: p.cold_after_ms,
            checkpoint_interval_ms: 10 * 60_000,
        }
    }
}

impl ProtectConfig {
    /// The policy on a host whose reserve is `reserve_bytes`.
    pub fn policy(&self, reserve_bytes: u64) -> ProtectPolicy {
        let critical = self.available_bytes.unwrap_or(reserve_bytes / 2);
        ProtectPolicy {
            critical_available: critical,
            critical_pressure: self.pressure_percent,
            margin: (critical / 2).clamp(128 << 20, 256 << 20),
            cold_after_ms: self.cold_after_ms,
            ..ProtectPolicy::default()
        }
    }
}

/// Checks the keys; an error names the key.
pub fn resolve(raw: RawProtect) -> Result<ProtectConfig, (&'static str, String)> {
    let mut c = ProtectConfig::default();
    if let Some(v) = raw.protect_available_mb {
        if !(1..=1 << 30).contains(&v) {
            return Err((
                "protect_available_mb",
                format!("must be at least 1, got {v}"),
            ));
        }
        c.available_bytes = Some((v as u64) << 20);
    }
    if let Some(v) = raw.protect_pressure_percent {
        if !(v > 0.0 && v <= 100.0) {
            return Err((
                "protect_pressure_percent",
                format!("must be more than 0 and at most 100, got {v}"),
            ));
        }
        c.pressure_percent = v;
    }
    let dur = |key: &'static str, v: &str, min_ms: i64| {
        let ms = crate::core::units::parse_positive_duration(v).map_err(|e| (key, e))?;
        if ms < min_ms {
            return Err((
                key,
                format!("must be at least {} s, got {v:?}", min_ms / 1000),
            ));
        }
        Ok(ms)
    };
    if let Some(v) = &raw.protect_cold_after {
        c.cold_after_ms = dur("protect_cold_after", v, 10_000)?;
    }
    if let Some(v) = &raw.checkpoint_interval {
        c.checkpoint_interval_ms = dur("checkpoint_interval", v, 10_000)?;
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_reserve() {
        let p = ProtectConfig::default().policy(1 << 30);
        assert_eq!(p.critical_available, 512 << 20);
        assert_eq!(p.margin, 256 << 20);
        assert_eq!(p.cold_after_ms, 600_000);
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = resolve(RawProtect {
            protect_pressure_percent: Some(0.0),
            ..RawProtect::default()
        })
        .unwrap_err();
        assert_eq!(e.0, "protect_pressure_percent");
        let e = resolve(RawProtect {
            checkpoint_interval: Some("2s".into()),
            ..RawProtect::default()
        })
        .unwrap_err();
        assert_eq!(e.0, "checkpoint_interval");
        assert!(e.1.contains("at least 10 s"), "{}", e.1);
        let c = resolve(RawProtect {
            protect_available_mb: Some(300),
            protect_cold_after: Some("30s".into()),
            ..RawProtect::default()
        })
        .unwrap();
        assert_eq!(c.available_bytes, Some(300 << 20));
        assert_eq!(c.cold_after_ms, 30_000);
    }
}
