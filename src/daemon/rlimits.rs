//! The resource limits a task gets: those a login of its user would get, not
//! claudined's own.
//!
//! A login starts from the limits systemd gives the services it spawns
//! (`DefaultLimit*=` in system.conf) and pam_limits then applies
//! `/etc/security/limits.conf` and `/etc/security/limits.d/*.conf`. claudined
//! is such a service, so [`own_limits`], read at start, is that base;
//! [`load_rules`] reads the files and [`login_limits`] applies them for one
//! account, as pam_limits would. All values are in the kernel's units (bytes,
//! seconds, counts; `nice` as the rlimit `20 - nice`), as `setrlimit` takes
//! them; `None` is unlimited.
//!
//! # The subset of pam_limits(8) and limits.conf(5) followed
//!
//! - Files: `limits.conf`, then the `*.conf` files of `limits.d` (not hidden
//!   ones) sorted by name, bytewise. Missing files are fine; unreadable ones
//!   are reported. As in pam, the result is the same as if they were one file.
//! - Lines: `<domain> <type> <item> <value>`; `#` starts a comment anywhere;
//!   type, item and value are case-insensitive.
//! - Domains: a user name; `@group` (any of the user's groups); `*`;
//!   `min:max`, `min:`, `:uid` uid ranges; `@min:max`, `@min:` ranges of the
//!   primary gid and `@:gid` (any of the user's groups). `%`, `%group` and
//!   `%:gid` count only for `maxlogins` and are ignored.
//! - Root: as in Debian's pam_limits, `*` and `@` rules do not apply to uid 0;
//!   only its literal name `root` or a uid range does.
//! - Types: `soft`, `hard`, `-` (both).
//! - Values: a decimal number, or `unlimited`, `infinity`, `-1`, `-` for
//!   "no limit" (for `nice`, a number from -20 to 19, clamped). Sizes are in
//!   KiB (core, data, fsize, memlock, rss, stack, as) and cpu in minutes, as
//!   pam counts them. `nofile unlimited` becomes `/proc/sys/fs/nr_open`.
//! - Items: core, data, fsize, memlock, nofile, rss, stack, cpu, nproc, as,
//!   locks, sigpending, msgqueue, nice, rtprio. `maxlogins`,
//!   `maxsyslogins`, `priority`, `nonewprivs` and `chroot` are not limits of
//!   a process and are skipped without a word; `rttime` and unknown items are
//!   skipped with a warning.
//! - Precedence: a rule for the user (name or uid range) beats a group rule,
//!   which beats `*`; within a class a later line overrides an earlier one.
//!   Like pam, a `-` rule whose soft half loses to a stronger class does not
//!   set its hard half either.
//! - `<domain> -` (two fields): no limits for that user or group: the task
//!   gets the base limits unchanged, whatever other lines say.
//! - Finally soft is clamped to hard.
//!
//! Stricter than pam: a value with trailing text (`10abc`, `10 20`), which
//! pam reads as its leading number, is a malformed line here and skipped.
//! Malformed lines are never fatal: they are skipped and reported as
//! warnings for the daemon to log.
//!
//! Not followed: Debian's pam_limits starts from PID 1's limits
//! (`/proc/1/limits`) rather than the calling service's; systemd's PID 1
//! keeps much higher limits for itself than it hands to services (see
//! linux-pam issue 85), so the service base is the one used here.

use super::users::Account;
use crate::supervise::spec::RlimitSpec;
use std::path::Path;

/// Where pam_limits' files live.
pub const SECURITY_DIR: &str = "/etc/security";
/// What `nofile unlimited` becomes (pam_limits reads the same file).
const NR_OPEN: &str = "/proc/sys/fs/nr_open";

/// The limits a task gets, by their limits.conf names.
pub const RESOURCES: [&str; 15] = [
    "core",
    "data",
    "fsize",
    "memlock",
    "nofile",
    "rss",
    "stack",
    "cpu",
    "nproc",
    "as",
    "locks",
    "sigpending",
    "msgqueue",
    "nice",
    "rtprio",
];

/// claudined's own limits, read with getrlimit: the base a login starts from.
/// A resource the kernel does not know is left out.
pub fn own_limits() -> Vec<RlimitSpec> {
    RESOURCES
        .iter()
        .filter_map(|&name| {
            let (soft, hard) = getrlimit(name)?;
            Some(RlimitSpec {
                resource: name.to_string(),
                soft,
                hard,
            })
        })
        .collect()
}

fn getrlimit(name: &str) -> Option<(Option<u64>, Option<u64>)> {
    let resource = match name {
        "core" => libc::RLIMIT_CORE,
        "data" => libc::RLIMIT_DATA,
        "fsize" => libc::RLIMIT_FSIZE,
        "memlock" => libc::RLIMIT_MEMLOCK,
        "nofile" => libc::RLIMIT_NOFILE,
        "rss" => libc::RLIMIT_RSS,
        "stack" => libc::RLIMIT_STACK,
        "cpu" => libc::RLIMIT_CPU,
        "nproc" => libc::RLIMIT_NPROC,
        "as" => libc::RLIMIT_AS,
        "locks" => libc::RLIMIT_LOCKS,
        "sigpending" => libc::RLIMIT_SIGPENDING,
        "msgqueue" => libc::RLIMIT_MSGQUEUE,
        "nice" => libc::RLIMIT_NICE,
        "rtprio" => libc::RLIMIT_RTPRIO,
        _ => return None,
    };
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `struct rlimit` to a valid pointer.
    if unsafe { libc::getrlimit(resource, &mut rl) } != 0 {
        return None;
    }
    // rlim_t is narrower than u64 on some 32-bit targets.
    #[allow(clippy::useless_conversion)]
    let value = |v: libc::rlim_t| (v != libc::RLIM_INFINITY).then(|| u64::from(v));
    Some((value(rl.rlim_cur), value(rl.rlim_max)))
}

/// The rules of limits.conf and limits.d, parsed; apply them with
/// [`login_limits`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedLimits {
    lines: Vec<Line>,
    /// What `nofile unlimited` becomes (`/proc/sys/fs/nr_open`); with `None`
    /// it stays unlimited.
    pub nofile_unlimited: Option<u64>,
}

impl ParsedLimits {
    /// True when no line changes anything.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    Limit {
        domain: Domain,
        soft: bool,
        hard: bool,
        resource: usize,
        value: Value,
    },
    /// `<domain> -`: no limits at all for whoever the domain matches.
    NoLimits(Domain),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value {
    Limit(u64),
    Unlimited,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Domain {
    User(String),
    Uids {
        min: u32,
        max: Option<u32>,
    },
    Group(String),
    /// `@:gid`: any of the user's groups.
    GroupGid(u32),
    /// `@min:max`, `@min:`: the primary group only.
    PrimaryGids {
        min: u32,
        max: Option<u32>,
    },
    Wildcard,
    /// `%...`: maxlogins only, never a process limit.
    Logins,
}

/// pam_limits' classes: the lowest that set a limit wins.
const CLASS_USER: u8 = 0;
const CLASS_GROUP: u8 = 1;
const CLASS_DEFAULT: u8 = 4;
const CLASS_NONE: u8 = u8::MAX;

impl Domain {
    fn parse(domain: &str) -> Result<Domain, String> {
        let (prefix, body) = match domain.as_bytes().first() {
            Some(b'@') => (Some('@'), &domain[1..]),
            Some(b'%') => (Some('%'), &domain[1..]),
            _ => (None, domain),
        };
        let Some((min, max)) = body.split_once(':') else {
            return Ok(match prefix {
                _ if domain == "*" => Domain::Wildcard,
                Some('@') => Domain::Group(body.to_string()),
                Some(_) => Domain::Logins,
                None => Domain::User(domain.to_string()),
            });
        };
        let bad = || format!("invalid uid/gid range {domain:?}");
        let number = |s: &str| {
            if s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse::<u32>().ok()
            } else {
                None
            }
        };
        let exact = min.is_empty();
        let (min, max) = match (exact, max.is_empty()) {
            (true, true) => return Err(bad()),
            (true, false) => {
                let id = number(max).ok_or_else(bad)?;
                (id, Some(id))
            }
            (false, true) => (number(min).ok_or_else(bad)?, None),
            (false, false) => (
                number(min).ok_or_else(bad)?,
                Some(number(max).ok_or_else(bad)?),
            ),
        };
        Ok(match prefix {
            Some('@') if exact => Domain::GroupGid(min),
            Some('@') => Domain::PrimaryGids { min, max },
            Some(_) => Domain::Logins,
            None => Domain::Uids { min, max },
        })
    }

    /// The class this domain gives `acct`'s limits, if it matches `acct`.
    fn class_for(&self, acct: &Account) -> Option<u8> {
        let in_range =
            |id: u32, min: u32, max: Option<u32>| id >= min && !matches!(max, Some(m) if id > m);
        let matched = match self {
            Domain::User(name) => return (acct.name == *name).then_some(CLASS_USER),
            Domain::Uids { min, max } => {
                return in_range(acct.uid, *min, *max).then_some(CLASS_USER)
            }
            Domain::Logins => return None,
            // Group and wildcard rules are not for root (Debian's pam_limits).
            _ if acct.uid == 0 => return None,
            Domain::Group(name) => acct.group_names.contains(name),
            Domain::GroupGid(gid) => acct.gid == *gid || acct.groups.contains(gid),
            Domain::PrimaryGids { min, max } => in_range(acct.gid, *min, *max),
            Domain::Wildcard => return Some(CLASS_DEFAULT),
        };
        matched.then_some(CLASS_GROUP)
    }
}

/// Items of limits.conf that are not process limits: skipped silently.
const NOT_PROCESS_LIMITS: [&str; 5] = [
    "maxlogins",
    "maxsyslogins",
    "priority",
    "nonewprivs",
    "chroot",
];

/// Parse limits.conf-style texts, given as (name for messages, contents), in
/// the order pam reads them. Returns the rules and a warning per skipped
/// line.
pub fn parse_rules(files: &[(String, String)]) -> (ParsedLimits, Vec<String>) {
    let mut parsed = ParsedLimits::default();
    let mut warnings = Vec::new();
    for (name, text) in files {
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            match parse_line(line) {
                Ok(Some(l)) => parsed.lines.push(l),
                Ok(None) => {}
                Err(why) => warnings.push(format!("{name}:{}: {why}; line skipped: {line}", i + 1)),
            }
        }
    }
    (parsed, warnings)
}

fn parse_line(line: &str) -> Result<Option<Line>, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let domain = Domain::parse(fields[0])?;
    let kind = fields
        .get(1)
        .map(|t| t.to_ascii_lowercase())
        .unwrap_or_default();
    if fields.len() == 2 && kind.starts_with('-') {
        return Ok(Some(Line::NoLimits(domain)));
    }
    if fields.len() != 4 {
        return Err(format!(
            "expected 4 fields (<domain> <type> <item> <value>), found {}",
            fields.len()
        ));
    }
    let item = fields[2].to_ascii_lowercase();
    let value = fields[3].to_ascii_lowercase();
    if NOT_PROCESS_LIMITS.contains(&item.as_str()) {
        return Ok(None);
    }
    let Some(resource) = RESOURCES.iter().position(|r| *r == item) else {
        return Err(format!("item {item:?} is not a limit claudine sets"));
    };
    let (soft, hard) = match kind.as_str() {
        "soft" => (true, false),
        "hard" => (false, true),
        "-" => (true, true),
        _ => return Err(format!("unknown type {kind:?} (soft, hard or -)")),
    };
    let value =
        parse_value(&item, &value).ok_or_else(|| format!("invalid value {value:?} for {item}"))?;
    if domain == Domain::Logins {
        return Err("'%' domains are for maxlogins only".to_string());
    }
    Ok(Some(Line::Limit {
        domain,
        soft,
        hard,
        resource,
        value,
    }))
}

/// A limits.conf value in the kernel's units.
fn parse_value(item: &str, value: &str) -> Option<Value> {
    if item == "nice" {
        let (negative, digits) = match value.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, value.strip_prefix('+').unwrap_or(value)),
        };
        let n = i64::try_from(decimal(digits)?.min(100)).ok()?;
        let nice = if negative { -n } else { n }.clamp(-20, 19);
        return Some(Value::Limit(u64::try_from(20 - nice).ok()?));
    }
    if matches!(value, "-1" | "-" | "unlimited" | "infinity") {
        return Some(Value::Unlimited);
    }
    let n = decimal(value)?;
    let scale = match item {
        "cpu" => 60,
        "core" | "data" | "fsize" | "memlock" | "rss" | "stack" | "as" => 1024,
        _ => 1,
    };
    // As pam: a value that would reach RLIM_INFINITY is unlimited.
    Some(if n >= u64::MAX / scale {
        Value::Unlimited
    } else {
        Value::Limit(n * scale)
    })
}

/// Decimal digits only; too large reads as `u64::MAX` (strtoull's answer).
fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().unwrap_or(u64::MAX))
}

/// Read `dir/limits.conf` and `dir/limits.d/*.conf` as pam_limits does, and
/// `/proc/sys/fs/nr_open`. Never fails: what cannot be read is a warning.
pub fn load_rules(dir: &Path) -> (ParsedLimits, Vec<String>) {
    let mut warnings = Vec::new();
    let mut paths = vec![dir.join("limits.conf")];
    let d = dir.join("limits.d");
    match std::fs::read_dir(&d) {
        Ok(entries) => {
            let mut names: Vec<_> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .filter(|n| {
                    let n = n.as_encoded_bytes();
                    n.ends_with(b".conf") && !n.starts_with(b".")
                })
                .collect();
            names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
            paths.extend(names.into_iter().map(|n| d.join(n)));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => warnings.push(format!("cannot list {}: {e}", d.display())),
    }
    let mut files = Vec::new();
    for path in paths {
        match std::fs::read(&path) {
            Ok(bytes) => files.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // pam reads a directory called x.conf as an empty file.
            Err(_) if path.is_dir() => {}
            Err(e) => warnings.push(format!("cannot read {}: {e}", path.display())),
        }
    }
    let (mut parsed, more) = parse_rules(&files);
    warnings.extend(more);
    parsed.nofile_unlimited = std::fs::read_to_string(NR_OPEN)
        .ok()
        .and_then(|s| s.trim().parse().ok());
    (parsed, warnings)
}

/// The limits a login of `acct` gets: `base` with `rules` applied as
/// pam_limits applies them (see the module documentation). Pure.
pub fn login_limits(base: &[RlimitSpec], acct: &Account, rules: &ParsedLimits) -> Vec<RlimitSpec> {
    let no_limits = rules.lines.iter().any(|l| match l {
        Line::NoLimits(domain) => *domain != Domain::Wildcard && domain.class_for(acct).is_some(),
        Line::Limit { .. } => false,
    });
    if no_limits {
        return base.to_vec();
    }
    struct Slot {
        soft: Option<u64>,
        hard: Option<u64>,
        soft_class: u8,
        hard_class: u8,
    }
    let mut slots: Vec<Slot> = RESOURCES
        .iter()
        .map(|_| Slot {
            soft: None,
            hard: None,
            soft_class: CLASS_NONE,
            hard_class: CLASS_NONE,
        })
        .collect();
    for line in &rules.lines {
        let Line::Limit {
            domain,
            soft,
            hard,
            resource,
            value,
        } = line
        else {
            continue;
        };
        let Some(class) = domain.class_for(acct) else {
            continue;
        };
        let value = match value {
            Value::Limit(n) => Some(*n),
            Value::Unlimited if RESOURCES[*resource] == "nofile" => rules.nofile_unlimited,
            Value::Unlimited => None,
        };
        let slot = &mut slots[*resource];
        // pam_limits' order, including its early return: a soft half that
        // loses leaves the hard half alone too.
        if *soft {
            if slot.soft_class < class {
                continue;
            }
            slot.soft = value;
            slot.soft_class = class;
        }
        if *hard {
            if slot.hard_class < class {
                continue;
            }
            slot.hard = value;
            slot.hard_class = class;
        }
    }
    let mut out: Vec<RlimitSpec> = base.to_vec();
    for (i, slot) in slots.iter().enumerate() {
        if slot.soft_class == CLASS_NONE && slot.hard_class == CLASS_NONE {
            continue;
        }
        let name = RESOURCES[i];
        let at = match out.iter().position(|s| s.resource == name) {
            Some(at) => at,
            None => {
                out.push(RlimitSpec {
                    resource: name.to_string(),
                    soft: None,
                    hard: None,
                });
                out.len() - 1
            }
        };
        let spec = &mut out[at];
        if slot.soft_class != CLASS_NONE {
            spec.soft = slot.soft;
        }
        if slot.hard_class != CLASS_NONE {
            spec.hard = slot.hard;
        }
    }
    for spec in &mut out {
        if let Some(hard) = spec.hard {
            spec.soft = Some(spec.soft.map_or(hard, |soft| soft.min(hard)));
        }
    }
    out
}

#[cfg(test)]
#[path = "rlimits_tests.rs"]
mod tests;
