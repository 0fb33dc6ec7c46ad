//! [`RLock`]: a re-entrant lock shared by forked processes (Python's `multiprocessing.RLock`).

use crate::mapping::Mapping;
use crate::park::deadline_after;
use crate::sync::{LockResult, OwnerDied, lock_raw};
use crate::sys::mutex::{Locked, RawMutex};
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

#[repr(C)]
pub(crate) struct RLockState {
    /// Robust, process-shared and recursive.
    mutex: RawMutex,
    /// Levels the holder has taken; read and written only by the holder (so relaxed).
    depth: AtomicU32,
}

/// A lock that the thread holding it may take again (Python's `multiprocessing.RLock`), shared
/// by forked processes and robust against its holder dying.
///
/// The owner is one thread of one process (the kernel's thread id): that thread may lock it again
/// and again, and every other thread, in this process or another, waits until each of the
/// owner's guards is dropped. If the owner dies holding it, the next locker gets [`OwnerDied`],
/// never a hang.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let lock = mp_ipc::RLock::new()?;
/// let outer = lock.lock().unwrap();
/// let inner = lock.lock().unwrap(); // the owner enters again
/// assert_eq!(lock.depth_held(&inner), 2);
/// let other = mp_core::spawn(|| {
///     assert!(lock.lock_timeout(Duration::from_millis(10)).is_none());
/// })?;
/// assert!(other.join()?.success());
/// drop(inner);
/// drop(outer);
/// let other = mp_core::spawn(|| assert!(lock.try_lock().is_some()))?;
/// assert!(other.join()?.success());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct RLock {
    map: Mapping<RLockState>,
}
crate::mapping::handoff_by_mapping!(RLock, map);

impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RLock { .. }")
    }
}

impl RLock {
    /// A new, unlocked re-entrant lock.
    ///
    /// # Errors
    ///
    /// The `mmap` or `pthread_mutex_init` error.
    pub fn new() -> io::Result<RLock> {
        // SAFETY: `init_recursive` leaves a valid mutex; zeroed memory is a valid depth of 0.
        let map =
            unsafe { Mapping::new(0, |p: *mut RLockState| RawMutex::init_recursive(&raw mut (*p).mutex))? };
        Ok(RLock { map })
    }

    pub(crate) fn state(&self) -> &RLockState {
        &self.map
    }

    fn take(&self, deadline: Option<Instant>) -> Option<LockResult<RLockGuard<'_>>> {
        let how = self.map.take(deadline)?;
        let g = RLockGuard { state: &self.map, _not_send: PhantomData };
        Some(match how {
            Locked::Clean => Ok(g),
            Locked::OwnerDied => Err(OwnerDied::new(g)),
        })
    }

    /// Takes the lock (once more, if this thread holds it already), waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`OwnerDied`] (with the guard: the lock *is* held) when the previous holder died.
    ///
    /// # Panics
    ///
    /// If the lock is taken more than `u32::MAX` times at once.
    pub fn lock(&self) -> LockResult<RLockGuard<'_>> {
        match self.take(None) {
            Some(r) => r,
            None => panic!("a blocking lock returned without the lock"),
        }
    }

    /// Takes the lock if it is free now or this thread holds it; `None` otherwise.
    pub fn try_lock(&self) -> Option<LockResult<RLockGuard<'_>>> {
        self.take(Some(Instant::now()))
    }

    /// Takes the lock, waiting at most `timeout`; `None` if another thread kept it.
    pub fn lock_timeout(&self, timeout: Duration) -> Option<LockResult<RLockGuard<'_>>> {
        match deadline_after(timeout) {
            Some(d) => self.take(Some(d)),
            None => Some(self.lock()),
        }
    }

    /// Takes the lock, waiting until `deadline` at the latest; `None` if another thread kept it.
    pub fn lock_deadline(&self, deadline: Instant) -> Option<LockResult<RLockGuard<'_>>> {
        self.take(Some(deadline))
    }

    /// How many times the owner holds the lock; `guard` proves the caller is the owner.
    pub fn depth_held(&self, guard: &RLockGuard<'_>) -> u32 {
        guard.state.depth.load(Ordering::Relaxed)
    }
}

impl RLockState {
    /// Takes one level. After a dead holder the level count starts again at one.
    pub(crate) fn take(&self, deadline: Option<Instant>) -> Option<Locked> {
        let how = lock_raw(&self.mutex, deadline)?;
        match how {
            Locked::Clean => self.depth.fetch_add(1, Ordering::Relaxed),
            Locked::OwnerDied => self.depth.swap(1, Ordering::Relaxed),
        };
        Some(how)
    }

    /// Gives back one level.
    ///
    /// # Safety
    ///
    /// The calling thread holds the lock.
    pub(crate) unsafe fn release_one(&self) {
        self.depth.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: the caller holds the lock (at least this level).
        unsafe { self.mutex.unlock() };
    }

    /// Gives back every level the calling thread holds; returns how many, for [`restore`].
    ///
    /// # Safety
    ///
    /// The calling thread holds the lock.
    ///
    /// [`restore`]: RLockState::restore
    pub(crate) unsafe fn release_all(&self) -> u32 {
        let levels = self.depth.swap(0, Ordering::Relaxed);
        for _ in 0..levels {
            // SAFETY: the caller holds the lock `levels` times.
            unsafe { self.mutex.unlock() };
        }
        levels
    }

    /// Takes the lock `levels` times again (waiting as long as it takes), after
    /// [`release_all`](RLockState::release_all).
    pub(crate) fn restore(&self, levels: u32) -> Locked {
        let how = self.take(None).unwrap_or(Locked::Clean);
        for _ in 1..levels {
            // Already the owner: each further level is taken at once.
            self.take(None);
        }
        how
    }
}

/// Holds one level of an [`RLock`]; gives it back on drop. Stays on the thread that took it (the
/// lock belongs to that thread).
pub struct RLockGuard<'a> {
    state: &'a RLockState,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLockGuard").field("depth", &self.state.depth.load(Ordering::Relaxed)).finish()
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: this guard holds one level of the lock, on this thread (the guard is not Send).
        unsafe { self.state.release_one() };
    }
}
