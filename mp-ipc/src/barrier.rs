//! [`Barrier`]: lets a fixed number of processes wait for one another (Python's
//! `multiprocessing.Barrier`, with `abort`, `reset`, `broken` and `n_waiting`).

use crate::mapping::Mapping;
use crate::park::deadline_after;
use crate::park::{wait_on, wake_waiters};
use crate::sync::RawGuard;
use crate::sys::futex::Wake;
use crate::sys::mutex::RawMutex;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Rounds whose outcome a late waiter can still read (one bit each in `broken_rounds`).
const ROUNDS_KEPT: u32 = u64::BITS;

#[repr(C)]
struct BarrierState {
    lock: RawMutex,
    /// Arrived in the current round (changed only under `lock`).
    count: AtomicU32,
    /// The current round's number, bumped (under `lock`) when a round ends, opened or broken;
    /// waiters sleep on it.
    generation: AtomicU32,
    /// Bit `round % 64` is set when that round ended broken, cleared when it opened; set or
    /// cleared before `generation` moves on, so a waiter that sees the new generation reads it.
    broken_rounds: AtomicU64,
    /// 1 from an abort or a timeout until `reset`.
    broken: AtomicU32,
    sleepers: AtomicU32,
    parties: u32,
}

impl BarrierState {
    /// Ends the current round broken and refuses waiters until `reset`. Under `lock`.
    fn break_round(&self) {
        self.broken.store(1, Ordering::SeqCst);
        self.end_round_broken();
    }

    /// Ends the current round broken: its waiters get [`BarrierError::Broken`]. Under `lock`.
    fn end_round_broken(&self) {
        let g = self.generation.load(Ordering::Relaxed);
        self.broken_rounds.fetch_or(1 << (g % ROUNDS_KEPT), Ordering::SeqCst);
        self.count.store(0, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// How round `g` (which has ended) ended, for a waiter that arrived `index`-th.
    fn outcome(&self, g: u32, index: u32) -> Result<u32, BarrierError> {
        if self.broken_rounds.load(Ordering::SeqCst) & (1 << (g % ROUNDS_KEPT)) != 0 {
            Err(BarrierError::Broken)
        } else {
            Ok(index)
        }
    }
}

/// Why [`Barrier::wait`] did not pass the barrier.
#[derive(Debug)]
#[non_exhaustive]
pub enum BarrierError {
    /// The barrier is or became broken while waiting: [`abort`](Barrier::abort),
    /// [`reset`](Barrier::reset), or another waiter's timeout (Python's `BrokenBarrierError`).
    Broken,
    /// Timed form: this waiter's deadline passed first. As in Python, that breaks the barrier
    /// for everyone until [`reset`](Barrier::reset).
    Timeout,
    /// An unexpected `futex` error.
    Io(io::Error),
}

impl BarrierError {
    /// Whether this is [`BarrierError::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, BarrierError::Timeout)
    }

    /// Whether the barrier is broken: [`BarrierError::Broken`], or a [`BarrierError::Timeout`]
    /// (which broke it).
    pub fn is_broken(&self) -> bool {
        matches!(self, BarrierError::Broken | BarrierError::Timeout)
    }
}

impl fmt::Display for BarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BarrierError::Broken => f.write_str("the barrier is broken"),
            BarrierError::Timeout => f.write_str("timed out waiting at the barrier (which is now broken)"),
            BarrierError::Io(e) => write!(f, "barrier wait failed: {e}"),
        }
    }
}

impl std::error::Error for BarrierError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BarrierError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for BarrierError {
    fn from(e: io::Error) -> Self {
        BarrierError::Io(e)
    }
}

/// Lets `parties` processes wait until all of them have arrived (Python's
/// `multiprocessing.Barrier`).
///
/// [`wait`](Self::wait) returns the arrival index, `0` for the first to arrive up to
/// `parties - 1` for the last, which opened it (one of them can then act for all, as Python's
/// `if barrier.wait() == 0`). The barrier can be used again at once.
///
/// Python's broken state: [`abort`](Self::abort), or a waiter whose timeout passes, breaks the
/// barrier: every waiter and every later `wait` gets [`BarrierError::Broken`] (the one that timed
/// out gets [`BarrierError::Timeout`]) until [`reset`](Self::reset). A process that dies while
/// waiting still counts as arrived.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let barrier = mp_ipc::Barrier::new(2)?;
/// let child = mp_core::spawn(|| barrier.wait().map(drop))?;
/// let index = barrier.wait_timeout(Duration::from_secs(10))?;
/// assert!(index < 2);
/// assert!(child.join()?.success());
///
/// // A timeout breaks it, for everyone, until reset.
/// assert!(barrier.wait_timeout(Duration::from_millis(5)).unwrap_err().is_timeout());
/// assert!(barrier.broken());
/// assert!(barrier.wait().unwrap_err().is_broken());
/// barrier.reset();
/// assert!(!barrier.broken());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Barrier {
    map: Mapping<BarrierState>,
}
crate::mapping::handoff_by_mapping!(Barrier, map);

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties())
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.broken())
            .finish()
    }
}

impl Barrier {
    /// A barrier for `parties` processes (at least 1).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for 0 parties, or the `mmap` error.
    pub fn new(parties: u32) -> io::Result<Barrier> {
        if parties == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a barrier needs at least one party"));
        }
        // SAFETY: the closure initialises the mutex and sets `parties`; zeroed memory is valid
        // for every other field (round 0, nobody arrived, not broken).
        let map = unsafe {
            Mapping::new(0, |p: *mut BarrierState| {
                RawMutex::init(&raw mut (*p).lock)?;
                (&raw mut (*p).parties).write(parties);
                Ok(())
            })?
        };
        Ok(Barrier { map })
    }

    /// Number of parties.
    pub fn parties(&self) -> u32 {
        self.map.parties
    }

    /// How many are waiting in the current round now (0 while broken).
    pub fn n_waiting(&self) -> u32 {
        let s = &*self.map;
        let _g = RawGuard::lock(&s.lock);
        if s.broken.load(Ordering::Relaxed) == 1 { 0 } else { s.count.load(Ordering::Relaxed) }
    }

    /// Whether the barrier is broken (by [`abort`](Self::abort) or a timeout, until
    /// [`reset`](Self::reset)).
    pub fn broken(&self) -> bool {
        self.map.broken.load(Ordering::SeqCst) == 1
    }

    /// Breaks the barrier (Python's `abort`): the processes waiting now and every later `wait`
    /// get [`BarrierError::Broken`] until [`reset`](Self::reset).
    pub fn abort(&self) {
        let s = &*self.map;
        {
            let _g = RawGuard::lock(&s.lock);
            if s.broken.load(Ordering::Relaxed) == 1 {
                return;
            }
            s.break_round();
        }
        wake_waiters(&s.generation, &s.sleepers, i32::MAX);
    }

    /// Returns the barrier to empty and unbroken (Python's `reset`): processes waiting now get
    /// [`BarrierError::Broken`].
    pub fn reset(&self) {
        let s = &*self.map;
        {
            let _g = RawGuard::lock(&s.lock);
            if s.broken.load(Ordering::Relaxed) == 1 {
                // The broken round has ended already; nobody waits in the new one.
                s.broken.store(0, Ordering::SeqCst);
                return;
            }
            if s.count.load(Ordering::Relaxed) == 0 {
                return;
            }
            s.end_round_broken();
        }
        wake_waiters(&s.generation, &s.sleepers, i32::MAX);
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<u32, BarrierError> {
        let s = &*self.map;
        let (g, index) = {
            let guard = RawGuard::lock(&s.lock);
            if s.broken.load(Ordering::Relaxed) == 1 {
                return Err(BarrierError::Broken);
            }
            let g = s.generation.load(Ordering::Relaxed);
            let index = s.count.load(Ordering::Relaxed);
            if index + 1 < s.parties {
                s.count.store(index + 1, Ordering::Relaxed);
                (g, index)
            } else {
                // The last one: open it.
                s.broken_rounds.fetch_and(!(1 << (g % ROUNDS_KEPT)), Ordering::SeqCst);
                s.count.store(0, Ordering::Relaxed);
                s.generation.fetch_add(1, Ordering::SeqCst);
                drop(guard);
                wake_waiters(&s.generation, &s.sleepers, i32::MAX);
                return Ok(index);
            }
        };
        loop {
            if s.generation.load(Ordering::SeqCst) != g {
                return s.outcome(g, index);
            }
            if wait_on(&s.generation, &s.sleepers, g, deadline)? == Wake::TimedOut {
                {
                    let _guard = RawGuard::lock(&s.lock);
                    if s.generation.load(Ordering::SeqCst) != g {
                        // The round ended just as the deadline passed: that decides.
                        return s.outcome(g, index);
                    }
                    s.break_round();
                }
                wake_waiters(&s.generation, &s.sleepers, i32::MAX);
                return Err(BarrierError::Timeout);
            }
        }
    }

    /// Waits for all parties; returns this process's arrival index (`0..parties`).
    ///
    /// # Errors
    ///
    /// [`BarrierError::Broken`] when the barrier is or becomes broken; [`BarrierError::Io`].
    pub fn wait(&self) -> Result<u32, BarrierError> {
        self.wait_until(None)
    }

    /// As [`wait`](Self::wait), waiting at most `timeout`; a timeout breaks the barrier.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait), plus [`BarrierError::Timeout`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u32, BarrierError> {
        self.wait_until(deadline_after(timeout))
    }

    /// As [`wait`](Self::wait), waiting until `deadline` at the latest; a timeout breaks the
    /// barrier.
    ///
    /// # Errors
    ///
    /// As [`wait_timeout`](Self::wait_timeout).
    pub fn wait_deadline(&self, deadline: Instant) -> Result<u32, BarrierError> {
        self.wait_until(Some(deadline))
    }
}
