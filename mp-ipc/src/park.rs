//! How every waiting type in this crate waits: the [`Wait`] a caller asked for, and the wake-up
//! protocol written once ([`wait_on`], [`wait_ready`] and their wakers).

use crate::sys::futex::{self, Wake};
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Spins this many times re-checking a condition before sleeping in the kernel: a wake-up from
/// another CPU usually comes within it, and a sleep costs two system calls.
pub(crate) const SPINS: u32 = 200;
/// The fewest spins [`spin_until`] keeps trying when spinning keeps failing.
const MIN_SPINS: u32 = 4;

/// Every this many waits, a thread spins the full [`SPINS`] whatever its budget, to find out
/// whether spinning pays again.
const PROBE_EVERY: u32 = 16;

thread_local! {
    /// How long this thread's waits spin before sleeping, and a count of its waits: doubled (up
    /// to [`SPINS`]) each time a spin saw the change, halved (down to [`MIN_SPINS`]) each time
    /// it had to sleep anyway; every [`PROBE_EVERY`]th wait spins in full, and resets the
    /// budget when that pays. On an idle machine the peer answers within the spin and a wait
    /// costs no system call; on a busy one the peer is often not on a CPU at all, and a full
    /// spin only delays the sleep that is coming (a ping-pong of two processes beside a
    /// CPU-bound third paid 3x `sem_t`'s time for it).
    static SPIN: std::cell::Cell<(u32, u32)> = const { std::cell::Cell::new((SPINS, 0)) };
}

/// Spins until `ready()` holds or this thread's spin budget is spent; adapts the budget to the
/// outcome. Returns whether `ready()` held.
pub(crate) fn spin_until(ready: impl Fn() -> bool) -> bool {
    let (budget, waits) = SPIN.with(std::cell::Cell::get);
    let spins = if waits.is_multiple_of(PROBE_EVERY) { SPINS } else { budget };
    let waits = waits.wrapping_add(1);
    for _ in 0..spins {
        if ready() {
            SPIN.with(|s| s.set(((spins * 2).min(SPINS), waits)));
            return true;
        }
        std::hint::spin_loop();
    }
    SPIN.with(|s| s.set(((budget / 2).max(MIN_SPINS), waits)));
    false
}

/// Deadline for a timeout: `None` (wait for ever) when the timeout is too large to add to now.
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// How long a call may wait: the four public shapes (`try_`, blocking, `_timeout`, `_deadline`)
/// become one of these, and one private implementation takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// `try_` forms: take what is there now, never sleep.
    Now,
    /// `_timeout` and `_deadline` forms.
    Until(Instant),
    /// Blocking forms.
    Forever,
}

impl Wait {
    /// A wait of `timeout` from now; [`Wait::Forever`] when the deadline would overflow.
    pub(crate) fn timeout(timeout: Duration) -> Wait {
        Instant::now().checked_add(timeout).map_or(Wait::Forever, Wait::Until)
    }

    /// The deadline for a system call's timeout: `None` for ever, now for [`Wait::Now`].
    pub(crate) fn deadline(self) -> Option<Instant> {
        match self {
            Wait::Now => Some(Instant::now()),
            Wait::Until(t) => Some(t),
            Wait::Forever => None,
        }
    }

    /// Whether the time allowed has run out (always for [`Wait::Now`]).
    pub(crate) fn expired(self) -> bool {
        match self {
            Wait::Now => true,
            Wait::Until(t) => Instant::now() >= t,
            Wait::Forever => false,
        }
    }
}

/// Waits until `word` no longer holds `seen`: spins briefly ([`spin_until`]: no system call), then registers in
/// `waiters` and sleeps in the kernel. `TimedOut` at the deadline.
///
/// The wake-up protocol, written once: a waker first changes `word` (SeqCst, or Release followed
/// by a SeqCst fence), then wakes only if `waiters` is non-zero (SeqCst); a waiter first raises `waiters`, then re-checks `word` before
/// sleeping. One of the two always sees the other, so no wake-up is lost, and a waker pays the
/// `futex` system call only when someone really sleeps.
pub(crate) fn wait_on(
    word: &AtomicU32,
    waiters: &AtomicU32,
    seen: u32,
    deadline: Option<Instant>,
) -> io::Result<Wake> {
    if spin_until(|| word.load(Ordering::Acquire) != seen) {
        return Ok(Wake::Recheck);
    }
    waiters.fetch_add(1, Ordering::SeqCst);
    let r = if word.load(Ordering::SeqCst) != seen {
        Ok(Wake::Recheck)
    } else {
        futex::wait(word, seen, deadline)
    };
    waiters.fetch_sub(1, Ordering::SeqCst);
    r
}

/// Waits until `ready()` holds, where `ready` reads shared state that changes together with a
/// bump of `seq`: spins on `ready` (no system call, no write to shared memory), then registers in
/// `waiters` and sleeps on `seq`. The waker's half is [`bump_and_wake`], called after the change
/// (made with `SeqCst`, or followed by a `SeqCst` fence); it writes `seq` only when someone
/// sleeps.
pub(crate) fn wait_ready(
    seq: &AtomicU32,
    waiters: &AtomicU32,
    deadline: Option<Instant>,
    ready: impl Fn() -> bool,
) -> io::Result<Wake> {
    if spin_until(&ready) {
        return Ok(Wake::Recheck);
    }
    let seen = seq.load(Ordering::SeqCst);
    waiters.fetch_add(1, Ordering::SeqCst);
    let r = if ready() { Ok(Wake::Recheck) } else { futex::wait(seq, seen, deadline) };
    waiters.fetch_sub(1, Ordering::SeqCst);
    r
}

/// The waker's half of [`wait_ready`]: after a `SeqCst` change that may make a sleeper's
/// condition true, bump `seq` and wake `n` sleepers, if there are any.
pub(crate) fn bump_and_wake(seq: &AtomicU32, waiters: &AtomicU32, n: i32) {
    if waiters.load(Ordering::SeqCst) > 0 {
        seq.fetch_add(1, Ordering::SeqCst);
        futex::wake(seq, n);
    }
}

/// The waker's half of [`wait_on`]: call after changing `word`.
pub(crate) fn wake_waiters(word: &AtomicU32, waiters: &AtomicU32, n: i32) {
    if waiters.load(Ordering::SeqCst) > 0 {
        futex::wake(word, n);
    }
}
