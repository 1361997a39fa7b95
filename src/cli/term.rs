//! The terminal of a full-screen view (`claudinectl top`): the alternate
//! screen without a cursor, keys read one at a time without echo, and the
//! way back on every exit path.
//!
//! [`Screen::enter`] saves the terminal's settings (nix's termios; no
//! terminal library is needed for a few escape sequences). Dropping the
//! [`Screen`] shows the cursor, leaves the alternate screen and puts the
//! settings back. Drop runs on a normal return, on an error returned with
//! `?` and on a panic (unwinding); SIGINT, SIGTERM and SIGHUP are caught by
//! the view's loop, which then returns normally. Only SIGKILL skips it
//! (`reset` repairs the terminal then).
//!
//! Keys: canonical mode, echo and the signal characters are off, so Ctrl-C
//! arrives as byte 3 and Ctrl-Z does not stop the view with the terminal
//! still raw; `VMIN = 0, VTIME = 0` make a read return at once, so a read
//! after a readiness report can never block the event loop.

use nix::sys::termios::{self, InputFlags, LocalFlags, SetArg, SpecialCharacterIndices, Termios};
use std::io::{self, IsTerminal, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use tokio::io::unix::AsyncFd;

/// Alternate screen on, cursor hidden.
const ENTER: &str = "\x1b[?1049h\x1b[?25l";
/// Cursor shown, alternate screen off.
const LEAVE: &str = "\x1b[?25h\x1b[?1049l";

/// The terminal while a full-screen view owns it.
pub struct Screen {
    /// The settings of stdin's terminal before, when stdin is one.
    saved: Option<Termios>,
}

impl Screen {
    /// Switch to the alternate screen and, when stdin is a terminal, to
    /// reading single keys.
    pub fn enter() -> io::Result<Screen> {
        let stdin = io::stdin();
        let saved = if stdin.is_terminal() {
            let saved = termios::tcgetattr(stdin.as_fd())?;
            let mut raw = saved.clone();
            raw.local_flags.remove(
                LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG | LocalFlags::IEXTEN,
            );
            // Ctrl-S would freeze the output.
            raw.input_flags.remove(InputFlags::IXON);
            raw.control_chars[SpecialCharacterIndices::VMIN as usize] = 0;
            raw.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
            termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)?;
            Some(saved)
        } else {
            None
        };
        // From here on, dropping `screen` undoes everything.
        let screen = Screen { saved };
        let mut out = io::stdout().lock();
        out.write_all(ENTER.as_bytes())?;
        out.flush()?;
        Ok(screen)
    }

    /// Keys can be read (stdin is a terminal).
    pub fn has_keys(&self) -> bool {
        self.saved.is_some()
    }

    /// Draw `lines` from the top-left corner, each on a line erased just
    /// before (no flicker of a cleared screen), and erase what is below.
    /// Lines must fit the width: cutting them is the caller's job.
    pub fn draw(&mut self, lines: &[String], height: usize) -> io::Result<()> {
        let mut frame = String::new();
        for (row, line) in lines.iter().take(height).enumerate() {
            // Absolute positions: a line that fills the width leaves the
            // cursor in the "pending wrap" state, where relative moves and
            // erasing from the cursor would cost its last character.
            frame.push_str(&format!("\x1b[{};1H\x1b[2K", row + 1));
            frame.push_str(line);
        }
        if lines.len() < height {
            frame.push_str(&format!("\x1b[{};1H\x1b[J", lines.len() + 1));
        }
        let mut out = io::stdout().lock();
        out.write_all(frame.as_bytes())?;
        out.flush()
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let mut out = io::stdout().lock();
        let _ = out.write_all(LEAVE.as_bytes());
        let _ = out.flush();
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(io::stdin().as_fd(), SetArg::TCSADRAIN, saved);
        }
    }
}

/// Keys typed on stdin, while a [`Screen`] has the terminal in single-key
/// mode.
pub struct Keys {
    /// A duplicate of stdin, so that it is ours to keep open.
    fd: AsyncFd<OwnedFd>,
}

impl Keys {
    pub fn new() -> io::Result<Keys> {
        let fd = io::stdin().as_fd().try_clone_to_owned()?;
        // SAFETY: `fd` is an OwnedFd moved into the AsyncFd, so it stays open
        // and refers to the same terminal for the AsyncFd's whole life.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(Keys { fd })
    }

    /// The next bytes typed (at least one); an error when stdin fails.
    pub async fn next(&self) -> io::Result<Vec<u8>> {
        loop {
            let mut ready = self.fd.readable().await?;
            let mut buf = [0u8; 64];
            // VMIN = 0: returns 0 at once when nothing is there.
            match nix::unistd::read(self.fd.get_ref().as_raw_fd(), &mut buf) {
                Ok(0) => ready.clear_ready(),
                Ok(n) => return Ok(buf[..n].to_vec()),
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => ready.clear_ready(),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// (columns, rows) of the terminal on stdout, if it is one.
pub fn size() -> Option<(usize, usize)> {
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct we pass.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_col > 0 && ws.ws_row > 0).then(|| (ws.ws_col.into(), ws.ws_row.into()))
}
