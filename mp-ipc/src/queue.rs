//! A queue shared by any number of producer and consumer processes (Python's
//! `multiprocessing.Queue`).
//!
//! # Design
//!
//! The items live in a ring buffer in anonymous shared memory, guarded by a robust
//! process-shared mutex. `put` copies the encoded item into the ring before it returns (there is
//! no feeder thread, so joining a producer never waits on unread data), and every change is
//! committed by one store under the lock: a process `SIGKILL`ed at any point leaves either the
//! item fully in the queue or not at all, and the next locker is handed the lock with the state
//! consistent (the item count, kept by a second store, is recounted from the items themselves
//! when a lock holder died). At most the item the dead process was moving is lost; nothing is
//! duplicated.
//!
//! Producers are counted by the kernel: each handle that may still put holds the write end of a
//! pipe. [`close`](Queue::close), dropping the handle, or the process dying closes it. When no
//! producer is left anywhere and the queue is drained, `get` returns
//! [`RecvError::Disconnected`] instead of blocking for ever.
//!
//! A forked child inherits a producer handle like everything else, so **a process that only
//! consumes calls `close()` first** (as in Python, `close` means "this process will put no
//! more"); otherwise its own handle keeps the queue open and its `get` waits for items that no
//! one will put. Likewise the parent closes its handle once it has put its last item.
//!
//! # Limits
//!
//! `maxsize` bounds the number of items (0: no bound, as in Python). Independently, the ring
//! holds at most [`capacity_bytes`](Queue::capacity_bytes) bytes in flight (1 MiB by default, set
//! with [`Queue::with_capacity`]); each item takes its encoded size plus 4 bytes. `put` blocks
//! while either limit is reached, exactly as for a full queue; an item that could never fit is
//! refused at once with [`SendError::TooLarge`].

use crate::error::{RecvError, SendError, deadline_after};
use crate::frame;
use crate::mapping::Mapping;
use crate::sync::{SPINS, bump_and_wake, lock_raw, wait_ready};
use crate::sys;
use crate::sys::mutex::{Locked, RawMutex};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

thread_local! {
    /// Encoding and decoding buffer, reused so that `put` and `get` do not allocate for it.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Default bytes in flight.
pub const DEFAULT_CAPACITY: usize = 1 << 20;
const LEN: usize = 4;
/// A blocked `get` re-checks whether any producer is left at least this often (a producer
/// killed by a signal cannot wake it; one that closes does).
const LIVENESS_SLICE: Duration = Duration::from_millis(100);

#[repr(C)]
struct Header {
    lock: RawMutex,
    // Changed only under `lock`; atomics so that `qsize` can read without it.
    head: AtomicU64,
    tail: AtomicU64,
    count: AtomicU64,
    capacity: u64,
    maxsize: u64,
    // Futex sequence words, bumped after a change that a sleeper may wait for.
    not_empty: AtomicU32,
    empty_waiters: AtomicU32,
    not_full: AtomicU32,
    full_waiters: AtomicU32,
}

/// A multi-producer, multi-consumer queue of `T` across forked processes.
///
/// Make it before forking; every child forked afterwards shares it. Within a process, share it
/// by reference (it is `Sync`).
///
/// # Examples
///
/// ```
/// use mp_ipc::Queue;
/// use std::time::Duration;
///
/// let mut q: Queue<String> = Queue::new(3)?;
/// let producer = mp_core::spawn(|| {
///     for word in ["a", "b", "c", "d"] {
///         q.put(&word.to_string()).unwrap();
///     }
/// })?;
/// q.close(); // the parent only consumes
/// let mut got = Vec::new();
/// loop {
///     match q.get_timeout(Duration::from_secs(10)) {
///         Ok(s) => got.push(s),
///         Err(e) if e.is_disconnected() => break, // producer exited and queue drained
///         Err(e) => panic!("{e}"),
///     }
/// }
/// assert_eq!(got, ["a", "b", "c", "d"]);
/// assert!(producer.join()?.success());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Queue<T> {
    map: Mapping<Header>,
    /// Write end of the producers pipe while this handle may put.
    producer: Mutex<Option<OwnedFd>>,
    closed: AtomicBool,
    /// Read end: hangs up when every producer handle everywhere is gone.
    producers_gone: OwnedFd,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("qsize", &self.qsize())
            .field("maxsize", &self.maxsize())
            .field("capacity_bytes", &self.capacity_bytes())
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// A queue of at most `maxsize` items (0: unbounded) and the default 1 MiB of bytes in
    /// flight.
    ///
    /// # Errors
    ///
    /// The `mmap`, `pipe` or lock-initialisation error.
    pub fn new(maxsize: usize) -> io::Result<Queue<T>> {
        Queue::with_capacity(maxsize, DEFAULT_CAPACITY)
    }

    /// A queue of at most `maxsize` items (0: unbounded) and `capacity` bytes in flight
    /// (rounded up to whole pages; at least 4 KiB).
    ///
    /// # Errors
    ///
    /// As [`Queue::new`]; `InvalidInput` when the size overflows.
    pub fn with_capacity(maxsize: usize, capacity: usize) -> io::Result<Queue<T>> {
        let capacity = capacity.max(4096);
        // SAFETY: the closure initialises the mutex and writes every other field.
        let map = unsafe {
            Mapping::new(capacity, |p: *mut Header| {
                RawMutex::init(&raw mut (*p).lock)?;
                (&raw mut (*p).head).write(AtomicU64::new(0));
                (&raw mut (*p).tail).write(AtomicU64::new(0));
                (&raw mut (*p).count).write(AtomicU64::new(0));
                (&raw mut (*p).capacity).write(0);
                (&raw mut (*p).maxsize).write(maxsize as u64);
                (&raw mut (*p).not_empty).write(AtomicU32::new(0));
                (&raw mut (*p).empty_waiters).write(AtomicU32::new(0));
                (&raw mut (*p).not_full).write(AtomicU32::new(0));
                (&raw mut (*p).full_waiters).write(AtomicU32::new(0));
                Ok(())
            })?
        };
        // The ring takes the whole rest of the mapping.
        let ring_len = map.tail().1 as u64;
        // SAFETY: not yet shared with anyone; `capacity` is a plain field set once here.
        unsafe { (&raw mut (*map.raw()).capacity).write(ring_len) };
        let (gone, producer) = sys::fd::pipe()?;
        Ok(Queue {
            map,
            producer: Mutex::new(Some(producer)),
            closed: AtomicBool::new(false),
            producers_gone: gone,
            _t: PhantomData,
        })
    }

    /// Puts `item`, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// [`SendError::Disconnected`] after [`close`](Self::close) on this handle,
    /// [`SendError::TooLarge`] for an item larger than the ring, [`SendError::Encode`].
    pub fn put(&self, item: &T) -> Result<(), SendError> {
        self.put_until(item, None, false)
    }

    /// Puts `item` only if there is room now (Python's `put_nowait`); [`SendError::Full`]
    /// otherwise.
    ///
    /// # Errors
    ///
    /// As [`put`](Self::put), plus [`SendError::Full`].
    pub fn try_put(&self, item: &T) -> Result<(), SendError> {
        self.put_until(item, None, true)
    }

    /// Puts `item`, waiting at most `timeout` for room; [`SendError::Timeout`] otherwise.
    ///
    /// # Errors
    ///
    /// As [`put`](Self::put), plus [`SendError::Timeout`].
    pub fn put_timeout(&self, item: &T, timeout: Duration) -> Result<(), SendError> {
        self.put_until(item, deadline_after(timeout), false)
    }

    /// Puts `item`, waiting until `deadline` at the latest for room.
    ///
    /// # Errors
    ///
    /// As [`put_timeout`](Self::put_timeout).
    pub fn put_deadline(&self, item: &T, deadline: Instant) -> Result<(), SendError> {
        self.put_until(item, Some(deadline), false)
    }

    /// Takes the oldest item, waiting while the queue is empty.
    ///
    /// # Errors
    ///
    /// [`RecvError::Disconnected`] when the queue is empty and no producer handle is left
    /// anywhere; [`RecvError::Decode`] when the item is not a valid `T` (it is consumed).
    pub fn get(&self) -> Result<T, RecvError> {
        self.get_until(None, false)
    }

    /// Takes the oldest item only if there is one now (Python's `get_nowait`).
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get), plus [`RecvError::Empty`].
    pub fn try_get(&self) -> Result<T, RecvError> {
        self.get_until(None, true)
    }

    /// Takes the oldest item, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get), plus [`RecvError::Timeout`].
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, RecvError> {
        self.get_until(deadline_after(timeout), false)
    }

    /// Takes the oldest item, waiting until `deadline` at the latest.
    ///
    /// # Errors
    ///
    /// As [`get_timeout`](Self::get_timeout).
    pub fn get_deadline(&self, deadline: Instant) -> Result<T, RecvError> {
        self.get_until(Some(deadline), false)
    }

    fn put_until(&self, item: &T, deadline: Option<Instant>, try_only: bool) -> Result<(), SendError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(SendError::Disconnected);
        }
        // Length prefix and encoding in one buffer, reused by this thread.
        let mut buf = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
        buf.clear();
        buf.extend_from_slice(&[0; LEN]);
        let r = match crate::frame::encode_into(item, &mut buf) {
            Ok(()) => self.put_encoded(&buf, deadline, try_only),
            Err(e) => Err(SendError::Encode(e)),
        };
        SCRATCH.with(|s| *s.borrow_mut() = buf);
        r
    }

    /// `frame` is a 4-byte placeholder followed by the encoded item.
    fn put_encoded(&self, frame: &[u8], deadline: Option<Instant>, try_only: bool) -> Result<(), SendError> {
        let h = &*self.map;
        let len = frame.len() - LEN;
        let need = frame.len() as u64;
        if need > h.capacity || len > u32::MAX as usize {
            return Err(SendError::TooLarge { len: len as u64, max: h.capacity - LEN as u64 });
        }
        // Exact under the lock; outside it (while waiting) only a hint, as head and tail may be
        // read at different moments: hence the saturating arithmetic.
        let room = || {
            let head = h.head.load(Ordering::SeqCst);
            let used = h.tail.load(Ordering::SeqCst).saturating_sub(head);
            h.capacity.saturating_sub(used) >= need
                && (h.maxsize == 0 || h.count.load(Ordering::SeqCst) < h.maxsize)
        };
        loop {
            self.lock();
            if room() {
                let tail = h.tail.load(Ordering::Relaxed);
                self.write_ring(tail, &(len as u32).to_le_bytes());
                self.write_ring(tail + LEN as u64, &frame[LEN..]);
                // The commit: until this store, the item is not in the queue.
                h.tail.store(tail + need, Ordering::SeqCst);
                h.count.fetch_add(1, Ordering::SeqCst);
                self.unlock();
                bump_and_wake(&h.not_empty, &h.empty_waiters, 1);
                return Ok(());
            }
            self.unlock();
            if try_only || deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(if try_only { SendError::Full } else { SendError::Timeout });
            }
            // Whatever the wake-up, the loop re-checks under the lock (and the deadline).
            wait_ready(&h.not_full, &h.full_waiters, deadline, room)?;
        }
    }

    fn get_until(&self, deadline: Option<Instant>, try_only: bool) -> Result<T, RecvError> {
        let h = &*self.map;
        let mut producers_gone = false;
        let mut buf = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
        let r = loop {
            self.lock();
            let count = h.count.load(Ordering::Relaxed);
            if count > 0 {
                let head = h.head.load(Ordering::Relaxed);
                let mut len = [0u8; LEN];
                self.read_ring(head, &mut len);
                let len = u32::from_le_bytes(len) as usize;
                buf.clear();
                buf.resize(len, 0);
                self.read_ring(head + LEN as u64, &mut buf);
                // The commit: from this store on, the item is out of the queue.
                h.head.store(head + (LEN + len) as u64, Ordering::SeqCst);
                h.count.fetch_sub(1, Ordering::SeqCst);
                self.unlock();
                bump_and_wake(&h.not_full, &h.full_waiters, 1);
                break frame::decode(&buf);
            }
            self.unlock();
            match self.wait_not_empty(deadline, try_only, &mut producers_gone) {
                Ok(None) => {}
                Ok(Some(e)) => break Err(e),
                Err(e) => break Err(e.into()),
            }
        };
        SCRATCH.with(|s| *s.borrow_mut() = buf);
        r
    }

    /// The queue was found empty: decides whether to give up (`Some(error)`) or wait and let
    /// the caller look again (`None`).
    fn wait_not_empty(
        &self,
        deadline: Option<Instant>,
        try_only: bool,
        producers_gone: &mut bool,
    ) -> io::Result<Option<RecvError>> {
        let h = &*self.map;
        let ready = || h.count.load(Ordering::SeqCst) > 0;
        // An item usually comes within a short spin: no system call then.
        if !try_only && !*producers_gone {
            for _ in 0..SPINS {
                if ready() {
                    return Ok(None);
                }
                std::hint::spin_loop();
            }
        }
        if sys::fd::readable_now(self.producers_gone.as_fd())? {
            // No producer is left. Look once more: an item put just before the last producer
            // went is still to be taken.
            if *producers_gone {
                return Ok(Some(RecvError::Disconnected));
            }
            *producers_gone = true;
            return Ok(None);
        }
        if try_only {
            return Ok(Some(RecvError::Empty));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(Some(RecvError::Timeout));
        }
        // Sleep in slices, so that producers killed by a signal (which cannot wake us) are
        // noticed within one slice.
        let slice = Instant::now() + LIVENESS_SLICE;
        wait_ready(&h.not_empty, &h.empty_waiters, Some(deadline.map_or(slice, |d| d.min(slice))), ready)?;
        Ok(None)
    }
}

impl<T> Queue<T> {
    /// Items in the queue now (exact at the moment of reading, unlike Python's estimate).
    pub fn qsize(&self) -> usize {
        self.map.count.load(Ordering::Acquire) as usize
    }

    /// Whether the queue holds no item now.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether the queue holds `maxsize` items now (always false for an unbounded queue; a put
    /// may still wait for bytes, see the module docs).
    pub fn full(&self) -> bool {
        let max = self.map.maxsize;
        max != 0 && self.map.count.load(Ordering::Acquire) >= max
    }

    /// The item bound given at creation (0: none).
    pub fn maxsize(&self) -> usize {
        self.map.maxsize as usize
    }

    /// Bytes the ring can hold in flight (each item takes its encoded size + 4).
    pub fn capacity_bytes(&self) -> usize {
        self.map.capacity as usize
    }

    /// This handle will put no more (Python's `Queue.close`): further `put`s on it fail with
    /// [`SendError::Disconnected`]; `get` still works. Once every handle in every process has
    /// closed, dropped or died, consumers drain what is left and then get
    /// [`RecvError::Disconnected`]. Closing twice is a no-op.
    pub fn close(&self) {
        if self.closed.swap(true, Ordering::Relaxed) {
            return;
        }
        let fd = match self.producer.lock() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        };
        drop(fd);
        // Let sleeping consumers re-check at once whether that was the last producer.
        let h = &*self.map;
        bump_and_wake(&h.not_empty, &h.empty_waiters, i32::MAX);
    }

    fn lock(&self) {
        let m = &self.map.lock;
        // A short spin on trylock first: critical sections here are a few hundred nanoseconds,
        // shorter than sleeping and being woken.
        let mut how = None;
        for _ in 0..SPINS {
            if !m.looks_locked()
                && let Ok(Some(h)) = m.try_lock()
            {
                how = Some(h);
                break;
            }
            std::hint::spin_loop();
        }
        let how = how.or_else(|| lock_raw(m, None));
        if how == Some(Locked::OwnerDied) {
            self.repair();
        }
    }

    /// After a process died holding the lock. `head` and `tail` are each committed by one
    /// store, and everything between them is whole, length-prefixed items; only `count`,
    /// updated by a second store, may be off by the one item the dead process was moving.
    /// Count again by walking from `head` to `tail`.
    fn repair(&self) {
        let h = &*self.map;
        let head = h.head.load(Ordering::SeqCst);
        let tail = h.tail.load(Ordering::SeqCst);
        let mut pos = head;
        let mut n = 0u64;
        while pos < tail {
            let mut len = [0u8; LEN];
            self.read_ring(pos, &mut len);
            pos += (LEN + u32::from_le_bytes(len) as usize) as u64;
            n += 1;
        }
        if pos != tail {
            // Cannot happen with the commit order above; if it did, drop what cannot be trusted
            // rather than hand out garbage.
            h.head.store(tail, Ordering::SeqCst);
            n = 0;
        }
        h.count.store(n, Ordering::SeqCst);
    }

    fn unlock(&self) {
        // SAFETY: every caller took the lock with `self.lock()` just before.
        unsafe { self.map.lock.unlock() };
    }

    fn ring(&self) -> (*mut u8, u64) {
        let (p, _) = self.map.tail();
        (p, self.map.capacity)
    }

    /// Copies `src` into the ring at logical position `pos`, wrapping at the end.
    fn write_ring(&self, pos: u64, src: &[u8]) {
        let (ring, cap) = self.ring();
        let off = (pos % cap) as usize;
        let first = src.len().min(cap as usize - off);
        // SAFETY: the lock is held; `off + first <= cap` and the rest starts at 0, so both copies
        // stay inside the ring; `src` is local memory.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), ring.add(off), first);
            std::ptr::copy_nonoverlapping(src.as_ptr().add(first), ring, src.len() - first);
        }
    }

    /// Copies from the ring at logical position `pos` into `dst`, wrapping at the end.
    fn read_ring(&self, pos: u64, dst: &mut [u8]) {
        let (ring, cap) = self.ring();
        let off = (pos % cap) as usize;
        let first = dst.len().min(cap as usize - off);
        // SAFETY: as in `write_ring`.
        unsafe {
            std::ptr::copy_nonoverlapping(ring.add(off), dst.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(ring, dst.as_mut_ptr().add(first), dst.len() - first);
        }
    }
}

impl<T> Drop for Queue<T> {
    fn drop(&mut self) {
        self.close();
    }
}
