//! A process-shared, robust `pthread_mutex_t` placed in shared memory.

use super::{clock_now, cvt_pthread, timespec};
use std::cell::UnsafeCell;
use std::io;
use std::time::Instant;

unsafe extern "C" {
    // glibc >= 2.30; not (yet) in the libc crate. Waits against CLOCK_MONOTONIC.
    fn pthread_mutex_clocklock(
        mutex: *mut libc::pthread_mutex_t,
        clock: libc::clockid_t,
        abstime: *const libc::timespec,
    ) -> libc::c_int;
}

/// How a lock was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Locked {
    /// Normally.
    Clean,
    /// The previous owner died holding it (`EOWNERDEAD`); the mutex has been made consistent.
    OwnerDied,
}

/// A robust, process-shared mutex. Lives in shared memory; never moved after [`RawMutex::init`].
#[repr(transparent)]
pub(crate) struct RawMutex(UnsafeCell<libc::pthread_mutex_t>);

// SAFETY: a pthread mutex is designed to be used from several threads (and, being
// PTHREAD_PROCESS_SHARED, several processes) at once.
unsafe impl Sync for RawMutex {}
// SAFETY: see above.
unsafe impl Send for RawMutex {}

impl std::fmt::Debug for RawMutex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawMutex")
    }
}

impl RawMutex {
    /// Initialises the mutex in place as robust and process-shared.
    ///
    /// # Safety
    ///
    /// `this` points to writable memory for a `RawMutex` that no other thread or process uses yet.
    pub(crate) unsafe fn init(this: *mut RawMutex) -> io::Result<()> {
        // SAFETY: the caller's contract is this function's.
        unsafe { RawMutex::init_kind(this, libc::PTHREAD_MUTEX_NORMAL) }
    }

    /// Initialises the mutex in place as robust, process-shared and recursive: the thread that
    /// holds it may lock it again, and must unlock it as many times (`PTHREAD_MUTEX_RECURSIVE`;
    /// glibc knows the holder by its kernel thread id, unique across processes).
    ///
    /// # Safety
    ///
    /// As [`RawMutex::init`].
    pub(crate) unsafe fn init_recursive(this: *mut RawMutex) -> io::Result<()> {
        // SAFETY: the caller's contract is this function's.
        unsafe { RawMutex::init_kind(this, libc::PTHREAD_MUTEX_RECURSIVE) }
    }

    /// # Safety
    ///
    /// As [`RawMutex::init`].
    unsafe fn init_kind(this: *mut RawMutex, kind: libc::c_int) -> io::Result<()> {
        // SAFETY: an all-zero attribute object is valid storage for pthread_mutexattr_init.
        let mut attr: libc::pthread_mutexattr_t = unsafe { std::mem::zeroed() };
        // SAFETY: `attr` is valid storage; each call below configures the initialised object;
        // `this` is valid and unshared per the contract.
        unsafe {
            cvt_pthread(libc::pthread_mutexattr_init(&mut attr))?;
            let r = (|| {
                cvt_pthread(libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED))?;
                cvt_pthread(libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST))?;
                cvt_pthread(libc::pthread_mutexattr_settype(&mut attr, kind))?;
                cvt_pthread(libc::pthread_mutex_init((*this).0.get(), &attr))
            })();
            libc::pthread_mutexattr_destroy(&mut attr);
            r
        }
    }

    fn finish(&self, r: libc::c_int) -> io::Result<Option<Locked>> {
        match r {
            0 => Ok(Some(Locked::Clean)),
            libc::EOWNERDEAD => {
                // SAFETY: we hold the lock (EOWNERDEAD means we acquired it); marking it
                // consistent is exactly what the caller is then allowed to do.
                cvt_pthread(unsafe { libc::pthread_mutex_consistent(self.0.get()) })?;
                Ok(Some(Locked::OwnerDied))
            }
            libc::EBUSY | libc::ETIMEDOUT => Ok(None),
            e => Err(io::Error::from_raw_os_error(e)),
        }
    }

    /// Locks, waiting until `deadline`. `Ok(None)` when the deadline passed (or, with a deadline
    /// already in the past, the mutex was busy).
    pub(crate) fn lock(&self, deadline: Option<Instant>) -> io::Result<Option<Locked>> {
        let m = self.0.get();
        let r = match deadline {
            // SAFETY: the mutex was initialised by `init` and outlives `self`.
            None => unsafe { libc::pthread_mutex_lock(m) },
            // SAFETY: as above.
            Some(d) if d <= Instant::now() => unsafe { libc::pthread_mutex_trylock(m) },
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                let abs = timespec(clock_now(libc::CLOCK_MONOTONIC).saturating_add(left));
                // SAFETY: as above; `abs` is a live timespec.
                unsafe { pthread_mutex_clocklock(m, libc::CLOCK_MONOTONIC, &abs) }
            }
        };
        self.finish(r)
    }

    /// Whether the mutex looks held right now, read without writing to it (glibc keeps the
    /// owner's thread id, or 0 when free, in the first `int` of a `pthread_mutex_t`). Only a
    /// hint for spinning: a spinner that reads instead of retrying `trylock` does not pull the
    /// cache line away from the holder.
    pub(crate) fn looks_locked(&self) -> bool {
        let word = self.0.get().cast::<i32>();
        // SAFETY: the mutex is initialised, aligned for `int` (and so for `AtomicI32`), and lives
        // as long as `self`; glibc itself changes this word only with atomic operations.
        unsafe { std::sync::atomic::AtomicI32::from_ptr(word) }.load(std::sync::atomic::Ordering::Relaxed)
            != 0
    }

    /// Locks if free now, without reading the clock. `Ok(None)` when busy.
    pub(crate) fn try_lock(&self) -> io::Result<Option<Locked>> {
        // SAFETY: the mutex was initialised by `init` and outlives `self`.
        self.finish(unsafe { libc::pthread_mutex_trylock(self.0.get()) })
    }

    /// Unlocks.
    ///
    /// # Safety
    ///
    /// The calling thread holds the lock.
    pub(crate) unsafe fn unlock(&self) {
        // SAFETY: the caller holds the lock.
        unsafe { libc::pthread_mutex_unlock(self.0.get()) };
    }
}
