//! Shared (not process-private) futex waits and wakes on a 32-bit word in shared memory.

use super::{remaining, timespec};
use std::io;
use std::sync::atomic::AtomicU32;
use std::time::Instant;

/// How a futex wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Woken, or the word no longer held `expected`, or a signal: the caller re-checks.
    Recheck,
    /// The deadline passed.
    TimedOut,
}

/// Sleeps while `*word == expected`, until woken or `deadline`. Never loops: the caller re-checks
/// its condition and calls again with the same deadline (the EINTR rule for timed waits).
pub(crate) fn wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> io::Result<Wake> {
    let left = remaining(deadline);
    if left.is_some_and(|d| d.is_zero()) {
        return Ok(Wake::TimedOut);
    }
    let ts = left.map(timespec);
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a valid, aligned 32-bit atomic for the duration of the call; FUTEX_WAIT
    // (shared) only reads it. The timeout pointer is null or points at a live timespec.
    let r = unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT, expected, ts_ptr) };
    if r == 0 {
        return Ok(Wake::Recheck);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(Wake::Recheck),
        Some(libc::ETIMEDOUT) => {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                Ok(Wake::TimedOut)
            } else {
                Ok(Wake::Recheck)
            }
        }
        _ => Err(e),
    }
}

/// Wakes up to `n` waiters on `word` (in any process that maps the same memory).
pub(crate) fn wake(word: &AtomicU32, n: i32) {
    // SAFETY: `word` is a valid, aligned 32-bit atomic; FUTEX_WAKE does not access it.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n) };
}
