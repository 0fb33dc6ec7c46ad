//! Raw mode for the terminal (termios), restored on drop.

use std::io;

/// The terminal in raw mode (no echo, no line buffering, no signal keys); the previous mode
/// comes back on drop.
pub struct RawMode {
    saved: libc::termios,
}

/// Whether standard input is a terminal.
pub fn stdin_is_tty() -> bool {
    // SAFETY: isatty has no memory-safety preconditions.
    unsafe { libc::isatty(0) == 1 }
}

impl RawMode {
    /// Switches standard input to raw mode.
    pub fn enable() -> io::Result<RawMode> {
        // SAFETY: an all-zero termios is valid storage for tcgetattr to fill.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: `t` is valid writable storage; fd 0 is standard input.
        if unsafe { libc::tcgetattr(0, &mut t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let saved = t;
        // SAFETY: `t` was filled by tcgetattr.
        unsafe { libc::cfmakeraw(&mut t) };
        // Keep output post-processing, so that "\n" still returns the carriage.
        t.c_oflag |= libc::OPOST;
        // SAFETY: `t` is a valid termios.
        if unsafe { libc::tcsetattr(0, libc::TCSAFLUSH, &t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: `saved` came from tcgetattr.
        unsafe { libc::tcsetattr(0, libc::TCSAFLUSH, &self.saved) };
    }
}

/// Reads what is available on standard input (after `poll` said readable).
pub fn read_stdin(buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of its length.
    let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
}

/// The signal a terminal sends when its size changed (`SIGWINCH`), to block and read with
/// `mp_core::mp_ipc::signal::Signals` together with the others. Its default action is to be
/// ignored, so blocking it changes nothing else.
pub const SIGWINCH: i32 = libc::SIGWINCH;

/// The width of the terminal in columns (`TIOCGWINSZ`, see `ioctl_tty(2)`), asked of standard
/// output and then of standard input; `None` when neither is a terminal or it does not say.
pub fn terminal_width() -> Option<u16> {
    [1, 0].into_iter().find_map(|fd| {
        // SAFETY: an all-zero winsize is a valid value (plain integers).
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ writes one winsize to the valid pointer it is given; a bad or
        // non-terminal fd makes it fail without touching memory.
        let ok = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, std::ptr::from_mut(&mut size)) } == 0;
        (ok && size.ws_col > 0).then_some(size.ws_col)
    })
}
