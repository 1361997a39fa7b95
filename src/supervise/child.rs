//! The command's side of the fork: everything between `fork` and `execve`.
//!
//! The child uses only what [`Prepared`] built before the fork, and
//! allocates nothing. In order, it:
//!
//! 1. resets signal dispositions and unblocks the mask, starts a session;
//! 2. puts `/dev/null` on stdin and the relay pipes on stdout and stderr;
//! 3. sets its `oom_score_adj` back to 0 (the supervisor runs at -1000) and
//!    the resource limits, while still root (raising a hard limit needs it);
//! 4. sets groups, gid and uid, and checks that root cannot be regained;
//! 5. joins a fresh session keyring linked to the user's keyring, as
//!    `pam_keyinit` does at login (skipped where the kernel has no keys);
//! 6. sets the umask, enters the working directory with the user's rights,
//!    finds the program and executes it.
//!
//! A failing step writes one message naming the step (and path) to the
//! close-on-exec error pipe and exits with [`LAUNCH_ERROR_EXIT`].

use super::prepare::{Prepared, Program};
use super::spec::LAUNCH_ERROR_EXIT;
use nix::errno::Errno;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::sys::stat::{stat, SFlag};
use nix::unistd::{access, chdir, dup2, setgid, setgroups, setsid, setuid, AccessFlags};
use nix::unistd::{getegid, geteuid, getgid, getuid, Uid};
use std::ffi::CStr;
use std::fmt::Write as _;
use std::os::fd::{AsRawFd, RawFd};

/// `keyctl` operations and special key ids (linux/keyctl.h).
const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
const KEYCTL_LINK: libc::c_long = 8;
const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
const KEY_SPEC_USER_KEYRING: libc::c_long = -4;

/// The descriptors the child starts with (all close-on-exec).
pub struct ChildFds {
    /// Write end of the error pipe.
    pub error: RawFd,
    /// Write ends of the stdout and stderr relay pipes.
    pub stdout: RawFd,
    pub stderr: RawFd,
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
    super::logs::write_fd(err_fd, &msg.bytes[..msg.len]);
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

/// Writes "0" to `/proc/self/oom_score_adj`.
fn reset_oom_score_adj() -> Result<(), Errno> {
    const PATH: &[u8] = b"/proc/self/oom_score_adj\0";
    // SAFETY: a NUL-terminated static path.
    let fd = unsafe { libc::open(PATH.as_ptr().cast(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: writing one byte of a static buffer to the descriptor just
    // opened.
    let written = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) };
    let result = if written == 1 {
        Ok(())
    } else {
        Err(Errno::last())
    };
    // SAFETY: closing the descriptor just opened, used nowhere else.
    unsafe { libc::close(fd) };
    result
}

/// `keyctl(2)` with two arguments; `Ok(())` also when the kernel has no
/// keys at all.
fn keyctl(operation: libc::c_long, arg2: libc::c_long, arg3: libc::c_long) -> Result<(), Errno> {
    // SAFETY: the operations used take integer arguments only.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, operation, arg2, arg3) };
    match Errno::result(r) {
        Ok(_) | Err(Errno::ENOSYS) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Runs in the forked child; never returns.
pub fn run_child(p: &Prepared, fds: &ChildFds) -> ! {
    let err_fd = fds.error;
    reset_signal_dispositions();
    if let Err(e) = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None) {
        fail(err_fd, &[b"cannot unblock signals"], Some(e));
    }
    if let Err(e) = setsid() {
        fail(err_fd, &[b"cannot start a new session"], Some(e));
    }
    if let Err(e) = dup2(p.stdin.as_raw_fd(), libc::STDIN_FILENO) {
        fail(err_fd, &[b"cannot set up stdin"], Some(e));
    }
    if let Err(e) = dup2(fds.stdout, libc::STDOUT_FILENO) {
        fail(
            err_fd,
            &[b"cannot redirect stdout to the output pipe"],
            Some(e),
        );
    }
    if let Err(e) = dup2(fds.stderr, libc::STDERR_FILENO) {
        fail(
            err_fd,
            &[b"cannot redirect stderr to the output pipe"],
            Some(e),
        );
    }

    // Still root: leave the supervisor's protection from the OOM killer
    // behind, and set limits a user could not raise.
    if let Err(e) = reset_oom_score_adj() {
        if p.oom_protected {
            fail(err_fd, &[b"cannot reset oom_score_adj to 0"], Some(e));
        }
    }
    for r in &p.rlimits {
        // SAFETY: setrlimit reads a valid struct.
        if unsafe { libc::setrlimit(r.resource, &r.limit) } != 0 {
            fail(err_fd, &[r.msg.as_bytes()], Some(Errno::last()));
        }
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

    // As the user, so that the new keyring is the user's.
    if let Err(e) = keyctl(KEYCTL_JOIN_SESSION_KEYRING, 0, 0) {
        fail(err_fd, &[b"cannot join a new session keyring"], Some(e));
    }
    if let Err(e) = keyctl(KEYCTL_LINK, KEY_SPEC_USER_KEYRING, KEY_SPEC_SESSION_KEYRING) {
        fail(
            err_fd,
            &[b"cannot link the user keyring into the session keyring"],
            Some(e),
        );
    }
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(p.umask) };

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
