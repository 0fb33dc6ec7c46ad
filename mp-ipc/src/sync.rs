//! Synchronisation across forked processes: [`Lock`], [`Semaphore`], [`BoundedSemaphore`] and
//! [`Event`] (Python's `multiprocessing` names). They sleep with the wake-up protocol in
//! `park.rs`.
//!
//! Each lives in a small anonymous shared mapping: make it before forking, and every child
//! forked afterwards shares it. Waiting sleeps in the kernel (a futex, or a robust pthread mutex
//! for [`Lock`]), after a short spin. Every blocking call has a `try_` form and a timeout form.

use crate::mapping::Mapping;
use crate::park::deadline_after;
use crate::park::{wait_on, wake_waiters};
use crate::sys::futex::Wake;
use crate::sys::mutex::{Locked, RawMutex};
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The result of taking a lock: `Err` when the previous holder died holding it.
pub type LockResult<G> = Result<G, OwnerDied<G>>;

/// The lock was taken, but its previous holder died while holding it (like a poisoned
/// `std::sync::Mutex`): what it protected may be half-updated. The guard is inside.
pub struct OwnerDied<G> {
    guard: G,
}

impl<G> OwnerDied<G> {
    pub(crate) fn new(guard: G) -> Self {
        OwnerDied { guard }
    }

    /// The guard: the lock is held.
    pub fn into_inner(self) -> G {
        self.guard
    }

    /// A reference to the guard.
    pub fn get_ref(&self) -> &G {
        &self.guard
    }
}

impl<G> fmt::Debug for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OwnerDied { .. }")
    }
}

impl<G> fmt::Display for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the previous holder of the lock died while holding it")
    }
}

impl<G> std::error::Error for OwnerDied<G> {}

/// A mutual-exclusion lock shared by forked processes (Python's `multiprocessing.Lock`), robust
/// against its holder dying: the next locker gets [`OwnerDied`], never a hang.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let lock = mp_ipc::Lock::new()?;
/// let guard = lock.lock().unwrap();
/// assert!(lock.try_lock().is_none());
/// assert!(lock.lock_timeout(Duration::from_millis(10)).is_none());
/// drop(guard);
///
/// // A holder that dies: the next locker is told.
/// let child = mp_core::spawn(|| {
///     std::mem::forget(lock.lock());
///     std::process::exit(0)
/// })?;
/// child.join()?;
/// assert!(lock.lock().is_err());
/// assert!(lock.lock().is_ok()); // consistent again
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Lock {
    map: Mapping<RawMutex>,
}
crate::mapping::handoff_by_mapping!(Lock, map);

impl Lock {
    /// A new, unlocked lock.
    ///
    /// # Errors
    ///
    /// The `mmap` or `pthread_mutex_init` error.
    pub fn new() -> io::Result<Lock> {
        // SAFETY: `RawMutex::init` leaves a valid mutex at the pointer.
        let map = unsafe { Mapping::new(0, |p| RawMutex::init(p))? };
        Ok(Lock { map })
    }

    /// The mutex, for types built over a lock ([`Condition`](crate::Condition)).
    pub(crate) fn raw(&self) -> &RawMutex {
        &self.map
    }

    fn take(&self, deadline: Option<Instant>) -> Option<LockResult<LockGuard<'_>>> {
        let (held, how) = RawGuard::lock_until(&self.map, deadline)?;
        let g = LockGuard { _held: held };
        Some(match how {
            Locked::Clean => Ok(g),
            Locked::OwnerDied => Err(OwnerDied::new(g)),
        })
    }

    /// Takes the lock, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`] (with the guard: the lock *is* held) when the previous holder died.
    ///
    /// # Panics
    ///
    /// If the calling thread already holds the lock (a deadlock otherwise).
    pub fn lock(&self) -> LockResult<LockGuard<'_>> {
        match self.take(None) {
            Some(r) => r,
            None => panic!("a blocking lock returned without the lock"),
        }
    }

    /// Takes the lock if it is free now.
    pub fn try_lock(&self) -> Option<LockResult<LockGuard<'_>>> {
        self.take(Some(Instant::now()))
    }

    /// Takes the lock, waiting at most `timeout`; `None` if it stayed taken.
    pub fn lock_timeout(&self, timeout: Duration) -> Option<LockResult<LockGuard<'_>>> {
        match deadline_after(timeout) {
            Some(d) => self.take(Some(d)),
            None => Some(self.lock()),
        }
    }

    /// Takes the lock, waiting until `deadline` at the latest; `None` if it stayed taken.
    pub fn lock_deadline(&self, deadline: Instant) -> Option<LockResult<LockGuard<'_>>> {
        self.take(Some(deadline))
    }
}

/// Locks a robust mutex that only this crate's types use. Its errors other than a timeout
/// (`ENOTRECOVERABLE`, `EINVAL`, `EDEADLK`) cannot happen to such a mutex unless a thread locks
/// it twice, which is a bug in the caller: that panics, as relocking a `std::sync::Mutex` may.
pub(crate) fn lock_raw(m: &RawMutex, deadline: Option<Instant>) -> Option<Locked> {
    match m.lock(deadline) {
        Ok(r) => r,
        Err(e) => panic!("process-shared lock failed: {e}"),
    }
}

/// Holds a raw mutex of this crate's shared state and unlocks it on drop: the one RAII guard
/// behind [`Queue`](crate::Queue), [`Barrier`](crate::Barrier), [`Value`](crate::Value),
/// [`Array`](crate::Array) and [`LockGuard`] (no hand-paired lock/unlock anywhere).
pub(crate) struct RawGuard<'a> {
    mutex: &'a RawMutex,
}

impl<'a> RawGuard<'a> {
    /// Locks `mutex`, waiting as long as it takes; also says whether a holder died.
    pub(crate) fn lock(mutex: &'a RawMutex) -> (RawGuard<'a>, Locked) {
        let how = lock_raw(mutex, None).unwrap_or(Locked::Clean);
        (RawGuard { mutex }, how)
    }

    /// Locks `mutex`, waiting until `deadline` at the latest (`None`: as long as it takes);
    /// `None` when it stayed taken.
    pub(crate) fn lock_until(
        mutex: &'a RawMutex,
        deadline: Option<Instant>,
    ) -> Option<(RawGuard<'a>, Locked)> {
        let how = lock_raw(mutex, deadline)?;
        Some((RawGuard { mutex }, how))
    }

    /// Takes charge of a lock the caller has just taken.
    ///
    /// # Safety
    ///
    /// The calling thread holds `mutex`, and nothing else will unlock it.
    pub(crate) unsafe fn adopt(mutex: &'a RawMutex) -> RawGuard<'a> {
        RawGuard { mutex }
    }
}

impl Drop for RawGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: this guard took the lock (or adopted it from its taker) and is its only holder.
        unsafe { self.mutex.unlock() };
    }
}

impl fmt::Debug for RawGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawGuard")
    }
}

/// Holds a [`Lock`]; releases it on drop.
#[derive(Debug)]
pub struct LockGuard<'a> {
    _held: RawGuard<'a>,
}

#[derive(Debug)]
#[repr(C)]
struct SemState {
    value: AtomicU32,
    waiters: AtomicU32,
    /// Upper bound for a bounded semaphore; `u32::MAX` for none.
    max: u32,
}

/// A counting semaphore shared by forked processes (Python's `multiprocessing.Semaphore`).
///
/// Semaphores have no owner: a process that dies after `acquire` does not give its unit back.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let sem = mp_ipc::Semaphore::new(1)?;
/// sem.acquire();
/// assert!(!sem.try_acquire());
/// assert!(!sem.acquire_timeout(Duration::from_millis(5)));
/// let child = mp_core::spawn(|| sem.release())?;
/// assert!(child.join()?.success());
/// assert!(sem.acquire_timeout(Duration::from_secs(10)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Semaphore {
    map: Mapping<SemState>,
}
crate::mapping::handoff_by_mapping!(Semaphore, map);

impl Semaphore {
    /// A semaphore holding `value` units.
    ///
    /// # Errors
    ///
    /// The `mmap` error.
    pub fn new(value: u32) -> io::Result<Semaphore> {
        Semaphore::with_max(value, u32::MAX)
    }

    fn with_max(value: u32, max: u32) -> io::Result<Semaphore> {
        // SAFETY: the closure writes a valid `SemState`.
        let map = unsafe {
            Mapping::new(0, |p: *mut SemState| {
                p.write(SemState { value: AtomicU32::new(value), waiters: AtomicU32::new(0), max });
                Ok(())
            })?
        };
        Ok(Semaphore { map })
    }

    fn try_take(&self) -> bool {
        let s = &*self.map;
        let mut v = s.value.load(Ordering::Relaxed);
        while v > 0 {
            match s.value.compare_exchange_weak(v, v - 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
        false
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> bool {
        let s = &*self.map;
        loop {
            if self.try_take() {
                return true;
            }
            if sleep(&s.value, &s.waiters, deadline) == Wake::TimedOut {
                return self.try_take();
            }
        }
    }

    /// Takes one unit, waiting as long as it takes.
    pub fn acquire(&self) {
        self.acquire_until(None);
    }

    /// Takes one unit if one is there now; `false` otherwise.
    pub fn try_acquire(&self) -> bool {
        self.try_take()
    }

    /// Takes one unit, waiting at most `timeout`; `false` if none came.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.acquire_until(deadline_after(timeout))
    }

    /// Takes one unit, waiting until `deadline` at the latest; `false` if none came.
    pub fn acquire_deadline(&self, deadline: Instant) -> bool {
        self.acquire_until(Some(deadline))
    }

    /// Gives one unit back, waking a waiter.
    ///
    /// # Errors
    ///
    /// For an unbounded semaphore, `InvalidInput` when the count would overflow `u32`.
    pub fn release(&self) -> io::Result<()> {
        let s = &*self.map;
        let mut v = s.value.load(Ordering::Relaxed);
        loop {
            if v >= s.max {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    if s.max == u32::MAX {
                        "semaphore count would overflow".to_string()
                    } else {
                        format!("bounded semaphore released more than its initial value {}", s.max)
                    },
                ));
            }
            match s.value.compare_exchange_weak(v, v + 1, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => v = now,
            }
        }
        wake_waiters(&s.value, &s.waiters, 1);
        Ok(())
    }

    /// The current count (a snapshot).
    pub fn value(&self) -> u32 {
        self.map.value.load(Ordering::Relaxed)
    }
}

/// A semaphore that refuses to be released above its initial value (Python's
/// `BoundedSemaphore`): a `release` too many is an error, not a silent extra unit.
///
/// # Examples
///
/// ```
/// let sem = mp_ipc::BoundedSemaphore::new(2)?;
/// assert!(sem.release().is_err());
/// sem.acquire();
/// sem.release()?;
/// assert_eq!(sem.value(), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct BoundedSemaphore {
    inner: Semaphore,
}

impl BoundedSemaphore {
    /// The memory file of this semaphore (for [`crate::handoff`]).
    pub(crate) fn mapping_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.inner.mapping_fd()
    }

    /// A handle on the semaphore whose memory file another process sent (for
    /// [`crate::handoff`]).
    pub(crate) fn from_mapping_fd(fd: std::os::fd::OwnedFd) -> io::Result<BoundedSemaphore> {
        Ok(BoundedSemaphore { inner: Semaphore::from_mapping_fd(fd)? })
    }
}

impl BoundedSemaphore {
    /// A semaphore holding, and never holding more than, `value` units.
    ///
    /// # Errors
    ///
    /// The `mmap` error.
    pub fn new(value: u32) -> io::Result<BoundedSemaphore> {
        Ok(BoundedSemaphore { inner: Semaphore::with_max(value, value)? })
    }

    /// As [`Semaphore::acquire`].
    pub fn acquire(&self) {
        self.inner.acquire()
    }

    /// As [`Semaphore::try_acquire`].
    pub fn try_acquire(&self) -> bool {
        self.inner.try_acquire()
    }

    /// As [`Semaphore::acquire_timeout`].
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.inner.acquire_timeout(timeout)
    }

    /// As [`Semaphore::acquire_deadline`].
    pub fn acquire_deadline(&self, deadline: Instant) -> bool {
        self.inner.acquire_deadline(deadline)
    }

    /// Gives one unit back.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when that would exceed the initial value.
    pub fn release(&self) -> io::Result<()> {
        self.inner.release()
    }

    /// The current count (a snapshot).
    pub fn value(&self) -> u32 {
        self.inner.value()
    }
}

/// A flag processes can wait for (Python's `multiprocessing.Event`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let ready = mp_ipc::Event::new()?;
/// assert!(!ready.wait_timeout(Duration::from_millis(5)));
/// let child = mp_core::spawn(|| ready.set())?;
/// assert!(ready.wait_timeout(Duration::from_secs(10)));
/// assert!(ready.is_set());
/// ready.clear();
/// assert!(!ready.is_set());
/// child.join()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Event {
    map: Mapping<[AtomicU32; 2]>,
}
crate::mapping::handoff_by_mapping!(Event, map);

impl Event {
    /// A new, clear event.
    ///
    /// # Errors
    ///
    /// The `mmap` error.
    pub fn new() -> io::Result<Event> {
        // SAFETY: zeroed memory is a valid pair of `AtomicU32`s (flag clear, no waiters).
        let map = unsafe { Mapping::new(0, |_| Ok(()))? };
        Ok(Event { map })
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        let [flag, waiters] = &*self.map;
        if flag.swap(1, Ordering::SeqCst) == 0 {
            wake_waiters(flag, waiters, i32::MAX);
        }
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.map[0].store(0, Ordering::Release);
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.map[0].load(Ordering::Acquire) == 1
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        loop {
            if self.is_set() {
                return true;
            }
            let [flag, waiters] = &*self.map;
            if sleep(flag, waiters, deadline) == Wake::TimedOut {
                return self.is_set();
            }
        }
    }

    /// Waits until the flag is set.
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Waits at most `timeout`; returns whether the flag is set.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(deadline_after(timeout))
    }

    /// Waits until `deadline` at the latest; returns whether the flag is set.
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.wait_until(Some(deadline))
    }
}

/// Sleeps while `word` is 0 (see [`wait_on`]). The futex errors other than the ones `wait_on`
/// handles (`EFAULT`, `EINVAL`) cannot happen for a word in this crate's mappings with a valid
/// timeout: one would be a bug here, so it panics rather than burden every caller with it.
fn sleep(word: &AtomicU32, waiters: &AtomicU32, deadline: Option<Instant>) -> Wake {
    match wait_on(word, waiters, 0, deadline) {
        Ok(w) => w,
        Err(e) => panic!("futex wait on a process-shared word failed: {e}"),
    }
}
