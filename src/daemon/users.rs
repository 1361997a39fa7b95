//! Who is calling, from the socket's peer credentials and the user and group
//! databases, and the environment a task of theirs starts with.
//!
//! The lookups here block: with sssd, LDAP or NIS behind NSS they can take
//! seconds or hang. Async code and the actor go through
//! [`super::accounts::Accounts`], which runs these on the blocking pool with a
//! timeout and caches the answers.

use nix::unistd::{Gid, Group, Uid, User};
use std::collections::BTreeMap;
use std::ffi::CString;

/// The caller of one request. `uid`/`gid` come from SO_PEERCRED only, never
/// from anything the client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
    /// Root, or a member of the admin group: sees and controls every task.
    pub admin: bool,
}

impl Caller {
    pub fn may_see(&self, owner_uid: u32) -> bool {
        self.admin || self.uid == owner_uid
    }
}

/// A user's account as a task needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
    pub home: String,
    pub shell: String,
    /// Supplementary groups, the primary one included.
    pub groups: Vec<u32>,
    /// The names of `groups` that have one (for limits.conf `@group` rules),
    /// in the same order; a gid without a group entry has no name here.
    pub group_names: Vec<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum UserError {
    #[error("uid {0} has no entry in the user database")]
    NoSuchUid(u32),
    #[error("cannot look up uid {uid}: {source}")]
    Lookup { uid: u32, source: nix::Error },
    #[error("cannot look up user {name:?}: {source}")]
    LookupName { name: String, source: nix::Error },
    #[error("cannot look up group {group:?}: {source}")]
    LookupGroup { group: String, source: nix::Error },
    #[error("cannot read the groups of {user}: {source}")]
    Groups { user: String, source: nix::Error },
    #[error(
        "the user database did not answer for {what} within {secs} s (is sssd/LDAP responding?)"
    )]
    Timeout { what: String, secs: u64 },
    #[error("user database busy: {in_flight} lookups are already waiting for it; cannot look up {what} now")]
    Busy { what: String, in_flight: usize },
    #[error("the lookup of {what} ended without an answer")]
    Lost { what: String },
}

/// A user's account, read from the user and group databases. Blocking.
pub fn account(uid: u32) -> Result<Account, UserError> {
    let user = User::from_uid(Uid::from_raw(uid))
        .map_err(|source| UserError::Lookup { uid, source })?
        .ok_or(UserError::NoSuchUid(uid))?;
    let cname = CString::new(user.name.clone()).map_err(|_| UserError::NoSuchUid(uid))?;
    let groups: Vec<u32> = nix::unistd::getgrouplist(&cname, user.gid)
        .map_err(|source| UserError::Groups {
            user: user.name.clone(),
            source,
        })?
        .into_iter()
        .map(|g| g.as_raw())
        .collect();
    let mut group_names = Vec::with_capacity(groups.len());
    for &gid in &groups {
        match Group::from_gid(Gid::from_raw(gid)) {
            Ok(Some(g)) => group_names.push(g.name),
            Ok(None) => {}
            Err(source) => {
                return Err(UserError::Groups {
                    user: user.name.clone(),
                    source,
                })
            }
        }
    }
    Ok(Account {
        uid,
        gid: user.gid.as_raw(),
        name: user.name,
        home: user.dir.to_string_lossy().into_owned(),
        shell: user.shell.to_string_lossy().into_owned(),
        groups,
        group_names,
    })
}

/// The uid of the user called `name`, if there is one. Blocking.
pub fn uid_of(name: &str) -> Result<Option<u32>, UserError> {
    if name.contains('\0') {
        return Ok(None);
    }
    User::from_name(name)
        .map(|u| u.map(|u| u.uid.as_raw()))
        .map_err(|source| UserError::LookupName {
            name: name.to_string(),
            source,
        })
}

/// The gid of the group called `name`, if there is one. Blocking.
pub fn gid_of(group: &str) -> Result<Option<u32>, UserError> {
    if group.contains('\0') {
        return Ok(None);
    }
    Group::from_name(group)
        .map(|g| g.map(|g| g.gid.as_raw()))
        .map_err(|source| UserError::LookupGroup {
            group: group.to_string(),
            source,
        })
}

/// Whether a caller is an administrator: root, or the admin group is its
/// primary group (from the peer credentials) or one of its account's groups.
pub fn is_admin(uid: u32, peer_gid: u32, acct: &Account, admin_gid: Option<u32>) -> bool {
    uid == 0 || admin_gid.is_some_and(|g| peer_gid == g || acct.groups.contains(&g))
}

/// Resolve the caller of a connection. `admin_group` may not exist. Blocking.
pub fn caller(uid: u32, gid: u32, admin_group: &str) -> Result<Caller, UserError> {
    let acct = account(uid)?;
    let admin_gid = gid_of(admin_group).ok().flatten();
    Ok(Caller {
        uid,
        gid,
        admin: is_admin(uid, gid, &acct, admin_gid),
        name: acct.name,
    })
}

/// Variables a task may never set: they would let it talk to systemd or the
/// journal as if it were claudined.
pub const RESERVED_ENV: &[&str] = &[
    "NOTIFY_SOCKET",
    "LISTEN_PID",
    "LISTEN_FDS",
    "LISTEN_FDNAMES",
    "WATCHDOG_PID",
    "WATCHDOG_USEC",
    "INVOCATION_ID",
    "JOURNAL_STREAM",
    "SYSTEMD_EXEC_PID",
];

/// Check one `--env` entry; returns the problem in words.
pub fn check_env_entry(key: &str, value: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("environment variable with an empty name".into());
    }
    if key.contains(['=', '\0']) {
        return Err(format!("invalid environment variable name {key:?}"));
    }
    if value.contains('\0') {
        return Err(format!("environment variable {key} contains a NUL byte"));
    }
    if RESERVED_ENV.contains(&key) {
        return Err(format!(
            "environment variable {key} is reserved and cannot be set"
        ));
    }
    Ok(())
}

const USER_PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games";
const ROOT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The PATH a login of `uid` gets.
pub fn login_path(uid: u32) -> &'static str {
    if uid == 0 {
        ROOT_PATH
    } else {
        USER_PATH
    }
}

/// The complete environment of a task: a login-like base for the account
/// (HOME, USER, LOGNAME, SHELL, PATH, LANG) with the submitted variables on
/// top, or, with `inherit`, the submitted environment as it is. Reserved
/// variables are dropped either way.
pub fn task_env(
    acct: &Account,
    extra: &[(String, String)],
    inherit: bool,
) -> Vec<(String, String)> {
    let mut env = BTreeMap::new();
    if !inherit {
        env.insert("HOME".to_string(), acct.home.clone());
        env.insert("USER".to_string(), acct.name.clone());
        env.insert("LOGNAME".to_string(), acct.name.clone());
        env.insert("SHELL".to_string(), acct.shell.clone());
        env.insert("PATH".to_string(), login_path(acct.uid).to_string());
        env.insert("LANG".to_string(), "C.UTF-8".to_string());
    }
    for (k, v) in extra {
        env.insert(k.clone(), v.clone());
    }
    env.into_iter()
        .filter(|(k, _)| !RESERVED_ENV.contains(&k.as_str()))
        .collect()
}

/// alice (uid 1000, groups alice and users), for tests.
#[cfg(test)]
pub(crate) fn test_alice() -> Account {
    Account {
        uid: 1000,
        gid: 1000,
        name: "alice".into(),
        home: "/home/alice".into(),
        shell: "/bin/bash".into(),
        groups: vec![1000, 100],
        group_names: vec!["alice".into(), "users".into()],
    }
}

/// The account as git's runner needs it (`gitops`: commands as the user).
pub fn as_git_user(acct: &Account) -> crate::gitops::AsUser {
    crate::gitops::AsUser {
        uid: acct.uid,
        gid: acct.gid,
        groups: acct.groups.clone(),
        name: acct.name.clone(),
        home: acct.home.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Account {
        test_alice()
    }

    #[test]
    fn base_env_is_login_like_and_extra_overrides() {
        let env = task_env(
            &alice(),
            &[
                ("LANG".into(), "de_DE.UTF-8".into()),
                ("K".into(), "v".into()),
            ],
            false,
        );
        let m: BTreeMap<_, _> = env.into_iter().collect();
        assert_eq!(m["HOME"], "/home/alice");
        assert_eq!(m["USER"], "alice");
        assert_eq!(m["LOGNAME"], "alice");
        assert_eq!(m["SHELL"], "/bin/bash");
        assert_eq!(m["PATH"], USER_PATH);
        assert_eq!(m["LANG"], "de_DE.UTF-8");
        assert_eq!(m["K"], "v");
        assert_eq!(m.len(), 7);
    }

    #[test]
    fn inherit_uses_submitted_env_but_never_reserved_keys() {
        let env = task_env(
            &alice(),
            &[
                ("PATH".into(), "/x".into()),
                ("NOTIFY_SOCKET".into(), "/run/systemd/notify".into()),
            ],
            true,
        );
        assert_eq!(env, vec![("PATH".to_string(), "/x".to_string())]);
    }

    #[test]
    fn env_entries_are_checked() {
        assert!(check_env_entry("A", "b").is_ok());
        assert!(check_env_entry("", "b").is_err());
        assert!(check_env_entry("A=B", "b").is_err());
        assert!(check_env_entry("A", "b\0").is_err());
        assert!(check_env_entry("NOTIFY_SOCKET", "x")
            .unwrap_err()
            .contains("reserved"));
    }

    #[test]
    fn root_is_admin_and_resolves() {
        let c = caller(0, 0, "no-such-group-here").unwrap();
        assert!(c.admin);
        assert_eq!(c.name, "root");
        assert!(matches!(
            account(4_000_000_000),
            Err(UserError::NoSuchUid(_))
        ));
        let root = account(0).unwrap();
        assert!(root.group_names.iter().any(|g| g == "root"));
        assert_eq!(uid_of("root").unwrap(), Some(0));
        assert_eq!(uid_of("no-such-user-here").unwrap(), None);
        assert_eq!(gid_of("root").unwrap(), Some(0));
    }

    #[test]
    fn admin_is_root_or_a_member_of_the_admin_group() {
        let a = alice();
        assert!(is_admin(0, 0, &a, None));
        assert!(!is_admin(1000, 1000, &a, None));
        assert!(is_admin(1000, 1000, &a, Some(100)));
        assert!(is_admin(1000, 50, &a, Some(50)));
        assert!(!is_admin(1000, 1000, &a, Some(50)));
    }
}
