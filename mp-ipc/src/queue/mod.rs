//! A queue shared by any number of producer and consumer processes (Python's
//! `multiprocessing.Queue`).
//!
//! # Design
//!
//! The items live in a ring buffer in anonymous shared memory. `put` copies the encoded item into
//! the ring before it returns (there is no feeder thread, so joining a producer never waits on
//! unread data).
//!
//! The ring has two robust process-shared mutexes, in the manner of Michael and Scott's two-lock
//! queue: the *producer lock* serializes producers on `tail`, the *consumer lock* serializes
//! consumers on `head`, so a producer and a consumer never wait for the same lock. Each side reads
//! the other's index atomically; as indexes only grow, a stale one only makes the ring look
//! fuller (to a producer) or emptier (to a consumer) than it is. The two sides' fields live on
//! separate cache lines.
//!
//! Every change to the ring is committed by one store under its side's lock (`tail` for a put,
//! `head` for a get): a process `SIGKILL`ed at any point leaves either the item fully in the
//! queue or not at all. At most the item the dead process was moving is lost; nothing is
//! duplicated. The item count (for `maxsize` and [`qsize`](Queue::qsize)) is the number of puts
//! minus the number of gets, each counter raised by a second store under its own lock after the
//! commit. When a lock holder died, those counters (and the overflow file's busy mark, below)
//! may be off by the item it was moving: whoever is handed a dead holder's lock repairs them,
//! holding both locks (always taken producer lock first), by walking the ring from `head` to
//! `tail`. A consumer handed a dead consumer's lock cannot take the producer lock while holding
//! its own, so it marks the queue for repair, lets go, and repairs with both; the mark is checked
//! by every producer, so a repair is never lost, even if that consumer dies too. A dead
//! producer's lag is repaired by the next producer before it puts; a dead consumer's lag (one
//! get too few: the queue looks one fuller) by the next consumer, or by a put that would
//! otherwise fail with `Full`. So `maxsize` is never exceeded; until the repair, `qsize` may be
//! off by that one item.
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
//! A byte vector (`Vec<u8>` or [`Bytes`](crate::Bytes)) is copied into the ring straight from
//! the caller's memory and out of it straight into the vector `get` returns, in postcard's
//! format (a length, then the bytes) but without going through serde byte by byte.
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

mod overflow;
mod ring;

use crate::block;
use crate::error::{RecvError, SendError};
use crate::frame;
use crate::mapping::Mapping;
use crate::park::{Wait, bump_and_wake, spin_until, wait_ready};
use crate::sys;
use crate::sys::mutex::RawMutex;
use overflow::{BIG, BIG_RECORD};
use ring::Header;
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
/// A blocked `get` re-checks whether any producer is left at least this often (a producer
/// killed by a signal cannot wake it; one that closes does).
const LIVENESS_SLICE: Duration = Duration::from_millis(100);

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
                for side in [&raw mut (*p).prod, &raw mut (*p).cons] {
                    RawMutex::init(&raw mut (*side).lock.lock)?;
                    (&raw mut (*side).lock.seen_index).write(AtomicU64::new(0));
                    (&raw mut (*side).lock.seen_done).write(AtomicU64::new(0));
                    (&raw mut (*side).index).write(AtomicU64::new(0));
                    (&raw mut (*side).done).write(AtomicU64::new(0));
                }
                (&raw mut (*p).capacity).write(0);
                (&raw mut (*p).maxsize).write(maxsize as u64);
                (&raw mut (*p).dirty).write(AtomicU32::new(0));
                for sleepers in [&raw mut (*p).not_empty, &raw mut (*p).not_full] {
                    (&raw mut (*sleepers).seq).write(AtomicU32::new(0));
                    (&raw mut (*sleepers).waiters).write(AtomicU32::new(0));
                }
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
        if let Some(bytes) = block::as_block(item) {
            // A byte vector goes into the ring straight from the caller's memory, behind its
            // length word and postcard's length prefix.
            let (varint, n) = block::varint(bytes.len());
            let len = n + bytes.len();
            if self.fits_ring(len) {
                let mut head = [0u8; LEN + 10];
                head[..LEN].copy_from_slice(&(len as u32).to_le_bytes());
                head[LEN..LEN + n].copy_from_slice(&varint[..n]);
                return self.put_record(&[&head[..LEN + n], bytes], wait, || {});
            }
        }
        // Length prefix and encoding in one buffer, reused by this thread.
        let mut buf = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
        buf.clear();
        buf.extend_from_slice(&[0; LEN]);
        let r = match crate::frame::encode_into(item, &mut buf) {
            Ok(()) => self.put_encoded(&mut buf, wait),
            Err(e) => Err(SendError::encoding(e)),
        };
        keep_scratch(buf);
        r
    }

    /// Whether an item of `len` encoded bytes goes in the ring itself (else: the overflow file).
    fn fits_ring(&self, len: usize) -> bool {
        (LEN + len) as u64 <= self.map.capacity && len < BIG as usize
    }

    /// `frame` is a 4-byte placeholder followed by the encoded item.
    fn put_encoded(&self, frame: &mut [u8], wait: Wait) -> Result<(), SendError> {
        let len = frame.len() - LEN;
        if !self.fits_ring(len) {
            return self.put_big(&frame[LEN..], wait);
        }
        frame[..LEN].copy_from_slice(&(len as u32).to_le_bytes());
        self.put_record(&[frame], wait, || {})
    }

    /// Puts one ring record, the concatenation of `parts`: the length word, then the body.
    /// `on_commit` runs under the producer lock just before the commit.
    fn put_record(&self, parts: &[&[u8]], wait: Wait, on_commit: impl Fn()) -> Result<(), SendError> {
        let h = &*self.map;
        let seen = &h.prod.lock;
        let need = parts.iter().map(|p| p.len() as u64).sum::<u64>();
        let fits = |tail: u64, head: u64, puts: u64, gets: u64| {
            h.capacity.saturating_sub(tail.saturating_sub(head)) >= need
                && (h.maxsize == 0 || puts.saturating_sub(gets) < h.maxsize)
        };
        // Outside the lock (while waiting) only a hint, as the four may be read at different
        // moments. Gets before puts, head before tail: what grows meanwhile can only make the
        // ring look fuller.
        let room = || {
            let gets = h.cons.done.load(Ordering::SeqCst);
            let head = h.cons.index.load(Ordering::SeqCst);
            fits(h.prod.index.load(Ordering::SeqCst), head, h.prod.done.load(Ordering::SeqCst), gets)
        };
        loop {
            let held = self.lock_prod();
            // Under the producer lock, `tail` and `puts` are exact; `head` and `gets` may only be
            // stale, which makes the ring look fuller than it is: never too much is put. First
            // with the values last seen, which usually suffice; then with fresh ones.
            let tail = h.prod.index.load(Ordering::Relaxed);
            let puts = h.prod.done.load(Ordering::Relaxed);
            let mut ok = fits(
                tail,
                seen.seen_index.load(Ordering::Relaxed),
                puts,
                seen.seen_done.load(Ordering::Relaxed),
            );
            if !ok {
                // Acquire: the consumers' reads of the space they freed come before our writes.
                let gets = h.cons.done.load(Ordering::SeqCst);
                let head = h.cons.index.load(Ordering::SeqCst);
                seen.seen_done.store(gets, Ordering::Relaxed);
                seen.seen_index.store(head, Ordering::Relaxed);
                ok = fits(tail, head, puts, gets);
                if !ok && wait.expired() && self.repair_after_dead_consumer() {
                    let gets = h.cons.done.load(Ordering::SeqCst);
                    ok = fits(tail, h.cons.index.load(Ordering::SeqCst), puts, gets);
                }
            }
            if ok {
                let mut off = self.offset(tail);
                for part in parts {
                    self.write_at(off, part);
                    off = self.advance(off, part.len());
                }
                on_commit();
                // The commit: until this store, the item is not in the queue.
                h.prod.index.store(tail + need, Ordering::SeqCst);
                // Release is enough: no sleeper waits for `puts` to change (consumers wait for
                // `tail`, and more puts never make room for a producer).
                h.prod.done.store(puts + 1, Ordering::Release);
                drop(held);
                bump_and_wake(&h.not_empty.seq, &h.not_empty.waiters, 1);
                return Ok(());
            }
            drop(held);
            if wait.expired() {
                return Err(SendError::Full);
            }
            // Whatever the wake-up, the loop re-checks under the lock (and the deadline).
            wait_ready(&h.not_full.seq, &h.not_full.waiters, wait.deadline(), room)?;
        }
    }

    fn get_until(&self, wait: Wait) -> Result<T, RecvError> {
        let h = &*self.map;
        let mut producers_gone = false;
        // A byte vector is read straight into its own vector, without this buffer.
        let mut buf = if block::is_block::<T>() {
            Vec::new()
        } else {
            SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()))
        };
        let mut value = None;
        let r = loop {
            let held = self.lock_cons();
            let head = h.cons.index.load(Ordering::Relaxed);
            // `tail` as last seen under this lock (a lower bound), usually enough; else afresh.
            let seen = &h.cons.lock.seen_index;
            let nonempty = seen.load(Ordering::Relaxed) > head || {
                // Acquire: the producer wrote the record before committing `tail`.
                let tail = h.prod.index.load(Ordering::Acquire);
                seen.store(tail, Ordering::Relaxed);
                tail > head
            };
            if nonempty {
                let off = self.offset(head);
                let mut word = [0u8; LEN];
                self.read_at(off, &mut word);
                let word = u32::from_le_bytes(word);
                let taken = if word == BIG {
                    match self.read_big(head, &mut buf) {
                        Ok(()) => BIG_RECORD,
                        // Left in the queue: the next `get` tries again.
                        Err(e) => break Err(RecvError::Io(e)),
                    }
                } else {
                    let body = self.advance(off, LEN);
                    value = self.read_block(body, word as usize);
                    if value.is_none() {
                        buf.clear();
                        buf.resize(word as usize, 0);
                        self.read_at(body, &mut buf);
                    }
                    LEN + word as usize
                };
                // The commit: from this store on, the item is out of the queue. Release: the
                // reads of the item come before; the fence below orders both stores before the
                // look at sleeping producers (the wake-up protocol's store, then load), with one
                // barrier instead of one per store.
                h.cons.index.store(head + taken as u64, Ordering::Release);
                let gets = h.cons.done.load(Ordering::Relaxed);
                h.cons.done.store(gets + 1, Ordering::Release);
                if word == BIG {
                    // Only now that it is out: empty the file, then let the next large item in.
                    let _ = sys::mman::ftruncate(self.overflow.as_fd(), 0);
                    h.big_busy.store(0, Ordering::SeqCst);
                }
                drop(held);
                std::sync::atomic::fence(Ordering::SeqCst);
                if word == BIG {
                    bump_and_wake(&h.big_seq, &h.big_waiters, 1);
                }
                bump_and_wake(&h.not_full.seq, &h.not_full.waiters, 1);
                break value.map_or_else(|| frame::decode(&buf), Ok);
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

    /// The queue was found empty: decides whether to give up (`Some(error)`) or wait and let
    /// the caller look again (`None`).
    fn wait_not_empty(&self, wait: Wait, producers_gone: &mut bool) -> io::Result<Option<RecvError>> {
        let h = &*self.map;
        let ready = || h.prod.index.load(Ordering::SeqCst) > h.cons.index.load(Ordering::SeqCst);
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
        wait_ready(&h.not_empty.seq, &h.not_empty.waiters, Some(until), ready)?;
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

    /// Items in the queue now: exact when no put or get is under way (one under way may be
    /// counted as done or not yet), unlike Python's estimate.
    pub fn qsize(&self) -> usize {
        self.count() as usize
    }

    /// Puts minus gets. Gets are read first: both only grow, so a put or get meanwhile can only
    /// make the result larger (under the producer lock: never smaller than the items in the ring).
    fn count(&self) -> u64 {
        let h = &*self.map;
        let gets = h.cons.done.load(Ordering::SeqCst);
        h.prod.done.load(Ordering::SeqCst).saturating_sub(gets)
    }

    /// Whether the queue holds no item now.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether the queue holds `maxsize` items now (always false for an unbounded queue; a put
    /// may still wait for bytes, see the module docs).
    pub fn full(&self) -> bool {
        let max = self.map.maxsize;
        max != 0 && self.count() >= max
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
        bump_and_wake(&h.not_empty.seq, &h.not_empty.waiters, i32::MAX);
    }
}

/// Gives the encoding buffer back to this thread, unless a large item made it large (or it is
/// an empty one that a byte vector's `get` did not need).
fn keep_scratch(buf: Vec<u8>) {
    if buf.capacity() != 0 && buf.capacity() <= 4 * DEFAULT_CAPACITY {
        SCRATCH.with(|s| *s.borrow_mut() = buf);
    }
}

impl<T> Drop for Queue<T> {
    fn drop(&mut self) {
        self.close();
    }
}
