//! Everything that can go wrong in `claudinectl`, with its exit code and the
//! message a person reads on stderr.

use crate::cli::exit;
use crate::proto::ErrorCode;
use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// `connect(2)` on the socket failed.
    #[error("cannot connect to claudined at {}: {source}", socket.display())]
    Connect { socket: PathBuf, source: io::Error },
    /// The connection broke before a complete answer arrived.
    #[error("connection to claudined at {} lost: {detail}", socket.display())]
    Disconnected { socket: PathBuf, detail: String },
    /// The daemon answered with an error status.
    #[error("{message}")]
    Daemon {
        status: u16,
        /// `None` when the body was not an [`ErrorBody`](crate::proto::ErrorBody).
        code: Option<ErrorCode>,
        message: String,
    },
    /// The daemon's answer could not be understood.
    #[error("unexpected answer from claudined: {0}")]
    Protocol(String),
    /// A bad request caught before it was sent.
    #[error("{0}")]
    Usage(String),
    /// Writing to stdout failed.
    #[error("cannot write output: {0}")]
    Output(io::Error),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Connect { source, .. } if is_permission(source) => exit::NO_PERMISSION,
            CliError::Connect { .. } | CliError::Disconnected { .. } => exit::UNAVAILABLE,
            CliError::Daemon { .. } => exit::DAEMON_ERROR,
            CliError::Protocol(_) => exit::PROTOCOL,
            CliError::Usage(_) => exit::USAGE,
            CliError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => exit::OK,
            CliError::Output(_) => exit::OUTPUT,
        }
    }

    /// True when the daemon is down or restarting, so waiting and retrying
    /// may help (`claudinectl wait` does).
    pub fn is_unreachable(&self) -> bool {
        match self {
            CliError::Connect { source, .. } => !is_permission(source),
            CliError::Disconnected { .. } => true,
            _ => false,
        }
    }

    /// True when the daemon may answer differently in a moment: it is
    /// unreachable, or it failed a request internally, which is also how it
    /// answers a pending request while it shuts down (`claudined is
    /// shutting down`).
    pub fn is_transient(&self) -> bool {
        self.is_unreachable()
            || matches!(
                self,
                CliError::Daemon {
                    code: Some(ErrorCode::Unavailable),
                    ..
                }
            )
    }

    /// What to print on stderr (without the final newline), or `None` when
    /// nothing should be printed (the reader of our output went away).
    pub fn report(&self) -> Option<String> {
        match self {
            CliError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => None,
            CliError::Connect { socket, source } if is_permission(source) => Some(format!(
                "claudinectl: permission denied on {}: {source}\n\
                 only members of group 'claudine' may use claudined; \
                 add yourself with: sudo adduser $USER claudine (then log in again)",
                socket.display()
            )),
            CliError::Connect { source, .. }
                if matches!(
                    source.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                ) =>
            {
                Some(format!(
                    "claudinectl: {self}\n\
                     claudined is not running? start it with: sudo systemctl start claudine"
                ))
            }
            _ => Some(format!("claudinectl: {self}")),
        }
    }
}

fn is_permission(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::PermissionDenied
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(errno: i32) -> CliError {
        CliError::Connect {
            socket: "/run/claudine/claudine.sock".into(),
            source: io::Error::from_raw_os_error(errno),
        }
    }

    #[test]
    fn connect_errors_map_to_unavailable_or_no_permission() {
        for errno in [libc::ENOENT, libc::ECONNREFUSED, libc::ENOTSOCK] {
            assert_eq!(connect(errno).exit_code(), exit::UNAVAILABLE, "{errno}");
            assert!(connect(errno).is_unreachable());
        }
        for errno in [libc::EACCES, libc::EPERM] {
            assert_eq!(connect(errno).exit_code(), exit::NO_PERMISSION, "{errno}");
            assert!(!connect(errno).is_unreachable());
        }
    }

    #[test]
    fn messages_carry_the_socket_the_os_error_and_a_hint() {
        let msg = connect(libc::ECONNREFUSED).report().unwrap();
        assert!(
            msg.starts_with(
                "claudinectl: cannot connect to claudined at /run/claudine/claudine.sock: "
            ),
            "{msg}"
        );
        assert!(msg.contains("refused"), "{msg}");
        assert!(msg
            .ends_with("\nclaudined is not running? start it with: sudo systemctl start claudine"));
        let msg = connect(libc::EACCES).report().unwrap();
        assert!(msg.contains("group 'claudine'"), "{msg}");
        assert!(msg.contains("sudo adduser $USER claudine"), "{msg}");
    }

    #[test]
    fn other_errors() {
        let e = CliError::Daemon {
            status: 404,
            code: Some(ErrorCode::NotFound),
            message: "no task 7".into(),
        };
        assert_eq!(e.exit_code(), exit::DAEMON_ERROR);
        assert_eq!(e.report().unwrap(), "claudinectl: no task 7");
        assert_eq!(CliError::Protocol("x".into()).exit_code(), exit::PROTOCOL);
        let pipe = CliError::Output(io::ErrorKind::BrokenPipe.into());
        assert_eq!((pipe.exit_code(), pipe.report()), (exit::OK, None));
    }
}
