//! Everything the child needs, built before the fork.
//!
//! [`Prepared`] holds every C string, pointer array, limit and message the
//! child uses between `fork` and `execve`, so that the child allocates
//! nothing (see `child`).

use super::spec::{LaunchSpec, RlimitSpec};
use nix::unistd::{Gid, Uid};
use std::ffi::CString;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::raw::c_char;

/// PATH used when the command's environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The type `setrlimit` takes for a resource.
#[cfg(target_env = "gnu")]
pub type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
pub type Resource = libc::c_int;

/// The limits.conf names of the resource limits, and their resources.
pub const RLIMIT_NAMES: [(&str, Resource); 15] = [
    ("core", libc::RLIMIT_CORE),
    ("data", libc::RLIMIT_DATA),
    ("fsize", libc::RLIMIT_FSIZE),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("nofile", libc::RLIMIT_NOFILE),
    ("rss", libc::RLIMIT_RSS),
    ("stack", libc::RLIMIT_STACK),
    ("cpu", libc::RLIMIT_CPU),
    ("nproc", libc::RLIMIT_NPROC),
    ("as", libc::RLIMIT_AS),
    ("locks", libc::RLIMIT_LOCKS),
    ("sigpending", libc::RLIMIT_SIGPENDING),
    ("msgqueue", libc::RLIMIT_MSGQUEUE),
    ("nice", libc::RLIMIT_NICE),
    ("rtprio", libc::RLIMIT_RTPRIO),
];

/// The resource a limits.conf name stands for.
pub fn rlimit_resource(name: &str) -> Option<Resource> {
    RLIMIT_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, resource)| resource)
}

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("{0} contains a NUL byte")]
    Nul(String),
    #[error("cannot open /dev/null: {0}")]
    DevNull(#[source] std::io::Error),
    #[error("cannot open the prompt file {path}: {source}")]
    Prompt {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("unknown resource limit {0:?}")]
    Rlimit(String),
}

/// How the program is found.
pub enum Program {
    /// argv[0] contains a '/': used as is (relative to the working directory).
    Path(CString),
    /// Candidates `dir/argv0` for each PATH entry, in order.
    Search(Vec<CString>),
}

/// One resource limit, ready for `setrlimit`, and the message if it fails.
pub struct Rlimit {
    pub resource: Resource,
    pub limit: libc::rlimit,
    pub msg: String,
}

/// Everything the child needs, ready before the fork.
pub struct Prepared {
    pub uid: Uid,
    pub gid: Gid,
    pub groups: Vec<Gid>,
    pub cwd: CString,
    pub program: Program,
    pub umask: libc::mode_t,
    pub rlimits: Vec<Rlimit>,
    /// The supervisor runs with oom_score_adj -1000: the command must not
    /// keep it, so failing to reset it to 0 stops the launch.
    pub oom_protected: bool,
    // The pointer arrays point into these strings' heap buffers, which do not
    // move when the struct does.
    _argv: Vec<CString>,
    pub argv_ptrs: Vec<*const c_char>,
    _env: Vec<CString>,
    pub env_ptrs: Vec<*const c_char>,
    /// The command's stdin: `/dev/null`, or a Claude run's prompt file.
    pub stdin: OwnedFd,
    pub drop_msg: String,
    pub cwd_msg: String,
    pub not_found_msg: String,
}

fn c_string(what: &str, s: &[u8]) -> Result<CString, PrepareError> {
    CString::new(s).map_err(|_| PrepareError::Nul(what.to_owned()))
}

fn pointers(strings: &[CString]) -> Vec<*const c_char> {
    let mut ptrs: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    ptrs
}

/// The candidate paths for `program` along `path` (an empty entry means the
/// working directory, as in POSIX).
pub fn search_candidates(path: &str, program: &str) -> Vec<String> {
    path.split(':')
        .map(|dir| match dir {
            "" => program.to_owned(),
            d if d.ends_with('/') => format!("{d}{program}"),
            d => format!("{d}/{program}"),
        })
        .collect()
}

fn rlimit(spec: &RlimitSpec) -> Result<Rlimit, PrepareError> {
    let resource = rlimit_resource(&spec.resource)
        .ok_or_else(|| PrepareError::Rlimit(spec.resource.clone()))?;
    let value = |v: Option<u64>| v.unwrap_or(libc::RLIM_INFINITY);
    let shown = |v: Option<u64>| v.map_or("unlimited".to_owned(), |v| v.to_string());
    Ok(Rlimit {
        resource,
        limit: libc::rlimit {
            rlim_cur: value(spec.soft),
            rlim_max: value(spec.hard),
        },
        msg: format!(
            "cannot set resource limit {} (soft {}, hard {})",
            spec.resource,
            shown(spec.soft),
            shown(spec.hard)
        ),
    })
}

impl Prepared {
    /// Builds everything for `spec` (already validated). `env_file`:
    /// variables from the user's environment file, set unless the spec's
    /// `keep_env` names them.
    pub fn new(
        spec: &LaunchSpec,
        oom_protected: bool,
        env_file: &[(String, String)],
    ) -> Result<Self, PrepareError> {
        let argv = spec
            .argv
            .iter()
            .map(|a| c_string("argv", a.as_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        let merged = merge_env(spec, env_file);
        let env = merged
            .iter()
            .map(|(k, v)| c_string("env", format!("{k}={v}").as_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        let program_name = spec.argv.first().map(String::as_str).unwrap_or_default();
        let search_path = spec
            .env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map_or(DEFAULT_PATH, |(_, v)| v.as_str());
        let program = if program_name.contains('/') {
            Program::Path(c_string("argv[0]", program_name.as_bytes())?)
        } else {
            Program::Search(
                search_candidates(search_path, program_name)
                    .into_iter()
                    .map(|c| c_string("PATH", c.as_bytes()))
                    .collect::<Result<_, _>>()?,
            )
        };
        let stdin = match spec.claude.as_ref().map(|c| &c.prompt_path) {
            Some(path) => open_prompt(path)?,
            None => File::open("/dev/null").map_err(PrepareError::DevNull)?,
        };
        Ok(Prepared {
            uid: Uid::from_raw(spec.uid),
            gid: Gid::from_raw(spec.gid),
            groups: spec.groups.iter().copied().map(Gid::from_raw).collect(),
            cwd: c_string("cwd", spec.cwd.as_bytes())?,
            program,
            umask: spec.umask as libc::mode_t,
            rlimits: spec.rlimits.iter().map(rlimit).collect::<Result<_, _>>()?,
            oom_protected,
            argv_ptrs: pointers(&argv),
            _argv: argv,
            env_ptrs: pointers(&env),
            _env: env,
            stdin: stdin.into(),
            drop_msg: format!("cannot drop privileges to uid {}", spec.uid),
            cwd_msg: format!("cannot enter working directory {}", spec.cwd),
            not_found_msg: format!(
                "command not found: {program_name} (searched PATH {search_path})"
            ),
        })
    }
}

/// The spec's environment with the file's variables on top, except those
/// the submitter gave (`keep_env`): the file is the user's standing
/// configuration, a variable given at submit is more specific.
fn merge_env(spec: &LaunchSpec, env_file: &[(String, String)]) -> Vec<(String, String)> {
    let mut env = spec.env.clone();
    let keep = spec.claude.as_ref().map_or(&[][..], |c| &c.keep_env[..]);
    for (k, v) in env_file {
        if keep.contains(k) {
            continue;
        }
        match env.iter_mut().find(|(ek, _)| ek == k) {
            Some(e) => e.1.clone_from(v),
            None => env.push((k.clone(), v.clone())),
        }
    }
    env
}

/// Opens the prompt file as root (it is in the daemon's root-only state
/// directory, never a user path), then removes it: the open descriptor is
/// all the command gets.
fn open_prompt(path: &std::path::Path) -> Result<File, PrepareError> {
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| PrepareError::Prompt {
        path: path.display().to_string(),
        source,
    };
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(err)?;
    if !f.metadata().map_err(err)?.file_type().is_file() {
        return Err(err(std::io::Error::other("not a regular file")));
    }
    let _ = std::fs::remove_file(path);
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates() {
        assert_eq!(
            search_candidates("/a:/b/::rel", "sh"),
            ["/a/sh", "/b/sh", "sh", "rel/sh"]
        );
    }

    #[test]
    fn rlimit_names() {
        assert_eq!(rlimit_resource("nofile"), Some(libc::RLIMIT_NOFILE));
        assert_eq!(rlimit_resource("rtprio"), Some(libc::RLIMIT_RTPRIO));
        assert_eq!(rlimit_resource("maxlogins"), None);
        assert_eq!(rlimit_resource("NOFILE"), None);
        let r = rlimit(&RlimitSpec {
            resource: "nofile".into(),
            soft: Some(10),
            hard: None,
        })
        .unwrap();
        assert_eq!(r.limit.rlim_cur, 10);
        assert_eq!(r.limit.rlim_max, libc::RLIM_INFINITY);
        assert_eq!(
            r.msg,
            "cannot set resource limit nofile (soft 10, hard unlimited)"
        );
    }
}
