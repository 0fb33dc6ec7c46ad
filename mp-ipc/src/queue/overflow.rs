//! Items larger than the ring: the overflow file (see "Items larger than the ring" in the
//! module docs). The ring holds a 12-byte record for such an item, in its place in the order;
//! the bytes wait in a memory file every handle shares, one large item at a time.

use super::{LEN, LIVENESS_SLICE, Queue};
use crate::error::SendError;
use crate::park::{Wait, wait_ready};
use crate::sync::RawGuard;
use crate::sys;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// A ring record's length word for an item in the overflow file; 8 bytes of its length follow.
pub(super) const BIG: u32 = u32::MAX;
/// The bytes a large item's record takes in the ring.
pub(super) const BIG_RECORD: usize = LEN + 8;
/// The largest item a queue accepts.
const MAX_ITEM: u64 = 1 << 40;

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// Puts an item larger than the ring through the overflow file (see the module docs).
    pub(super) fn put_big(&self, item: &[u8], wait: Wait) -> Result<(), SendError> {
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
            // One after the other, never both at once in this order (see `lock_cons`).
            drop(self.lock_prod());
            drop(self.lock_cons());
        }
        let fd = self.overflow.as_fd();
        sys::mman::ftruncate(fd, item.len())?;
        let mut done = 0;
        while done < item.len() {
            done += sys::fd::pwrite(fd, &item[done..], done)?;
        }
        let mut record = [0u8; BIG_RECORD];
        record[..LEN].copy_from_slice(&BIG.to_le_bytes());
        record[LEN..].copy_from_slice(&(item.len() as u64).to_le_bytes());
        let r = self.put_record(&[&record], wait, || {
            h.big_busy.store(1, Ordering::SeqCst);
        });
        if r.is_err() {
            // Not committed (no room in time): give the memory back now.
            let _ = sys::mman::ftruncate(fd, 0);
        }
        r
    }

    /// Reads the large item whose record is at `head` from the overflow file into `buf`. The
    /// consumer lock is held, and the item stays in the queue until the caller commits.
    pub(super) fn read_big(&self, head: u64, buf: &mut Vec<u8>) -> io::Result<()> {
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
}
