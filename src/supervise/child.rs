//! The command's side of the fork: everything between `fork` and `execve`.
//!
//! [`Prepared`] holds every C string, pointer array and message the child
//! needs, built before the fork, so that the child allocates nothing. The
//! child then, in order: resets signal dispositions and unblocks the mask,
//! starts a session, puts `/dev/null` on stdin, sets groups, gid and uid
//! (and checks that root cannot be regained), enters the working directory
//! with the user's rights, finds the program and executes it. A failing step
//! writes one message naming the step and the path to the error pipe and
//! exits with [`LAUNCH_ERROR_EXIT`].

use super::spec::{LaunchSpec, LAUNCH_ERROR_EXIT};
use nix::errno::Errno;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::sys::stat::{stat, SFlag};
use nix::unistd::{access, chdir, dup2, setgid, setgroups, setsid, setuid, AccessFlags};
use nix::unistd::{getegid, geteuid, getgid, getuid, Gid, Uid};
use std::ffi::{CStr, CString};
use std::fmt::Write as _;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::raw::c_char;

/// PATH used when the command's environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("{0} contains a NUL byte")]
    Nul(String),
    #[error("cannot open /dev/null: {0}")]
    DevNull(#[source] std::io::Error),
}

/// How the program is found.
enum Program {
    /// argv[0] contains a '/': used as is (relative to the working directory).
    Path(CString),
    /// Candidates `dir/argv0` for each PATH entry, in order.
    Search(Vec<CString>),
}

/// Everything the child needs, ready before the fork.
pub struct Prepared {
    uid: Uid,
    gid: Gid,
    groups: Vec<Gid>,
    cwd: CString,
    program: Program,
    // The pointer arrays point into these strings' heap buffers, which do not
    // move when the struct does.
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const c_char>,
    _env: Vec<CString>,
    env_ptrs: Vec<*const c_char>,
    devnull: OwnedFd,
    drop_msg: String,
    cwd_msg: String,
    not_found_msg: String,
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

impl Prepared {
    /// Builds everything for `spec` (already validated).
    pub fn new(spec: &LaunchSpec) -> Result<Self, PrepareError> {
        let argv = spec
            .argv
            .iter()
            .map(|a| c_string("argv", a.as_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        let env = spec
            .env
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
        let devnull = File::open("/dev/null").map_err(PrepareError::DevNull)?;
        Ok(Prepared {
            uid: Uid::from_raw(spec.uid),
            gid: Gid::from_raw(spec.gid),
            groups: spec.groups.iter().copied().map(Gid::from_raw).collect(),
            cwd: c_string("cwd", spec.cwd.as_bytes())?,
            program,
            argv_ptrs: pointers(&argv),
            _argv: argv,
            env_ptrs: pointers(&env),
            _env: env,
            devnull: devnull.into(),
            drop_msg: format!("cannot drop privileges to uid {}", spec.uid),
            cwd_msg: format!("cannot enter working directory {}", spec.cwd),
            not_found_msg: format!(
                "command not found: {program_name} (searched PATH {search_path})"
            ),
        })
    }
}

/// A message built on the stack (no allocation after the fork).
struct Message {
    bytes: [u8; 4096],
    len: usize,
}

impl Message {
    fn push(&mut self, part: &[u8]) {
        let n = part.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&part[..n]);
        self.len += n;
    }
}

impl std::fmt::Write for Message {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

/// Reports a failed step on the error pipe and exits with
/// [`LAUNCH_ERROR_EXIT`]. With an errno the message ends like an
/// `io::Error`: `: Permission denied (os error 13)`.
fn fail(err_fd: RawFd, parts: &[&[u8]], errno: Option<Errno>) -> ! {
    let mut msg = Message {
        bytes: [0; 4096],
        len: 0,
    };
    for part in parts {
        msg.push(part);
    }
    if let Some(e) = errno {
        let _ = write!(msg, ": {} (os error {})", e.desc(), e as i32);
    }
    let mut done = 0;
    while done < msg.len {
        // SAFETY: writing initialised bytes of a live buffer to a raw fd.
        let n = unsafe { libc::write(err_fd, msg.bytes[done..].as_ptr().cast(), msg.len - done) };
        if n > 0 {
            done += n as usize;
        } else if n < 0 && Errno::last() == Errno::EINTR {
            continue;
        } else {
            break;
        }
    }
    // SAFETY: leaving the forked child without running the parent's atexit
    // handlers or flushing its buffers.
    unsafe { libc::_exit(LAUNCH_ERROR_EXIT) }
}

fn exec(p: &Prepared, path: &CStr, err_fd: RawFd) -> ! {
    // SAFETY: the path and both arrays are NUL-terminated and outlive the call.
    unsafe { libc::execve(path.as_ptr(), p.argv_ptrs.as_ptr(), p.env_ptrs.as_ptr()) };
    fail(
        err_fd,
        &[b"cannot execute ", path.to_bytes()],
        Some(Errno::last()),
    )
}

/// Sets every signal but SIGKILL and SIGSTOP to its default action.
///
/// The raw system call rather than `signal(3)`: the C library refuses to
/// touch the signals it reserves (32 and 33), and those can be inherited as
/// ignored too. An all-zero kernel `sigaction` is SIG_DFL, no flags, empty
/// mask, whatever the architecture's field order.
fn reset_signal_dispositions() {
    let default_action = [0u64; 8];
    for sig in 1..=libc::SIGRTMAX() {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: the kernel reads a zeroed struct; no old action is
            // requested. Errors (an invalid number) are harmless.
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    default_action.as_ptr(),
                    std::ptr::null_mut::<libc::c_void>(),
                    std::mem::size_of::<u64>(),
                )
            };
        }
    }
}

/// Runs in the forked child; never returns. `err_fd` is the write end of the
/// close-on-exec error pipe.
pub fn run_child(p: &Prepared, err_fd: RawFd) -> ! {
    reset_signal_dispositions();
    if let Err(e) = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None) {
        fail(err_fd, &[b"cannot unblock signals"], Some(e));
    }
    if let Err(e) = setsid() {
        fail(err_fd, &[b"cannot start a new session"], Some(e));
    }
    if let Err(e) = dup2(p.devnull.as_raw_fd(), libc::STDIN_FILENO) {
        fail(err_fd, &[b"cannot redirect stdin to /dev/null"], Some(e));
    }

    let drop_msg = p.drop_msg.as_bytes();
    if let Err(e) = setgroups(&p.groups) {
        fail(err_fd, &[drop_msg, b" (setgroups)"], Some(e));
    }
    if let Err(e) = setgid(p.gid) {
        fail(err_fd, &[drop_msg, b" (setgid)"], Some(e));
    }
    if let Err(e) = setuid(p.uid) {
        fail(err_fd, &[drop_msg, b" (setuid)"], Some(e));
    }
    if getuid() != p.uid || geteuid() != p.uid || getgid() != p.gid || getegid() != p.gid {
        fail(err_fd, &[drop_msg, b": ids did not change"], None);
    }
    if !p.uid.is_root() && setuid(Uid::from_raw(0)).is_ok() {
        fail(err_fd, &[drop_msg, b": root can be regained"], None);
    }

    if let Err(e) = chdir(p.cwd.as_c_str()) {
        fail(err_fd, &[p.cwd_msg.as_bytes()], Some(e));
    }

    match &p.program {
        Program::Path(path) => exec(p, path, err_fd),
        Program::Search(candidates) => {
            let mut denied: Option<(&CStr, Errno)> = None;
            for candidate in candidates {
                let regular = stat(candidate.as_c_str())
                    .is_ok_and(|st| st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFREG.bits());
                if !regular {
                    continue;
                }
                match access(candidate.as_c_str(), AccessFlags::X_OK) {
                    Ok(()) => exec(p, candidate, err_fd),
                    Err(e) => {
                        denied.get_or_insert((candidate, e));
                    }
                }
            }
            if let Some((path, e)) = denied {
                fail(err_fd, &[b"cannot execute ", path.to_bytes()], Some(e));
            }
            fail(err_fd, &[p.not_found_msg.as_bytes()], None)
        }
    }
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
}
