//! Reads the user's environment file (`~/.config/claudine/env`) with the
//! user's own permissions, never as root through a path they control.
//!
//! A child process drops to the user's groups, gid and uid, opens the file
//! (following symlinks as the user would: it can only reach what the user
//! can read), checks it is a regular file that nobody but its owner (the
//! user or root) can write, and sends its bytes back through a pipe. The
//! supervisor parses them ([`crate::core::envfile`]). A missing file (or
//! directory) is no error: the file is optional.
//!
//! The child runs between `fork` and `_exit` in a single-threaded process
//! and allocates nothing: the path is a C string built before, the bytes go
//! through a stack buffer.

use nix::unistd::{Gid, Uid};
use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::core::envfile::MAX_ENV_FILE_BYTES;

/// Why the file could not be used. Never holds a value of the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvFileError {
    #[error("cannot read the environment file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error(
        "the environment file {path} is writable by {who} (mode {mode:04o}); \
         it may hold credentials, so it is refused: chmod go-w {path}"
    )]
    Writable {
        path: String,
        who: &'static str,
        mode: u32,
    },
    #[error("the environment file {path} belongs to uid {owner}, not to the user or root")]
    Owner { path: String, owner: u32 },
    #[error("the environment file {path} is not a regular file")]
    NotFile { path: String },
    #[error("the environment file {path} is larger than {} KiB", MAX_ENV_FILE_BYTES >> 10)]
    TooLarge { path: String },
}

// Status bytes the child sends first.
const OK: u8 = 0;
const ABSENT: u8 = 1;
const ERRNO: u8 = 2;
const NOT_FILE: u8 = 3;
const WRITABLE: u8 = 4;
const OWNER: u8 = 5;
const TOO_LARGE: u8 = 6;
const DROP: u8 = 7;

/// The file's bytes, `Ok(None)` when there is none.
pub fn read_as_user(
    path: &str,
    uid: u32,
    gid: u32,
    groups: &[u32],
) -> Result<Option<Vec<u8>>, EnvFileError> {
    let fail = |reason: String| EnvFileError::Read {
        path: path.to_owned(),
        reason,
    };
    let c_path = CString::new(path).map_err(|_| fail("the path contains a NUL byte".into()))?;
    let groups: Vec<Gid> = groups.iter().copied().map(Gid::from_raw).collect();
    let (read_end, write_end) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| fail(format!("pipe: {e}")))?;
    // SAFETY: the supervisor is single-threaded; the child runs `child`,
    // which only makes system calls and ends in _exit.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            drop(read_end);
            child(
                &c_path,
                Uid::from_raw(uid),
                Gid::from_raw(gid),
                &groups,
                &write_end,
            )
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            drop(write_end);
            let mut got = Vec::new();
            let read = std::fs::File::from(read_end)
                .take(MAX_ENV_FILE_BYTES as u64 + 64)
                .read_to_end(&mut got);
            let _ = nix::sys::wait::waitpid(child, None);
            read.map_err(|e| fail(format!("reading from the reader process: {e}")))?;
            decode(path, &got)
        }
        Err(e) => Err(fail(format!("fork: {e}"))),
    }
}

fn decode(path: &str, got: &[u8]) -> Result<Option<Vec<u8>>, EnvFileError> {
    let path_s = || path.to_owned();
    let word = |i: usize| {
        got.get(i..i + 4)
            .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    match got.first().copied() {
        Some(OK) => Ok(Some(got[1..].to_vec())),
        Some(ABSENT) => Ok(None),
        Some(ERRNO) => Err(EnvFileError::Read {
            path: path_s(),
            reason: nix::errno::Errno::from_raw(word(1) as i32)
                .desc()
                .to_lowercase(),
        }),
        Some(NOT_FILE) => Err(EnvFileError::NotFile { path: path_s() }),
        Some(WRITABLE) => {
            let mode = word(1);
            let who = if mode & 0o002 != 0 {
                "every user"
            } else {
                "its group"
            };
            Err(EnvFileError::Writable {
                path: path_s(),
                who,
                mode: mode & 0o7777,
            })
        }
        Some(OWNER) => Err(EnvFileError::Owner {
            path: path_s(),
            owner: word(1),
        }),
        Some(TOO_LARGE) => Err(EnvFileError::TooLarge { path: path_s() }),
        Some(DROP) => Err(EnvFileError::Read {
            path: path_s(),
            reason: "cannot take the user's identity to read it".into(),
        }),
        _ => Err(EnvFileError::Read {
            path: path_s(),
            reason: "the reader process ended without an answer".into(),
        }),
    }
}

fn send(fd: &OwnedFd, status: u8, word: u32, body: &[u8]) -> ! {
    let mut head = [0u8; 5];
    head[0] = status;
    head[1..].copy_from_slice(&word.to_ne_bytes());
    let head_len = if status == OK { 1 } else { 5 };
    write_all(fd, &head[..head_len]);
    write_all(fd, body);
    // SAFETY: _exit ends the child without running the parent's atexit
    // handlers or flushing its buffers.
    unsafe { libc::_exit(0) }
}

fn write_all(fd: &OwnedFd, mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: writing from a buffer we own, within its length.
        let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
        if n <= 0 {
            if n < 0 && nix::errno::Errno::last() == nix::errno::Errno::EINTR {
                continue;
            }
            return;
        }
        data = &data[n as usize..];
    }
}

fn child(path: &CString, uid: Uid, gid: Gid, groups: &[Gid], out: &OwnedFd) -> ! {
    let dropped = nix::unistd::setgroups(groups).is_ok()
        && nix::unistd::setgid(gid).is_ok()
        && nix::unistd::setuid(uid).is_ok()
        && (uid.is_root() || nix::unistd::setuid(Uid::from_raw(0)).is_err());
    if !dropped {
        send(out, DROP, 0, &[]);
    }
    // SAFETY: open with a valid C string; O_NONBLOCK so a FIFO cannot hang it.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK,
        )
    };
    if fd < 0 {
        let errno = nix::errno::Errno::last();
        if matches!(
            errno,
            nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR
        ) {
            send(out, ABSENT, 0, &[]);
        }
        send(out, ERRNO, errno as i32 as u32, &[]);
    }
    // SAFETY: the kernel just returned this descriptor.
    let file = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: zeroed stat is a valid output buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes into the struct we own.
    if unsafe { libc::fstat(file.as_raw_fd(), &mut st) } != 0 {
        send(out, ERRNO, nix::errno::Errno::last() as i32 as u32, &[]);
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        send(out, NOT_FILE, 0, &[]);
    }
    if st.st_uid != uid.as_raw() && st.st_uid != 0 {
        send(out, OWNER, st.st_uid, &[]);
    }
    if st.st_mode & 0o022 != 0 {
        send(out, WRITABLE, st.st_mode, &[]);
    }
    let mut buf = [0u8; MAX_ENV_FILE_BYTES + 1];
    let mut len = 0;
    while len < buf.len() {
        // SAFETY: reading into the part of our buffer not yet filled.
        let n = unsafe {
            libc::read(
                file.as_raw_fd(),
                buf[len..].as_mut_ptr().cast(),
                buf.len() - len,
            )
        };
        if n == 0 {
            break;
        }
        if n < 0 {
            let errno = nix::errno::Errno::last();
            if errno == nix::errno::Errno::EINTR {
                continue;
            }
            send(out, ERRNO, errno as i32 as u32, &[]);
        }
        len += n as usize;
    }
    if len > MAX_ENV_FILE_BYTES {
        send(out, TOO_LARGE, 0, &[]);
    }
    send(out, OK, 0, &buf[..len])
}
