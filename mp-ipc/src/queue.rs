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
//! while either limit is reached, exactly as for a full queue.
//!
//! # Items larger than the ring
//!
//! An item whose encoding does not fit in the ring travels through the *overflow file*, a memory
//! file (`memfd`) every handle of the queue shares: the producer claims it (a second robust
//! mutex, held while it writes), waits until the large item before it has been taken, writes the
//! bytes with `pwrite`, and then puts a 12-byte record in the ring in the usual way. So a large
//! item keeps its place in the order, counts as one item against `maxsize`, and large items
//! travel one at a time. The consumer that takes the record reads the bytes with `pread` while it
//! holds the queue lock and commits its removal only after that, so a consumer `SIGKILL`ed in the
//! middle of a 16 MiB item leaves it in the queue for the next one (nothing lost, nothing twice);
//! a producer killed while writing leaves nothing behind. The file is emptied as each large item
//! is taken. Only an item over 1 TiB is refused ([`SendError::TooLarge`]).

use crate::error::{RecvError, SendError};
use crate::frame;
use crate::mapping::Mapping;
use crate::park::{SPINS, Wait, bump_and_wake, spin_until, wait_ready};
use crate::sync::RawGuard;
use crate::sys;
use crate::sys::mutex::{Locked, RawMutex};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
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
/// A ring record's length word for an item in the overflow file; 8 bytes of its length follow.
const BIG: u32 = u32::MAX;
/// The bytes a large item's record takes in the ring.
const BIG_RECORD: usize = LEN + 8;
/// The largest item a queue accepts.
const MAX_ITEM: u64 = 1 << 40;
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
    /// Held by a producer of a large item from claiming the overflow file to committing its
    /// record (robust: a producer killed while writing leaves it to the next).
    big_lock: RawMutex,
    /// 1 while a committed large item's bytes are in the overflow file. Changed under `lock`.
    big_busy: AtomicU32,
    big_seq: AtomicU32,
    big_waiters: AtomicU32,
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
    /// The overflow file for items larger than the ring (see the module docs).
    overflow: OwnedFd,
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
                RawMutex::init(&raw mut (*p).big_lock)?;
                (&raw mut (*p).big_busy).write(AtomicU32::new(0));
                (&raw mut (*p).big_seq).write(AtomicU32::new(0));
                (&raw mut (*p).big_waiters).write(AtomicU32::new(0));
                Ok(())
            })?
        };
        // The ring takes the whole rest of the mapping.
        let ring_len = map.tail().1 as u64;
        // SAFETY: not yet shared with anyone; `capacity` is a plain field set once here.
        unsafe { (&raw mut (*map.raw()).capacity).write(ring_len) };
        let (gone, producer) = sys::fd::pipe()?;
        let overflow = sys::mman::memfd_growable(c"mp-ipc-queue")?;
        Ok(Queue {
            map,
            producer: Mutex::new(Some(producer)),
            closed: AtomicBool::new(false),
            producers_gone: gone,
            overflow,
            _t: PhantomData,
        })
    }

    /// Puts `item`, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// [`SendError::Disconnected`] after [`close`](Self::close) on this handle,
    /// [`SendError::TooLarge`] for an item over 1 TiB, [`SendError::Encode`], [`SendError::Io`]
    /// when the overflow file cannot take a large item (out of memory).
    pub fn put(&self, item: &T) -> Result<(), SendError> {
        self.put_until(item, Wait::Forever)
    }

    /// Puts `item` only if there is room now (Python's `put_nowait`); [`SendError::Full`]
    /// otherwise.
    ///
    /// # Errors
    ///
    /// As [`put`](Self::put), plus [`SendError::Full`].
    pub fn try_put(&self, item: &T) -> Result<(), SendError> {
        self.put_until(item, Wait::Now)
    }

    /// Puts `item`, waiting at most `timeout` for room; [`SendError::Full`] otherwise.
    ///
    /// # Errors
    ///
    /// As [`put`](Self::put), plus [`SendError::Full`].
    pub fn put_timeout(&self, item: &T, timeout: Duration) -> Result<(), SendError> {
        self.put_until(item, Wait::timeout(timeout))
    }

    /// Puts `item`, waiting until `deadline` at the latest for room.
    ///
    /// # Errors
    ///
    /// As [`put_timeout`](Self::put_timeout).
    pub fn put_deadline(&self, item: &T, deadline: Instant) -> Result<(), SendError> {
        self.put_until(item, Wait::Until(deadline))
    }

    /// Takes the oldest item, waiting while the queue is empty.
    ///
    /// # Errors
    ///
    /// [`RecvError::Disconnected`] when the queue is empty and no producer handle is left
    /// anywhere; [`RecvError::Decode`] when the item is not a valid `T` (it is consumed).
    pub fn get(&self) -> Result<T, RecvError> {
        self.get_until(Wait::Forever)
    }

    /// Takes the oldest item only if there is one now (Python's `get_nowait`).
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get), plus [`RecvError::Empty`].
    pub fn try_get(&self) -> Result<T, RecvError> {
        self.get_until(Wait::Now)
    }

    /// Takes the oldest item, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get), plus [`RecvError::Empty`] when nothing came in time.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, RecvError> {
        self.get_until(Wait::timeout(timeout))
    }

    /// Takes the oldest item, waiting until `deadline` at the latest.
    ///
    /// # Errors
    ///
    /// As [`get_timeout`](Self::get_timeout).
    pub fn get_deadline(&self, deadline: Instant) -> Result<T, RecvError> {
        self.get_until(Wait::Until(deadline))
    }

    fn put_until(&self, item: &T, wait: Wait) -> Result<(), SendError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(SendError::Disconnected);
        }
        // Length prefix and encoding in one buffer, reused by this thread.
        let mut buf = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
        buf.clear();
        buf.extend_from_slice(&[0; LEN]);
        let r = match crate::frame::encode_into(item, &mut buf) {
            Ok(()) => self.put_encoded(&buf, wait),
            Err(e) => Err(SendError::encoding(e)),
        };
        keep_scratch(buf);
        r
    }

    /// `frame` is a 4-byte placeholder followed by the encoded item.
    fn put_encoded(&self, frame: &[u8], wait: Wait) -> Result<(), SendError> {
        let len = frame.len() - LEN;
        if frame.len() as u64 > self.map.capacity {
            return self.put_big(&frame[LEN..], wait);
        }
        self.put_record(len as u32, &frame[LEN..], wait, || {})
    }

    /// Puts one ring record: the length word `word`, then `body`. `on_commit` runs under the
    /// lock just before the commit.
    fn put_record(&self, word: u32, body: &[u8], wait: Wait, on_commit: impl Fn()) -> Result<(), SendError> {
        let h = &*self.map;
        let need = (LEN + body.len()) as u64;
        // Exact under the lock; outside it (while waiting) only a hint, as head and tail may be
        // read at different moments: hence the saturating arithmetic.
        let room = || {
            let head = h.head.load(Ordering::SeqCst);
            let used = h.tail.load(Ordering::SeqCst).saturating_sub(head);
            h.capacity.saturating_sub(used) >= need
                && (h.maxsize == 0 || h.count.load(Ordering::SeqCst) < h.maxsize)
        };
        loop {
            let held = self.lock();
            if room() {
                let tail = h.tail.load(Ordering::Relaxed);
                self.write_ring(tail, &word.to_le_bytes());
                self.write_ring(tail + LEN as u64, body);
                on_commit();
                // The commit: until this store, the item is not in the queue.
                h.tail.store(tail + need, Ordering::SeqCst);
                h.count.fetch_add(1, Ordering::SeqCst);
                drop(held);
                bump_and_wake(&h.not_empty, &h.empty_waiters, 1);
                return Ok(());
            }
            drop(held);
            if wait.expired() {
                return Err(SendError::Full);
            }
            // Whatever the wake-up, the loop re-checks under the lock (and the deadline).
            wait_ready(&h.not_full, &h.full_waiters, wait.deadline(), room)?;
        }
    }

    /// Puts an item larger than the ring through the overflow file (see the module docs).
    fn put_big(&self, item: &[u8], wait: Wait) -> Result<(), SendError> {
        let h = &*self.map;
        if item.len() as u64 > MAX_ITEM {
            return Err(SendError::TooLarge { len: item.len() as u64, max: MAX_ITEM });
        }
        // Claim the file. A producer that died holding the claim had not committed: its bytes
        // are simply overwritten.
        let deadline = match wait {
            Wait::Now => Some(Instant::now()),
            other => other.deadline(),
        };
        let Some((_claim, _)) = RawGuard::lock_until(&h.big_lock, deadline) else {
            return Err(SendError::Full);
        };
        // Wait until the large item before this one has been taken.
        let free = || h.big_busy.load(Ordering::SeqCst) == 0;
        while !free() {
            if wait.expired() {
                return Err(SendError::Full);
            }
            // In slices: a consumer killed between taking the item and marking the file free
            // leaves the mark to be repaired by the next locker of the queue, which is us.
            let slice = Instant::now() + LIVENESS_SLICE;
            let until = wait.deadline().map_or(slice, |d| d.min(slice));
            wait_ready(&h.big_seq, &h.big_waiters, Some(until), free)?;
            drop(self.lock());
        }
        let fd = self.overflow.as_fd();
        sys::mman::ftruncate(fd, item.len())?;
        let mut done = 0;
        while done < item.len() {
            done += sys::fd::pwrite(fd, &item[done..], done)?;
        }
        let r = self.put_record(BIG, &(item.len() as u64).to_le_bytes(), wait, || {
            h.big_busy.store(1, Ordering::SeqCst);
        });
        if r.is_err() {
            // Not committed (no room in time): give the memory back now.
            let _ = sys::mman::ftruncate(fd, 0);
        }
        r
    }

    fn get_until(&self, wait: Wait) -> Result<T, RecvError> {
        let h = &*self.map;
        let mut producers_gone = false;
        let mut buf = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
        let r = loop {
            let held = self.lock();
            let count = h.count.load(Ordering::Relaxed);
            if count > 0 {
                let head = h.head.load(Ordering::Relaxed);
                let mut word = [0u8; LEN];
                self.read_ring(head, &mut word);
                let word = u32::from_le_bytes(word);
                let taken = if word == BIG {
                    match self.read_big(head, &mut buf) {
                        Ok(()) => BIG_RECORD,
                        // Left in the queue: the next `get` tries again.
                        Err(e) => break Err(RecvError::Io(e)),
                    }
                } else {
                    buf.clear();
                    buf.resize(word as usize, 0);
                    self.read_ring(head + LEN as u64, &mut buf);
                    LEN + word as usize
                };
                // The commit: from this store on, the item is out of the queue.
                h.head.store(head + taken as u64, Ordering::SeqCst);
                h.count.fetch_sub(1, Ordering::SeqCst);
                if word == BIG {
                    // Only now that it is out: empty the file, then let the next large item in.
                    let _ = sys::mman::ftruncate(self.overflow.as_fd(), 0);
                    h.big_busy.store(0, Ordering::SeqCst);
                }
                drop(held);
                if word == BIG {
                    bump_and_wake(&h.big_seq, &h.big_waiters, 1);
                }
                bump_and_wake(&h.not_full, &h.full_waiters, 1);
                break frame::decode(&buf);
            }
            drop(held);
            match self.wait_not_empty(wait, &mut producers_gone) {
                Ok(None) => {}
                Ok(Some(e)) => break Err(e),
                Err(e) => break Err(e.into()),
            }
        };
        keep_scratch(buf);
        r
    }

    /// Reads the large item whose record is at `head` from the overflow file into `buf`. The
    /// queue lock is held, and the item stays in the queue until the caller commits.
    fn read_big(&self, head: u64, buf: &mut Vec<u8>) -> io::Result<()> {
        let mut len = [0u8; 8];
        self.read_ring(head + LEN as u64, &mut len);
        let len = u64::from_le_bytes(len);
        let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        buf.clear();
        buf.try_reserve_exact(len).map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
        buf.resize(len, 0);
        let mut done = 0;
        while done < len {
            match sys::fd::pread(self.overflow.as_fd(), &mut buf[done..], done)? {
                0 => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the overflow file is short")),
                n => done += n,
            }
        }
        Ok(())
    }

    /// The queue was found empty: decides whether to give up (`Some(error)`) or wait and let
    /// the caller look again (`None`).
    fn wait_not_empty(&self, wait: Wait, producers_gone: &mut bool) -> io::Result<Option<RecvError>> {
        let h = &*self.map;
        let ready = || h.count.load(Ordering::SeqCst) > 0;
        // An item usually comes within a short spin: no system call then.
        if wait != Wait::Now && !*producers_gone && spin_until(ready) {
            return Ok(None);
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
        if wait.expired() {
            return Ok(Some(RecvError::Empty));
        }
        // Sleep in slices, so that producers killed by a signal (which cannot wake us) are
        // noticed within one slice.
        let slice = Instant::now() + LIVENESS_SLICE;
        let until = wait.deadline().map_or(slice, |d| d.min(slice));
        wait_ready(&h.not_empty, &h.empty_waiters, Some(until), ready)?;
        Ok(None)
    }
}

impl<T> Queue<T> {
    /// What carries this handle to another process (for [`crate::handoff`]): the ring's memory
    /// file, the producers pipe's read end, the overflow file, and a duplicate of the producer
    /// write end while this handle may put (the receiver then counts as a producer).
    ///
    /// # Errors
    ///
    /// The `dup` error.
    pub(crate) fn handoff_parts(
        &self,
    ) -> io::Result<(BorrowedFd<'_>, BorrowedFd<'_>, BorrowedFd<'_>, Option<OwnedFd>)> {
        let producer = match self.producer.lock() {
            Ok(g) => g.as_ref().map(OwnedFd::try_clone).transpose()?,
            Err(p) => p.into_inner().as_ref().map(OwnedFd::try_clone).transpose()?,
        };
        Ok((self.map.fd(), self.producers_gone.as_fd(), self.overflow.as_fd(), producer))
    }

    /// A handle rebuilt from the parts another process sent (for [`crate::handoff`]); without a
    /// producer end it is closed, as the sender's was.
    pub(crate) fn from_handoff_parts(
        map: OwnedFd,
        gone: OwnedFd,
        overflow: OwnedFd,
        producer: Option<OwnedFd>,
    ) -> io::Result<Queue<T>> {
        // SAFETY: sent by `handoff_parts` of a `Queue` in a process running this same program;
        // `from_fd` checks that the file holds the header and 4 KiB, the smallest ring.
        let map = unsafe { Mapping::<Header>::from_fd(map, 4096)? };
        if map.capacity > map.tail().1 as u64 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "a Queue ring larger than its memory"));
        }
        Ok(Queue {
            map,
            closed: AtomicBool::new(producer.is_none()),
            producer: Mutex::new(producer),
            producers_gone: gone,
            overflow,
            _t: PhantomData,
        })
    }

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

    /// Takes the queue's lock (repairing the count if a holder died); unlocks when dropped.
    fn lock(&self) -> RawGuard<'_> {
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
        let (held, how) = match how {
            // SAFETY: `try_lock` just took it in this thread.
            Some(how) => (unsafe { RawGuard::adopt(m) }, how),
            None => RawGuard::lock(m),
        };
        if how == Locked::OwnerDied {
            self.repair();
        }
        held
    }

    /// After a process died holding the lock. `head` and `tail` are each committed by one
    /// store, and everything between them is whole, length-prefixed items; only `count` and
    /// `big_busy`, updated by further stores, may be off by the one item the dead process was
    /// moving. Count again by walking from `head` to `tail`.
    fn repair(&self) {
        let h = &*self.map;
        let head = h.head.load(Ordering::SeqCst);
        let tail = h.tail.load(Ordering::SeqCst);
        let mut pos = head;
        let mut n = 0u64;
        let mut big = false;
        while pos < tail {
            let mut word = [0u8; LEN];
            self.read_ring(pos, &mut word);
            let word = u32::from_le_bytes(word);
            big |= word == BIG;
            pos += if word == BIG { BIG_RECORD as u64 } else { (LEN + word as usize) as u64 };
            n += 1;
        }
        if pos != tail {
            // Cannot happen with the commit order above; if it did, drop what cannot be trusted
            // rather than hand out garbage.
            h.head.store(tail, Ordering::SeqCst);
            n = 0;
            big = false;
        }
        h.count.store(n, Ordering::SeqCst);
        // The overflow file is busy exactly while a large item's record is in the ring.
        h.big_busy.store(u32::from(big), Ordering::SeqCst);
        if !big {
            bump_and_wake(&h.big_seq, &h.big_waiters, 1);
        }
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

/// Gives the encoding buffer back to this thread, unless a large item made it large.
fn keep_scratch(buf: Vec<u8>) {
    if buf.capacity() <= 4 * DEFAULT_CAPACITY {
        SCRATCH.with(|s| *s.borrow_mut() = buf);
    }
}

impl<T> Drop for Queue<T> {
    fn drop(&mut self) {
        self.close();
    }
}
