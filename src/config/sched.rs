//! The scheduler's keys: a profile and the values it sets, each overridable.
//!
//! | profile       | soft max | hard max | memory warning / critical per task |
//! |---------------|----------|----------|------------------------------------|
//! | `development` | 20       | 100      | none                               |
//! | `balanced`    | 10       | 50       | 2 GiB / none                       |
//! | `production`  | 5        | 20       | 1 GiB / 3 GiB                      |
//!
//! The soft maximum only raises `task:over-soft-max` when a start passes
//! it; the hard maximum is never passed; below it, resources alone decide.

use std::fmt;
use std::str::FromStr;

const GIB: u64 = 1 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    Development,
    #[default]
    Balanced,
    Production,
}

impl Profile {
    pub fn soft_max(self) -> usize {
        match self {
            Profile::Development => 20,
            Profile::Balanced => 10,
            Profile::Production => 5,
        }
    }

    pub fn hard_max(self) -> usize {
        match self {
            Profile::Development => 100,
            Profile::Balanced => 50,
            Profile::Production => 20,
        }
    }

    /// Critical memory per task (`task:critical-memory`), hard limit or not.
    pub fn memory_critical(self) -> Option<u64> {
        match self {
            Profile::Production => Some(3 * GIB),
            _ => None,
        }
    }

    pub fn memory_warn(self) -> Option<u64> {
        match self {
            Profile::Development => None,
            Profile::Balanced => Some(2 * GIB),
            Profile::Production => Some(GIB),
        }
    }
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "development" => Ok(Profile::Development),
            "balanced" => Ok(Profile::Balanced),
            "production" => Ok(Profile::Production),
            _ => Err(format!(
                "unknown profile {s:?}: expected development, balanced or production"
            )),
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Profile::Development => "development",
            Profile::Balanced => "balanced",
            Profile::Production => "production",
        })
    }
}

/// The scheduler's keys as written (all optional).
#[derive(Debug, Default)]
pub struct RawSched {
    pub profile: Option<String>,
    pub max_running: Option<i64>,
    pub soft_max_concurrent: Option<i64>,
    pub hard_max_concurrent: Option<i64>,
    pub memory_pressure_max_percent: Option<f64>,
    pub aging: Option<String>,
    pub head_hold: Option<String>,
    pub max_running_per_user: Option<i64>,
}

/// The scheduler's settings, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Sched {
    pub profile: Profile,
    pub soft_max: usize,
    pub hard_max: usize,
    pub memory_pressure_max_percent: f64,
    pub aging_ms: i64,
    pub head_hold_ms: i64,
    pub max_running_per_user: Option<usize>,
}

impl Default for Sched {
    fn default() -> Self {
        let p = Profile::default();
        Sched {
            profile: p,
            soft_max: p.soft_max(),
            hard_max: p.hard_max(),
            memory_pressure_max_percent: 10.0,
            aging_ms: 30 * 60_000,
            head_hold_ms: 5 * 60_000,
            max_running_per_user: None,
        }
    }
}

/// Resolve the keys; an error names the key and the problem.
pub fn resolve(raw: RawSched) -> Result<Sched, (&'static str, String)> {
    let profile: Profile = match raw.profile {
        Some(p) => p.parse().map_err(|e| ("profile", e))?,
        None => Profile::default(),
    };
    let count = |key: &'static str, v: i64| {
        if (1..=100_000).contains(&v) {
            Ok(v as usize)
        } else {
            Err((key, format!("must be in 1..=100000, got {v}")))
        }
    };
    let hard = match (raw.max_running, raw.hard_max_concurrent) {
        (Some(a), Some(b)) if a != b => {
            return Err((
                "max_running",
                format!("is another name for hard_max_concurrent: {a} and {b} contradict"),
            ))
        }
        (Some(v), _) => count("max_running", v)?,
        (None, Some(v)) => count("hard_max_concurrent", v)?,
        (None, None) => profile.hard_max(),
    };
    let soft = match raw.soft_max_concurrent {
        Some(v) => count("soft_max_concurrent", v)?,
        None => profile.soft_max().min(hard),
    };
    if soft > hard {
        return Err((
            "soft_max_concurrent",
            format!("{soft} is above the hard maximum {hard} (hard_max_concurrent or max_running)"),
        ));
    }
    let mut s = Sched {
        profile,
        soft_max: soft,
        hard_max: hard,
        ..Sched::default()
    };
    if let Some(v) = raw.memory_pressure_max_percent {
        if !(v > 0.0 && v <= 100.0) {
            return Err((
                "memory_pressure_max_percent",
                format!("must be in (0, 100], got {v}"),
            ));
        }
        s.memory_pressure_max_percent = v;
    }
    let minutes = |key: &'static str, v: &str| {
        let ms = crate::core::units::parse_positive_duration(v).map_err(|e| (key, e))?;
        if ms < 1000 {
            return Err((key, format!("must be at least 1s, got {v:?}")));
        }
        Ok(ms)
    };
    if let Some(v) = raw.aging {
        s.aging_ms = if v == "off" { 0 } else { minutes("aging", &v)? };
    }
    if let Some(v) = raw.head_hold {
        s.head_hold_ms = minutes("head_hold", &v)?;
    }
    if let Some(v) = raw.max_running_per_user {
        s.max_running_per_user = Some(count("max_running_per_user", v)?);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_set_their_values_and_keys_override_them() {
        let s = resolve(RawSched::default()).unwrap();
        assert_eq!(
            (s.profile, s.soft_max, s.hard_max),
            (Profile::Balanced, 10, 50)
        );
        let s = resolve(RawSched {
            profile: Some("production".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((s.soft_max, s.hard_max), (5, 20));
        let s = resolve(RawSched {
            profile: Some("development".into()),
            soft_max_concurrent: Some(30),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((s.soft_max, s.hard_max), (30, 100));
        // max_running below the profile's soft maximum lowers it too.
        let s = resolve(RawSched {
            max_running: Some(3),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((s.soft_max, s.hard_max), (3, 3));
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = |raw: RawSched| resolve(raw).unwrap_err();
        assert_eq!(
            err(RawSched {
                profile: Some("fast".into()),
                ..Default::default()
            }),
            (
                "profile",
                "unknown profile \"fast\": expected development, balanced or production".into()
            )
        );
        assert_eq!(
            err(RawSched {
                soft_max_concurrent: Some(60),
                ..Default::default()
            })
            .0,
            "soft_max_concurrent"
        );
        assert_eq!(
            err(RawSched {
                max_running: Some(4),
                hard_max_concurrent: Some(5),
                ..Default::default()
            })
            .0,
            "max_running"
        );
        assert_eq!(
            err(RawSched {
                hard_max_concurrent: Some(0),
                ..Default::default()
            })
            .0,
            "hard_max_concurrent"
        );
        assert_eq!(
            err(RawSched {
                memory_pressure_max_percent: Some(0.0),
                ..Default::default()
            })
            .0,
            "memory_pressure_max_percent"
        );
        assert_eq!(
            err(RawSched {
                aging: Some("soon".into()),
                ..Default::default()
            })
            .0,
            "aging"
        );
        assert_eq!(
            resolve(RawSched {
                aging: Some("off".into()),
                ..Default::default()
            })
            .unwrap()
            .aging_ms,
            0
        );
    }
}
