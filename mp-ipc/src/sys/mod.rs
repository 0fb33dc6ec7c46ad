//! The one place in the workspace that calls `libc`.
//!
//! Everything above this module works with `OwnedFd`, `io::Result` and `Option<Instant>`
//! deadlines. The rules written once here:
//!
//! * **Errors**: a `-1` return becomes `io::Error::last_os_error()` ([`cvt`]); calls that return
//!   the error number directly (the `pthread_*` family) go through [`cvt_pthread`].
//! * **EINTR**: blocking calls with no deadline are retried ([`cvt_r`]); `try_` calls are not
//!   retried (they cannot block, so they do not see `EINTR`); `close` is never retried (`OwnedFd`
//!   does it once). A timed wait loops against one fixed `Instant` deadline and recomputes what is
//!   left each time ([`remaining`]).
//! * **File descriptors** are `OwnedFd` from the moment a call returns them, with close-on-exec set
//!   atomically by the creating call.

pub(crate) mod fd;
pub(crate) mod futex;
pub(crate) mod mman;
pub(crate) mod mq;
pub(crate) mod mutex;
pub(crate) mod process;
pub(crate) mod scm;
pub(crate) mod signal;

use std::io;
use std::time::{Duration, Instant};

/// Values a libc call uses to say "failed, see errno".
pub(crate) trait IsMinusOne: Copy {
    fn is_minus_one(self) -> bool;
}

macro_rules! impl_is_minus_one {
    ($($t:ty)*) => ($(impl IsMinusOne for $t {
        fn is_minus_one(self) -> bool { self == -1 }
    })*)
}
impl_is_minus_one! { i32 i64 isize }

/// Turns a `-1` return into the current `errno` as an `io::Error`.
pub(crate) fn cvt<T: IsMinusOne>(t: T) -> io::Result<T> {
    if t.is_minus_one() { Err(io::Error::last_os_error()) } else { Ok(t) }
}

/// Like [`cvt`], retrying the call while it fails with `EINTR`. Only for calls with no deadline.
pub(crate) fn cvt_r<T: IsMinusOne>(mut f: impl FnMut() -> T) -> io::Result<T> {
    loop {
        match cvt(f()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// For calls that return `0` or an error number (the `pthread_*` family).
pub(crate) fn cvt_pthread(r: libc::c_int) -> io::Result<()> {
    if r == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(r)) }
}

/// Time left until `deadline`: `None` means "wait forever", `Some(ZERO)` means "do not wait".
pub(crate) fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

/// A duration as a `timespec`, saturating at the largest representable value.
pub(crate) fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: d.subsec_nanos().into(),
    }
}

/// The current time of `clock` as a `Duration` since that clock's epoch.
pub(crate) fn clock_now(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clocks passed here always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// An absolute `CLOCK_REALTIME` timespec for a monotonic deadline, for the calls that only take
/// wall-clock time (`mq_timedsend`, `mq_timedreceive`; the mutex uses `pthread_mutex_clocklock`
/// with `CLOCK_MONOTONIC` instead). Callers loop on
/// `ETIMEDOUT` against the monotonic deadline, so a wall-clock jump cannot cut a wait short.
pub(crate) fn realtime_abs(deadline: Instant) -> libc::timespec {
    let left = deadline.saturating_duration_since(Instant::now());
    timespec(clock_now(libc::CLOCK_REALTIME).saturating_add(left))
}

/// Fills `buf` from the kernel's random source (`getrandom(2)`).
pub fn getrandom(buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: `rest` is a valid writable buffer of `rest.len()` bytes.
        let n = cvt_r(|| unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) })?;
        filled += n as usize;
    }
    Ok(())
}

/// The number of online CPUs (`sysconf(_SC_NPROCESSORS_ONLN)`), at least 1.
pub fn cpu_count() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n < 1 { 1 } else { n as usize }
}

/// The system page size.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n < 1 { 4096 } else { n as usize }
}

/// Gives the heap's free memory back to the kernel (`malloc_trim(0)`, glibc). For long-running
/// servers after a burst: freed memory otherwise stays in the process's resident set.
pub fn trim_heap() {
    // SAFETY: malloc_trim only walks glibc's own free lists.
    unsafe { libc::malloc_trim(0) };
}
