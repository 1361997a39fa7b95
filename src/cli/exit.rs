//! The exit codes of `claudinectl`, in one place.
//!
//! They follow `sysexits.h` where one fits. `claudinectl wait` is the
//! exception: it exits with the task's own code (see
//! [`TaskView::wait_code`](crate::proto::TaskView::wait_code)), which may
//! collide with the codes below.

/// Success.
pub const OK: i32 = 0;
/// The daemon answered with an error (unknown task, invalid request, ...).
pub const DAEMON_ERROR: i32 = 1;
/// Bad command line (clap's own code for usage errors).
pub const USAGE: i32 = 2;
/// The daemon cannot be reached (`EX_UNAVAILABLE`): no socket, connection
/// refused, connection lost.
pub const UNAVAILABLE: i32 = 69;
/// The daemon's answer made no sense (`EX_SOFTWARE`).
pub const PROTOCOL: i32 = 70;
/// Writing our own output failed (`EX_IOERR`); a closed pipe is not an
/// error (`claudinectl logs 1 | head`).
pub const OUTPUT: i32 = 74;
/// The socket refused us (`EX_NOPERM`): the user is not in group `claudine`.
pub const NO_PERMISSION: i32 = 77;

/// Text for the top-level `--help`.
pub const HELP: &str = "\
Exit status:
  0   success
  1   claudined reported an error (unknown task, invalid request, ...)
  2   usage error
  69  claudined is not reachable (not running, socket missing, connection lost)
  70  protocol error (claudined's answer could not be understood)
  74  cannot write the output
  77  permission denied on the socket (you are not in group 'claudine')
  `claudinectl wait` exits with the task's own exit code (128+N if a signal
  N killed it, 1 if it never ran).";

/// Turn a task's code into a process exit status: values outside 0..=255
/// would be truncated by the kernel (256 would read as success), so they
/// become 1.
pub fn clamp(code: i32) -> i32 {
    if (0..=255).contains(&code) {
        code
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamp_keeps_byte_codes_and_never_turns_failure_into_success() {
        assert_eq!(clamp(0), 0);
        assert_eq!(clamp(137), 137);
        assert_eq!(clamp(255), 255);
        assert_eq!(clamp(256), 1);
        assert_eq!(clamp(-1), 1);
    }
}
