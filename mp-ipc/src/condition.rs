//! [`Condition`]: a condition variable shared by forked processes (Python's
//! `multiprocessing.Condition`).

use crate::Lock;
use crate::mapping::Mapping;
use crate::park::bump_and_wake;
use crate::park::deadline_after;
use crate::rlock::RLock;
use crate::sync::{LockResult, OwnerDied, lock_raw};
use crate::sys::futex::{self, Wake};
use crate::sys::mutex::Locked;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

#[repr(C)]
struct CondState {
    /// Bumped by every notify that finds a sleeper; waiters sleep on it.
    seq: AtomicU32,
    waiters: AtomicU32,
}

/// The lock a [`Condition`] is made over.
enum CondLock {
    Plain(Lock),
    Reentrant(RLock),
}

/// Why a [`Condition`] wait returned without being notified (or its predicate holding). In
/// every case the lock is held again when the wait returns: the guard stays valid.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConditionError {
    /// Timed form: the deadline passed first (for `wait_for`: with the predicate still false).
    Timeout,
    /// Taking the lock back, the waiter found that its previous holder died holding it: the
    /// state it protects may be half-updated. Reported in preference to a timeout.
    OwnerDied,
    /// An unexpected `futex` error.
    Io(io::Error),
}

impl ConditionError {
    /// Whether this is [`ConditionError::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, ConditionError::Timeout)
    }

    /// Whether this is [`ConditionError::OwnerDied`].
    pub fn is_owner_died(&self) -> bool {
        matches!(self, ConditionError::OwnerDied)
    }
}

impl fmt::Display for ConditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConditionError::Timeout => f.write_str("timed out waiting on a condition"),
            ConditionError::OwnerDied => {
                f.write_str("the previous holder of the condition's lock died while holding it")
            }
            ConditionError::Io(e) => write!(f, "condition wait failed: {e}"),
        }
    }
}

impl std::error::Error for ConditionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConditionError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// A condition variable over a lock, shared by forked processes (Python's
/// `multiprocessing.Condition`): a process holding the lock waits until another changes the
/// state the lock protects and notifies.
///
/// The condition owns its lock: an [`RLock`] by default (as in Python), or a [`Lock`]
/// ([`with_lock`](Self::with_lock)). Take it with [`lock`](Self::lock) and pass the guard to the
/// waits, which give the lock up completely (every level of an `RLock`) while sleeping and take it
/// back before returning. Change the shared state under the lock; notify under it or after it.
///
/// Differences from Python: `notify` does not require the lock; `notify(n)` may wake more than
/// `n` waiters when waiters are just going to sleep (a wake-up without a change is possible with
/// any condition variable: wait in a loop, or use [`wait_for`](Self::wait_for)). A waiter that
/// dies only leaves a stale count of sleepers (costing notifiers a system call); a lock holder
/// that dies is reported ([`OwnerDied`], [`ConditionError::OwnerDied`]).
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// let cond = mp_ipc::Condition::new()?;
/// let ready = mp_ipc::Value::new(0u32)?;
/// let child = mp_core::spawn(|| {
///     let _g = cond.lock().unwrap();
///     ready.set(1);
///     cond.notify_all();
/// })?;
/// let mut g = cond.lock().unwrap();
/// cond.wait_for_timeout(&mut g, || ready.get() == 1, Duration::from_secs(10)).unwrap();
/// drop(g);
/// assert!(child.join()?.success());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Condition {
    lock: CondLock,
    state: Mapping<CondState>,
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.lock {
            CondLock::Plain(_) => "Lock",
            CondLock::Reentrant(_) => "RLock",
        };
        f.debug_struct("Condition").field("lock", &kind).finish()
    }
}

impl Condition {
    /// A condition over a new [`RLock`].
    ///
    /// # Errors
    ///
    /// The `mmap` or lock-initialisation error.
    pub fn new() -> io::Result<Condition> {
        Condition::make(CondLock::Reentrant(RLock::new()?))
    }

    /// A condition over `lock`, a plain [`Lock`] (which the condition then owns).
    ///
    /// # Errors
    ///
    /// The `mmap` error.
    pub fn with_lock(lock: Lock) -> io::Result<Condition> {
        Condition::make(CondLock::Plain(lock))
    }

    /// A condition over `lock`, an [`RLock`] (which the condition then owns).
    ///
    /// # Errors
    ///
    /// The `mmap` error.
    pub fn with_rlock(lock: RLock) -> io::Result<Condition> {
        Condition::make(CondLock::Reentrant(lock))
    }

    /// Whether the lock is an [`RLock`], the lock's memory file and the condition's (for
    /// [`crate::handoff`]).
    pub(crate) fn handoff_parts(&self) -> (bool, BorrowedFd<'_>, BorrowedFd<'_>) {
        match &self.lock {
            CondLock::Plain(l) => (false, l.mapping_fd(), self.state.fd()),
            CondLock::Reentrant(r) => (true, r.mapping_fd(), self.state.fd()),
        }
    }

    /// A handle on the condition whose memory files another process sent (for
    /// [`crate::handoff`]).
    pub(crate) fn from_handoff_parts(
        reentrant: bool,
        lock: OwnedFd,
        state: OwnedFd,
    ) -> io::Result<Condition> {
        let lock = if reentrant {
            CondLock::Reentrant(RLock::from_mapping_fd(lock)?)
        } else {
            CondLock::Plain(Lock::from_mapping_fd(lock)?)
        };
        // SAFETY: sent by `handoff_parts` of a `Condition` in a process running this same
        // program; `from_fd` checks the file's size.
        let state = unsafe { Mapping::from_fd(state, 0)? };
        Ok(Condition { lock, state })
    }

    fn make(lock: CondLock) -> io::Result<Condition> {
        // SAFETY: zeroed memory is a valid `CondState` (no notification yet, no sleeper).
        let state = unsafe { Mapping::new(0, |_| Ok(()))? };
        Ok(Condition { lock, state })
    }

    fn take(&self, deadline: Option<Instant>) -> Option<LockResult<ConditionGuard<'_>>> {
        let how = match &self.lock {
            CondLock::Plain(l) => lock_raw(l.raw(), deadline)?,
            CondLock::Reentrant(r) => r.state().take(deadline)?,
        };
        let g = ConditionGuard { cond: self, _not_send: PhantomData };
        Some(match how {
            Locked::Clean => Ok(g),
            Locked::OwnerDied => Err(OwnerDied::new(g)),
        })
    }

    /// Takes the condition's lock, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`] (with the guard: the lock *is* held) when the previous holder died.
    ///
    /// # Panics
    ///
    /// Over a plain [`Lock`], if the calling thread already holds it.
    pub fn lock(&self) -> LockResult<ConditionGuard<'_>> {
        match self.take(None) {
            Some(r) => r,
            None => panic!("a blocking lock returned without the lock"),
        }
    }

    /// Takes the lock if it is free now; `None` otherwise.
    pub fn try_lock(&self) -> Option<LockResult<ConditionGuard<'_>>> {
        self.take(Some(Instant::now()))
    }

    /// Takes the lock, waiting at most `timeout`; `None` if it stayed taken.
    pub fn lock_timeout(&self, timeout: Duration) -> Option<LockResult<ConditionGuard<'_>>> {
        match deadline_after(timeout) {
            Some(d) => self.take(Some(d)),
            None => Some(self.lock()),
        }
    }

    /// Takes the lock, waiting until `deadline` at the latest; `None` if it stayed taken.
    pub fn lock_deadline(&self, deadline: Instant) -> Option<LockResult<ConditionGuard<'_>>> {
        self.take(Some(deadline))
    }

    /// Gives up every level of the lock this thread holds; returns how many.
    ///
    /// # Safety
    ///
    /// The calling thread holds the lock.
    unsafe fn release_all(&self) -> u32 {
        match &self.lock {
            CondLock::Plain(l) => {
                // SAFETY: the caller holds the lock.
                unsafe { l.raw().unlock() };
                1
            }
            // SAFETY: the caller holds the lock.
            CondLock::Reentrant(r) => unsafe { r.state().release_all() },
        }
    }

    fn restore(&self, levels: u32) -> Locked {
        match &self.lock {
            CondLock::Plain(l) => lock_raw(l.raw(), None).unwrap_or(Locked::Clean),
            CondLock::Reentrant(r) => r.state().restore(levels),
        }
    }

    fn wait_until(
        &self,
        guard: &mut ConditionGuard<'_>,
        deadline: Option<Instant>,
    ) -> Result<(), ConditionError> {
        assert!(std::ptr::eq(guard.cond, self), "the guard belongs to another condition");
        let s = &*self.state;
        // Read under the lock: a notify after the state change this waiter is about to miss
        // comes after this read, so the sleep below cannot miss it (the protocol in `sync.rs`).
        let seen = s.seq.load(Ordering::SeqCst);
        s.waiters.fetch_add(1, Ordering::SeqCst);
        // SAFETY: `guard` proves that this thread holds the lock.
        let levels = unsafe { self.release_all() };
        let woken = loop {
            if s.seq.load(Ordering::SeqCst) != seen {
                break Ok(());
            }
            match futex::wait(&s.seq, seen, deadline) {
                Ok(Wake::Recheck) => {}
                Ok(Wake::TimedOut) => break Err(ConditionError::Timeout),
                Err(e) => break Err(ConditionError::Io(e)),
            }
        };
        s.waiters.fetch_sub(1, Ordering::SeqCst);
        match self.restore(levels) {
            Locked::OwnerDied => Err(ConditionError::OwnerDied),
            Locked::Clean => woken,
        }
    }

    /// Gives up the lock, sleeps until notified, and takes the lock back (Python's `wait()`).
    ///
    /// # Errors
    ///
    /// [`ConditionError::OwnerDied`] or [`ConditionError::Io`]; the lock is held again.
    ///
    /// # Panics
    ///
    /// If `guard` is another condition's.
    pub fn wait(&self, guard: &mut ConditionGuard<'_>) -> Result<(), ConditionError> {
        self.wait_until(guard, None)
    }

    /// As [`wait`](Self::wait), sleeping at most `timeout` (Python's `wait(timeout)`).
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait), plus [`ConditionError::Timeout`].
    ///
    /// # Panics
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_timeout(
        &self,
        guard: &mut ConditionGuard<'_>,
        timeout: Duration,
    ) -> Result<(), ConditionError> {
        self.wait_until(guard, deadline_after(timeout))
    }

    /// As [`wait`](Self::wait), sleeping until `deadline` at the latest.
    ///
    /// # Errors
    ///
    /// As [`wait_timeout`](Self::wait_timeout).
    ///
    /// # Panics
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_deadline(
        &self,
        guard: &mut ConditionGuard<'_>,
        deadline: Instant,
    ) -> Result<(), ConditionError> {
        self.wait_until(guard, Some(deadline))
    }

    fn wait_for_until(
        &self,
        guard: &mut ConditionGuard<'_>,
        mut predicate: impl FnMut() -> bool,
        deadline: Option<Instant>,
    ) -> Result<(), ConditionError> {
        while !predicate() {
            match self.wait_until(guard, deadline) {
                Ok(()) => {}
                Err(ConditionError::Timeout) => {
                    return if predicate() { Ok(()) } else { Err(ConditionError::Timeout) };
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Waits until `predicate` holds, checking it under the lock before each sleep and after each
    /// wake-up (Python's `wait_for(predicate)`).
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait); the lock is held again.
    ///
    /// # Panics
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_for(
        &self,
        guard: &mut ConditionGuard<'_>,
        predicate: impl FnMut() -> bool,
    ) -> Result<(), ConditionError> {
        self.wait_for_until(guard, predicate, None)
    }

    /// As [`wait_for`](Self::wait_for), waiting at most `timeout` (Python's
    /// `wait_for(predicate, timeout)`).
    ///
    /// # Errors
    ///
    /// As [`wait_for`](Self::wait_for), plus [`ConditionError::Timeout`] when the predicate is
    /// still false at the deadline.
    ///
    /// # Panics
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_for_timeout(
        &self,
        guard: &mut ConditionGuard<'_>,
        predicate: impl FnMut() -> bool,
        timeout: Duration,
    ) -> Result<(), ConditionError> {
        self.wait_for_until(guard, predicate, deadline_after(timeout))
    }

    /// As [`wait_for_timeout`](Self::wait_for_timeout), waiting until `deadline` at the latest.
    ///
    /// # Errors
    ///
    /// As [`wait_for_timeout`](Self::wait_for_timeout).
    ///
    /// # Panics
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_for_deadline(
        &self,
        guard: &mut ConditionGuard<'_>,
        predicate: impl FnMut() -> bool,
        deadline: Instant,
    ) -> Result<(), ConditionError> {
        self.wait_for_until(guard, predicate, Some(deadline))
    }

    /// Wakes up to `n` waiters, in any process (Python's `notify(n)`; see the type's docs for
    /// when a few more wake).
    pub fn notify(&self, n: u32) {
        if n > 0 {
            let s = &*self.state;
            bump_and_wake(&s.seq, &s.waiters, i32::try_from(n).unwrap_or(i32::MAX));
        }
    }

    /// Wakes every waiter, in any process (Python's `notify_all`).
    pub fn notify_all(&self) {
        let s = &*self.state;
        bump_and_wake(&s.seq, &s.waiters, i32::MAX);
    }
}

/// Holds a [`Condition`]'s lock (one level of it, over an [`RLock`]); gives it back on drop.
/// Stays on the thread that took it.
pub struct ConditionGuard<'a> {
    cond: &'a Condition,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for ConditionGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConditionGuard { .. }")
    }
}

impl Drop for ConditionGuard<'_> {
    fn drop(&mut self) {
        match &self.cond.lock {
            // SAFETY: this guard holds the lock, on this thread (the guard is not Send).
            CondLock::Plain(l) => unsafe { l.raw().unlock() },
            // SAFETY: as above, one level of it.
            CondLock::Reentrant(r) => unsafe { r.state().release_one() },
        }
    }
}
