//! The ring's shared memory: its layout (two sides, each with a lock, an index and a counter,
//! on cache lines of their own), taking the locks, repairing after a dead holder, and copying
//! bytes in and out. The design is in the module docs.

use super::{BIG, BIG_RECORD, LEN, Queue};
use crate::block;
use crate::park::{SPINS, bump_and_wake};
use crate::sync::RawGuard;
use crate::sys::mutex::{Locked, RawMutex};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Assumed size of a cache line (128: adjacent-line prefetchers pair 64-byte lines).
const LINE: usize = 128;

/// A lock alone on its cache line with what its holders cache of the other side: only its side
/// touches it, so an uncontended lock costs no cache miss.
#[repr(C, align(128))]
pub(super) struct LockLine {
    pub(super) lock: RawMutex,
    /// The other side's index and counter as last read by a holder of `lock`, changed only under
    /// it. Both only grow, so these are lower bounds: the ring only looks fuller (to producers)
    /// or emptier (to consumers) than it is, and a holder reads the other side's cache line only
    /// when these say it must wait.
    pub(super) seen_index: AtomicU64,
    /// `gets` for producers (consumers do not use theirs).
    pub(super) seen_done: AtomicU64,
}

/// One side of the ring (producers or consumers), alone on its cache lines: the lock on one, the
/// index and counter (which the other side reads) on the next.
#[repr(C, align(128))]
pub(super) struct Side {
    /// Serializes this side's processes.
    pub(super) lock: LockLine,
    /// `tail` for producers, `head` for consumers: a byte position, changed only under `lock`
    /// and only upwards. The commit of a put or a get.
    pub(super) index: AtomicU64,
    /// Items put (producers) or taken (consumers) so far; raised under `lock` after the commit.
    pub(super) done: AtomicU64,
}

/// Futex words for one kind of sleeper, alone on their cache line: read by the other side after
/// every change, written only when someone sleeps.
#[repr(C, align(128))]
pub(super) struct Sleepers {
    /// Sequence word, bumped after a change that a sleeper may wait for.
    pub(super) seq: AtomicU32,
    pub(super) waiters: AtomicU32,
}

#[repr(C)]
pub(super) struct Header {
    pub(super) prod: Side,
    pub(super) cons: Side,
    /// Set once at creation.
    pub(super) capacity: u64,
    pub(super) maxsize: u64,
    /// Non-zero while the counters may be off after a dead consumer (see the module docs).
    pub(super) dirty: AtomicU32,
    /// Consumers waiting for an item.
    pub(super) not_empty: Sleepers,
    /// Producers waiting for room.
    pub(super) not_full: Sleepers,
    /// Held by a producer of a large item from claiming the overflow file to committing its
    /// record (robust: a producer killed while writing leaves it to the next).
    pub(super) big_lock: RawMutex,
    /// 1 while a committed large item's bytes are in the overflow file. Set under the producer
    /// lock (by the one holder of `big_lock`, while it is 0), cleared under the consumer lock.
    pub(super) big_busy: AtomicU32,
    pub(super) big_seq: AtomicU32,
    pub(super) big_waiters: AtomicU32,
}

const _: () = assert!(
    std::mem::align_of::<LockLine>() == LINE
        && std::mem::align_of::<Side>() == LINE
        && std::mem::align_of::<Sleepers>() == LINE
);

impl<T> Queue<T> {
    /// Takes the producer lock; repairs the counters first (holding the consumer lock too) if a
    /// holder of either lock died. Unlocks when dropped.
    pub(super) fn lock_prod(&self) -> RawGuard<'_> {
        let h = &*self.map;
        let (held, how) = take(&h.prod.lock.lock);
        if how == Locked::OwnerDied || h.dirty.load(Ordering::SeqCst) != 0 {
            // The fixed order: producer lock, then consumer lock.
            let (_cons, _) = take(&h.cons.lock.lock);
            self.repair();
        }
        held
    }

    /// Takes the consumer lock. Unlocks when dropped.
    ///
    /// A consumer that died holding it may have left `gets` and `big_busy` behind (never `head`,
    /// which consumers go by). The repair needs the producer lock, which may not be taken while
    /// holding this one: mark the queue dirty, let go, repair through [`lock_prod`](Self::lock_prod),
    /// and start again. Should this process die in between, the mark makes the next producer
    /// repair.
    pub(super) fn lock_cons(&self) -> RawGuard<'_> {
        let h = &*self.map;
        loop {
            let (held, how) = take(&h.cons.lock.lock);
            if how == Locked::Clean {
                return held;
            }
            h.dirty.store(1, Ordering::SeqCst);
            drop(held);
            drop(self.lock_prod());
        }
    }

    /// Called under the producer lock by a put about to fail with `Full`: if a consumer died
    /// holding the consumer lock and no consumer has come since, `gets` may be one short, so the
    /// queue may look fuller than it is. Takes the consumer lock if it is free now, and repairs
    /// if its holder died; returns whether it did.
    pub(super) fn repair_after_dead_consumer(&self) -> bool {
        let m = &self.map.cons.lock.lock;
        let Ok(Some(how)) = m.try_lock() else { return false };
        // SAFETY: `try_lock` just took it in this thread; the producer lock, taken first, is
        // held by the caller, as the fixed order asks.
        let _cons = unsafe { RawGuard::adopt(m) };
        if how == Locked::OwnerDied {
            self.repair();
        }
        how == Locked::OwnerDied
    }

    /// After a process died holding a lock; both locks are held. `head` and `tail` are each
    /// committed by one store, and everything between them is whole, length-prefixed items;
    /// only the counters and `big_busy`, updated by further stores, may be off by the one item
    /// the dead process was moving. Count again by walking from `head` to `tail`.
    pub(super) fn repair(&self) {
        let h = &*self.map;
        let head = h.cons.index.load(Ordering::SeqCst);
        let tail = h.prod.index.load(Ordering::SeqCst);
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
            h.cons.index.store(tail, Ordering::SeqCst);
            n = 0;
            big = false;
        }
        // `gets` never goes down (`count` relies on it); `puts` is read only under the lock.
        let gets = h.cons.done.load(Ordering::SeqCst);
        h.prod.done.store(gets + n, Ordering::SeqCst);
        // The overflow file is busy exactly while a large item's record is in the ring.
        h.big_busy.store(u32::from(big), Ordering::SeqCst);
        h.dirty.store(0, Ordering::SeqCst);
        if !big {
            bump_and_wake(&h.big_seq, &h.big_waiters, 1);
        }
        // Room may have appeared (the count was one too many).
        bump_and_wake(&h.not_full.seq, &h.not_full.waiters, i32::MAX);
    }

    pub(super) fn ring(&self) -> (*mut u8, u64) {
        let (p, _) = self.map.tail();
        (p, self.map.capacity)
    }

    /// The ring offset of logical position `pos` (the one division of a put or a get; further
    /// offsets come from [`advance`](Self::advance)).
    pub(super) fn offset(&self, pos: u64) -> usize {
        (pos % self.map.capacity) as usize
    }

    /// The ring offset `by` bytes (at most the capacity) after offset `off`.
    pub(super) fn advance(&self, off: usize, by: usize) -> usize {
        let next = off + by;
        if next as u64 >= self.map.capacity { next - self.map.capacity as usize } else { next }
    }

    /// Copies `src` into the ring at offset `off` (below the capacity), wrapping at the end.
    pub(super) fn write_at(&self, off: usize, src: &[u8]) {
        let (ring, cap) = self.ring();
        debug_assert!((off as u64) < cap);
        let first = src.len().min(cap as usize - off);
        // SAFETY: the producer lock is held and the bytes written lie between `tail` and
        // `head + cap`, where no consumer reads; `off + first <= cap` and the rest starts at 0,
        // so both copies stay inside the ring; `src` is local memory.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), ring.add(off), first);
            std::ptr::copy_nonoverlapping(src.as_ptr().add(first), ring, src.len() - first);
        }
    }

    /// Copies from the ring at logical position `pos` into `dst`, wrapping at the end.
    pub(super) fn read_ring(&self, pos: u64, dst: &mut [u8]) {
        self.read_at(self.offset(pos), dst);
    }

    /// When `T` is a byte vector and the record body at offset `body` (`len` bytes) is one block
    /// in postcard's shortest form: the vector, read straight from the ring. Under the consumer
    /// lock; the caller commits.
    pub(super) fn read_block(&self, body: usize, len: usize) -> Option<T> {
        if !block::is_block::<T>() {
            return None;
        }
        let mut prefix = [0u8; 10];
        let prefix = &mut prefix[..len.min(10)];
        self.read_at(body, prefix);
        let (n, bytes) = block::prefix(prefix)?;
        if n + bytes != len {
            return None;
        }
        let mut v = Vec::with_capacity(bytes);
        // SAFETY: `v` has room for `bytes` bytes, all of which the copy writes.
        unsafe {
            self.copy_out(self.advance(body, n), v.as_mut_ptr(), bytes);
            v.set_len(bytes);
        }
        block::from_vec(v).ok()
    }

    /// Copies from the ring at offset `off` (below the capacity) into `dst`, wrapping at the end.
    pub(super) fn read_at(&self, off: usize, dst: &mut [u8]) {
        // SAFETY: `dst` is valid for writes of its length.
        unsafe { self.copy_out(off, dst.as_mut_ptr(), dst.len()) }
    }

    /// Copies `len` bytes from the ring at offset `off` (below the capacity) to `dst`, wrapping
    /// at the end.
    ///
    /// # Safety
    ///
    /// `dst` is valid for writes of `len` bytes (it may be uninitialised) and is not in the ring.
    unsafe fn copy_out(&self, off: usize, dst: *mut u8, len: usize) {
        let (ring, cap) = self.ring();
        debug_assert!((off as u64) < cap);
        let first = len.min(cap as usize - off);
        // SAFETY: the consumer lock is held (`repair` holds both), and the bytes read lie between
        // `head` and `tail`, which producers do not write until `head` has passed them.
        // `off < cap` (asserted by the callers' `% cap`), `off + first <= cap` and the rest
        // starts at 0, so both copies stay inside the ring; `dst` is the caller's memory, valid
        // for `len` bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(ring.add(off), dst, first);
            std::ptr::copy_nonoverlapping(ring, dst.add(first), len - first);
        }
    }
}

/// Takes `m`, spinning briefly on `trylock` first: critical sections here are a few hundred
/// nanoseconds, shorter than sleeping and being woken.
fn take(m: &RawMutex) -> (RawGuard<'_>, Locked) {
    for _ in 0..SPINS {
        if !m.looks_locked()
            && let Ok(Some(how)) = m.try_lock()
        {
            // SAFETY: `try_lock` just took it in this thread.
            return (unsafe { RawGuard::adopt(m) }, how);
        }
        std::hint::spin_loop();
    }
    RawGuard::lock(m)
}
