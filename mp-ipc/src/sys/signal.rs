//! Signal masks and `signalfd(2)`.

use super::{cvt, cvt_pthread};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// A set of signals.
pub(crate) type SigSet = libc::sigset_t;

/// An empty `sigset_t`.
pub(crate) fn empty_set() -> libc::sigset_t {
    // SAFETY: an all-zero sigset_t is valid storage; sigemptyset then initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid writable storage.
    unsafe { libc::sigemptyset(&mut set) };
    set
}

/// Adds `sig` to `set`; `EINVAL` for a number that is not a signal.
pub(crate) fn add(set: &mut libc::sigset_t, sig: i32) -> io::Result<()> {
    // SAFETY: `set` was initialised by `empty_set`.
    cvt(unsafe { libc::sigaddset(set, sig) }).map(drop)
}

/// Whether `sig` is in `set`.
pub(crate) fn contains(set: &libc::sigset_t, sig: i32) -> bool {
    // SAFETY: `set` was initialised by `empty_set`.
    unsafe { libc::sigismember(set, sig) == 1 }
}

/// Adds `set` to the calling thread's blocked signals; returns the previous mask.
pub(crate) fn block(set: &SigSet) -> io::Result<SigSet> {
    thread_mask(libc::SIG_BLOCK, set)
}

/// Replaces the calling thread's signal mask.
pub(crate) fn set_mask(set: &SigSet) -> io::Result<()> {
    thread_mask(libc::SIG_SETMASK, set).map(drop)
}

/// `pthread_sigmask(how, set)`, returning the previous mask of the calling thread.
fn thread_mask(how: libc::c_int, set: &libc::sigset_t) -> io::Result<libc::sigset_t> {
    let mut old = empty_set();
    // SAFETY: both pointers are valid sigsets.
    cvt_pthread(unsafe { libc::pthread_sigmask(how, set, &mut old) })?;
    Ok(old)
}

/// `signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK)`.
pub(crate) fn signalfd(set: &libc::sigset_t) -> io::Result<OwnedFd> {
    // SAFETY: `set` is a valid sigset.
    let fd = cvt(unsafe { libc::signalfd(-1, set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })?;
    // SAFETY: signalfd succeeded; the descriptor is ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads one pending signal from a non-blocking signalfd: `(signal, sender pid)`, or `None` when
/// none is pending.
pub(crate) fn read_signalfd(fd: BorrowedFd<'_>) -> io::Result<Option<(i32, i32)>> {
    // SAFETY: an all-zero siginfo record is valid storage.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    loop {
        // SAFETY: `info` is valid for writes of `size` bytes.
        let r =
            unsafe { libc::read(fd.as_raw_fd(), (&mut info as *mut libc::signalfd_siginfo).cast(), size) };
        match cvt(r) {
            Ok(n) if n as usize == size => return Ok(Some((info.ssi_signo as i32, info.ssi_pid as i32))),
            Ok(_) => return Err(io::Error::other("short read from signalfd")),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        }
    }
}

/// `raise(sig)` in the calling thread.
pub(crate) fn raise(sig: i32) -> io::Result<()> {
    // SAFETY: raise has no memory-safety preconditions.
    cvt(unsafe { libc::raise(sig) }).map(drop)
}
