//! Waiting for signals without a signal handler: block a set of signals, then read them from a
//! `signalfd(2)` (with a timeout, or together with other descriptors through `poll`).
//!
//! A server that must shut down cleanly on `SIGTERM`/`SIGINT` blocks them at start-up (before
//! it starts any thread, so that every thread inherits the mask) and waits for them in its loop.

use crate::park::deadline_after;
use crate::sys;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// Signal numbers (Linux, every architecture this crate builds for), so that no code here or in
/// `mp-core` writes a bare `9` or `15`.
pub mod consts {
    /// Hangup.
    pub const SIGHUP: i32 = 1;
    /// Interrupt (Ctrl-C).
    pub const SIGINT: i32 = 2;
    /// Quit.
    pub const SIGQUIT: i32 = 3;
    /// Abort (`abort(3)`).
    pub const SIGABRT: i32 = 6;
    /// Kill (cannot be blocked).
    pub const SIGKILL: i32 = 9;
    /// Invalid memory reference.
    pub const SIGSEGV: i32 = 11;
    /// User signal 1.
    pub const SIGUSR1: i32 = 10;
    /// User signal 2.
    pub const SIGUSR2: i32 = 12;
    /// Write to a pipe with no reader.
    pub const SIGPIPE: i32 = 13;
    /// Timer (`alarm(2)`).
    pub const SIGALRM: i32 = 14;
    /// Terminate.
    pub const SIGTERM: i32 = 15;
    /// Child stopped or ended.
    pub const SIGCHLD: i32 = 17;
    /// Continue a stopped process.
    pub const SIGCONT: i32 = 18;
    /// Stop (cannot be blocked).
    pub const SIGSTOP: i32 = 19;
}

/// A signal that arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalInfo {
    /// Its number.
    pub signal: i32,
    /// The pid that sent it (0 for the kernel).
    pub sender: i32,
}

/// Blocks a set of signals in the calling thread and receives them from a descriptor.
///
/// On drop, the thread's previous signal mask comes back (a signal still pending then is
/// delivered as usual, which for `SIGTERM` means the process ends).
///
/// # Examples
///
/// ```
/// use mp_ipc::signal::{Signals, consts::SIGUSR1};
/// use std::time::Duration;
///
/// let signals = Signals::block(&[SIGUSR1])?;
/// assert_eq!(signals.wait_timeout(Duration::from_millis(5))?, None);
/// signals.raise(SIGUSR1)?;
/// let got = signals.wait_timeout(Duration::from_secs(10))?.expect("pending");
/// assert_eq!(got.signal, SIGUSR1);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Signals {
    fd: OwnedFd,
    set: sys::signal::SigSet,
    old_mask: sys::signal::SigSet,
}

impl std::fmt::Debug for Signals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let blocked: Vec<i32> = (1..65).filter(|&s| self.contains(s)).collect();
        f.debug_struct("Signals").field("fd", &self.fd).field("blocked", &blocked).finish()
    }
}

impl Signals {
    /// Blocks `signals` in the calling thread and opens a descriptor that receives them.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a number that is not a signal (or `SIGKILL`/`SIGSTOP`, which cannot
    /// be blocked); the `signalfd` error.
    pub fn block(signals: &[i32]) -> io::Result<Signals> {
        let mut set = sys::signal::empty_set();
        for &s in signals {
            if s == consts::SIGKILL || s == consts::SIGSTOP {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("signal {s} cannot be blocked"),
                ));
            }
            sys::signal::add(&mut set, s)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("{s} is not a signal")))?;
        }
        let fd = sys::signal::signalfd(&set)?;
        let old = sys::signal::block(&set)?;
        Ok(Signals { fd, set, old_mask: old })
    }

    /// Whether `signal` is in the blocked set.
    pub fn contains(&self, signal: i32) -> bool {
        sys::signal::contains(&self.set, signal)
    }

    /// Sends `signal` to the calling thread (`raise(3)`); handy for tests.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a bad number.
    pub fn raise(&self, signal: i32) -> io::Result<()> {
        sys::signal::raise(signal)
    }

    fn wait_until(&self, deadline: Option<Instant>) -> io::Result<Option<SignalInfo>> {
        loop {
            if let Some((signal, sender)) = sys::signal::read_signalfd(self.fd.as_fd())? {
                return Ok(Some(SignalInfo { signal, sender }));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
            if !sys::fd::poll_readable(&[self.fd.as_fd()], deadline)?[0] {
                return Ok(None);
            }
        }
    }

    /// Waits for one of the signals.
    ///
    /// # Errors
    ///
    /// The `read`/`poll` error.
    pub fn wait(&self) -> io::Result<SignalInfo> {
        loop {
            if let Some(s) = self.wait_until(None)? {
                return Ok(s);
            }
        }
    }

    /// Takes a pending signal, if any, without waiting.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn try_wait(&self) -> io::Result<Option<SignalInfo>> {
        self.wait_until(Some(Instant::now()))
    }

    /// Waits at most `timeout` for one of the signals.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> io::Result<Option<SignalInfo>> {
        self.wait_until(deadline_after(timeout))
    }

    /// Waits until `deadline` at the latest for one of the signals.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_deadline(&self, deadline: Instant) -> io::Result<Option<SignalInfo>> {
        self.wait_until(Some(deadline))
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        let _ = sys::signal::set_mask(&self.old_mask);
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Signals {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
